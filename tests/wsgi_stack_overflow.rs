//! A request whose handler overflows its green thread's stack must not hang the
//! server (it used to: with `max_size(2)`, two `/deep` requests froze it and
//! SIGTERM no longer ended it). The process now aborts at once with a clear
//! message, which closes every connection; a supervisor restarts it.
//!
//! The server runs in a child process: this test binary again, selected by an
//! environment variable.

use eventlet_wsgi::{self as wsgi, Body, Environ, ServerOptions, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "EVENTLET_TEST_WSGI_OVERFLOW_CHILD";

fn recurse(depth: usize) -> usize {
    let buf = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return buf[0] as usize;
    }
    recurse(depth - 1) + std::hint::black_box(buf[7]) as usize
}

fn app(env: &mut Environ, start_response: &mut StartResponse) -> Body {
    let n = if &env["PATH_INFO"] == "/deep" {
        recurse(1_000_000)
    } else {
        1
    };
    start_response.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from([format!("{n}\n")])
}

/// The server side; does nothing in a normal test run.
#[test]
fn wsgi_overflow_child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let port = match listener.local_addr().unwrap() {
        eventlet::net::Addr::Inet(a) => a.port(),
        other => panic!("{other}"),
    };
    println!("PORT {port}");
    std::io::stdout().flush().unwrap();
    let _ = wsgi::server_with(listener, app, ServerOptions::new().max_size(2));
}

fn get(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s
}

#[test]
fn deep_request_with_max_size_2_never_hangs_the_server() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["wsgi_overflow_child", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .env_remove("EVENTLET_STACK_SIZE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("child exited before its port").unwrap();
        if let Some(p) = line.strip_prefix("PORT ") {
            break p.parse().unwrap();
        }
    };
    // A healthy request first: the server works.
    let mut ok = get(port, "/");
    let mut first = [0u8; 15];
    ok.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200 OK");

    let mut deep: Vec<TcpStream> = (0..2).map(|_| get(port, "/deep")).collect();
    // Every connection ends (EOF or reset), none hangs until the read timeout.
    let start = Instant::now();
    for s in deep.iter_mut().chain(std::iter::once(&mut ok)) {
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "connection not closed: {e}"
            ),
        }
    }
    assert!(start.elapsed() < Duration::from_secs(50));
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server process hung after a stack overflow");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = err_reader.join().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}: {stderr}");
    let kib = eventlet::config::DEFAULT_STACK_SIZE / 1024;
    assert!(
        stderr.contains(&format!("has overflowed its stack (stack size {kib} KiB)")),
        "{stderr}"
    );
    assert!(stderr.contains("EVENTLET_STACK_SIZE"), "{stderr}");
}
