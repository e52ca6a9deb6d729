//! Stack high-water marks of ordinary crates run in a green thread: the
//! figures behind the default stack size (`eventlet::config`). Each workload
//! runs in a `may` coroutine with an odd stack size, which makes `may` fill the
//! whole stack with a sentinel and print the used size when it ends; the test
//! runs itself as a child process to read that line from stdout.
//!
//! `cargo test --test stack_usage -- --nocapture` prints the table; run it in a
//! debug build (the default) — release builds need far less.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

const CHILD: &str = "EVENTLET_TEST_STACK_USAGE_CHILD";
/// 1 MiB + 1 word: odd, so the whole stack is tracked.
const TRACKED_WORDS: usize = (1 << 20) / 8 + 1;

fn measured(name: &str, f: impl FnOnce() + Send + 'static) {
    let b = may::coroutine::Builder::new()
        .name(name.to_string())
        .stack_size(TRACKED_WORDS);
    // SAFETY: the closures below touch no thread-local across a blocking call
    // and the 1 MiB stack is far larger than any of them needs.
    let h = unsafe { b.spawn(f) }.unwrap();
    h.join().unwrap();
}

fn http_client() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
        )
        .unwrap();
    });
    measured("ureq GET (plain HTTP)", move || {
        let body = ureq::get(&format!("http://127.0.0.1:{port}/x"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert_eq!(body, "hello");
    });
    t.join().unwrap();
}

fn json() {
    measured("serde_json parse + print", || {
        let mut doc = String::from(r#"{"leaf": [1, 2.5, "x", null, true]}"#);
        for i in 0..32 {
            doc =
                format!(r#"{{"level": {i}, "name": "n{i}", "tags": ["a", "b"], "child": {doc}}}"#);
        }
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let out = serde_json::to_string_pretty(&v).unwrap();
        assert!(out.contains("leaf"));
    });
}

fn regex() {
    measured("regex compile + match", || {
        let re = regex::Regex::new(
            r"(?i)^(?P<method>GET|POST|PUT)\s+(?P<path>/[\w./%-]*)(\?(?P<q>[^ #]*))?\s+HTTP/(?P<v>\d\.\d)$",
        )
        .unwrap();
        let c = re.captures("get /a/b.html?x=1&y=%20 HTTP/1.1").unwrap();
        assert_eq!(&c["path"], "/a/b.html");
        let words = regex::Regex::new(r"\b\p{L}{3,}\b").unwrap();
        assert_eq!(words.find_iter("héllo wörld, ab cde").count(), 3);
    });
}

fn tls_handshake() {
    use eventlet::tls::{TlsClientConfig, TlsServerConfig};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let server_cfg = TlsServerConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let client_cfg = TlsClientConfig::with_root_pem(cert_pem.as_bytes()).unwrap();
    let listener =
        eventlet::wrap_ssl(eventlet::listen("127.0.0.1:0").unwrap(), server_cfg).unwrap();
    let addr = match listener.local_addr().unwrap() {
        eventlet::net::Addr::Inet(a) => a,
        other => panic!("{other}"),
    };
    let server = eventlet::spawn(move || {
        let b = may::coroutine::Builder::new()
            .name("rustls handshake, server side".to_string())
            .stack_size(TRACKED_WORDS);
        // SAFETY: as in `measured`.
        let h = unsafe {
            b.spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).unwrap();
                s.write_all(&buf).unwrap();
            })
        }
        .unwrap();
        h.join().unwrap();
    });
    measured("rustls handshake, client side", move || {
        let mut s = eventlet::tls::connect(addr, "localhost", &client_cfg).unwrap();
        s.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    });
    server.wait().unwrap();
}

/// The child: run every workload; `may` prints one line per coroutine.
#[test]
fn stack_usage_child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    eventlet::spawn(|| ()).wait().unwrap();
    http_client();
    json();
    regex();
    tls_handshake();
    // may prints a coroutine's line on its worker once the coroutine has
    // yielded for the last time, which is after `join` has already woken us:
    // give the last one time to print before the process exits (it takes
    // microseconds; a second covers a preempted worker on a loaded machine).
    std::thread::sleep(std::time::Duration::from_secs(1));
}

#[test]
fn ordinary_crates_fit_the_default_stack() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["stack_usage_child", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let mut marks = Vec::new();
    for line in BufReader::new(&out.stdout[..]).lines() {
        let line = line.unwrap();
        // coroutine name = Some("x"), stack size = N,  used size = M
        let Some(rest) = line.strip_prefix("coroutine name = Some(\"") else {
            continue;
        };
        let (name, rest) = rest.split_once("\")").unwrap();
        let used: usize = rest
            .rsplit("used size = ")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        marks.push((name.to_string(), used * 8));
    }
    assert_eq!(marks.len(), 5, "{}", String::from_utf8_lossy(&out.stdout));
    let default = eventlet::config::DEFAULT_STACK_SIZE;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    eprintln!(
        "stack high-water marks ({profile} build), default stack {} KiB:",
        default / 1024
    );
    for (name, bytes) in &marks {
        eprintln!("  {name:<32} {:>6.1} KiB", *bytes as f64 / 1024.0);
    }
    for (name, bytes) in &marks {
        // A quarter of the stack stays free for the caller's own frames.
        assert!(
            bytes * 4 <= default * 3,
            "{name} used {bytes} bytes of a {default}-byte default stack"
        );
    }
}
