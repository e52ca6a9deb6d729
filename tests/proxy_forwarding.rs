//! Running behind proxies, over real sockets: trusted forwarding headers
//! (`X-Forwarded-*`, RFC 7239 `Forwarded`) and the PROXY protocol (v1, v2,
//! before TLS), with the default of trusting nobody.

mod common;

use common::*;
use eventlet::tls::{TlsClientConfig, TlsServerConfig};
use eventlet_wsgi::proxy::TrustedProxies;
use eventlet_wsgi::{Body, Environ, ServerOptions, StartResponse};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Answers `REMOTE_ADDR|REMOTE_PORT|wsgi.url_scheme|HTTPS|HTTP_HOST`.
fn who(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let line = format!(
        "{}|{}|{}|{}|{}",
        env.get("REMOTE_ADDR").unwrap_or("-"),
        env.get("REMOTE_PORT").unwrap_or("-"),
        env.get("wsgi.url_scheme").unwrap_or("-"),
        env.get("HTTPS").unwrap_or("-"),
        env.get("HTTP_HOST").unwrap_or("-"),
    );
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(line)
}

fn trusted(list: &str) -> ServerOptions {
    default_opts().forwarded_allow_ips(TrustedProxies::parse(list).unwrap())
}

fn get(srv: &TestServer, headers: &str) -> String {
    let req = format!("GET / HTTP/1.1\r\nHost: origin.test\r\n{headers}Connection: close\r\n\r\n");
    let r = request(srv, req.as_bytes()).expect("a response");
    assert_eq!(r.status(), 200, "{headers:?}");
    r.body_str()
}

/// The access line is written after the response: wait for it (10 s at most).
fn log_has(srv: &TestServer, prefix: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if srv.log.text().lines().any(|l| l.starts_with(prefix)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn fields(body: &str) -> Vec<String> {
    body.split('|').map(str::to_string).collect()
}

#[test]
fn nobody_is_trusted_by_default() {
    let srv = spawn_server(who, default_opts());
    let body = get(
        &srv,
        "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nForwarded: for=198.51.100.1;proto=https\r\n",
    );
    let f = fields(&body);
    assert_eq!(f[0], "127.0.0.1");
    assert_ne!(f[1], "");
    assert_eq!(&f[2..], ["http", "-", "origin.test"]);
}

#[test]
fn untrusted_peer_headers_are_ignored() {
    let srv = spawn_server(who, trusted("10.0.0.0/8, ::1, unix"));
    let f = fields(&get(
        &srv,
        "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n",
    ));
    assert_eq!((f[0].as_str(), f[2].as_str()), ("127.0.0.1", "http"));
}

#[test]
fn trusted_x_forwarded_headers() {
    let srv = spawn_server(who, trusted("127.0.0.0/8, 10.0.0.0/8"));
    // The rightmost untrusted hop is the client; the leftmost was written by it.
    let f = fields(&get(
        &srv,
        "X-Forwarded-For: 198.51.100.66, 203.0.113.9, 10.1.2.3\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\n",
    ));
    assert_eq!(f, ["203.0.113.9", "", "https", "on", "www.example.com"]);
    // Two header lines join as one list.
    let f = fields(&get(
        &srv,
        "X-Forwarded-For: 198.51.100.66\r\nX-Forwarded-For: 203.0.113.10\r\n",
    ));
    assert_eq!(f[0], "203.0.113.10");
    // Access log: the client, not the proxy or the chain.
    assert!(log_has(&srv, "203.0.113.9 - - ["), "{}", srv.log.text());
    assert!(log_has(&srv, "203.0.113.10 - - ["), "{}", srv.log.text());
}

#[test]
fn trusted_rfc7239_forwarded() {
    let srv = spawn_server(who, trusted("127.0.0.1"));
    let f = fields(&get(
        &srv,
        "Forwarded: for=\"[2001:db8::17]:4711\";proto=https;host=shop.example, for=127.0.0.1\r\nX-Forwarded-For: 192.0.2.200\r\n",
    ));
    assert_eq!(f, ["2001:db8::17", "4711", "https", "on", "shop.example"]);
}

#[test]
fn malformed_values_never_break_a_request() {
    let srv = spawn_server(who, trusted("127.0.0.1"));
    for h in [
        "X-Forwarded-For: not an address\r\n",
        "X-Forwarded-For: ,,,\r\n",
        "X-Forwarded-For: 999.1.1.1\r\n",
        "X-Forwarded-Proto: gopher\r\n",
        "X-Forwarded-Host: a b/c\r\n",
        "Forwarded: for=\r\n",
        "Forwarded: for=\"unterminated\r\n",
        "Forwarded: ;;;;\r\n",
        "Forwarded: for=unknown;proto=https\r\n",
    ] {
        let f = fields(&get(&srv, h));
        assert_eq!(f[0], "127.0.0.1", "{h:?}");
        assert_eq!(f[4], "origin.test", "{h:?}");
    }
    // `unknown` still carries the scheme.
    let f = fields(&get(&srv, "Forwarded: for=unknown;proto=https\r\n"));
    assert_eq!(f[2], "https");
}

#[test]
fn https_listener_downgraded_by_trusted_proto_http() {
    let srv = spawn_server(
        who,
        trusted("127.0.0.1").environ([("HTTPS", "on"), ("wsgi.url_scheme", "https")]),
    );
    let f = fields(&get(&srv, "X-Forwarded-Proto: http\r\n"));
    assert_eq!((f[2].as_str(), f[3].as_str()), ("http", "-"));
}

fn unix_server(opts: ServerOptions) -> (TestServer, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "evwsgi-proxy-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let listener = eventlet::listen(format!("unix:{}", path.display())).unwrap();
    // spawn_on wants an inet address for `connect`; these tests connect by path.
    let log = SharedLog::default();
    let server = eventlet_wsgi::Server::new(
        listener,
        who,
        opts.handle_signals(false)
            .log(eventlet_wsgi::LogSink::writer(log.clone())),
    );
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());
    (
        TestServer {
            addr: "127.0.0.1:9".parse().unwrap(),
            handle,
            log,
            running: Some(running),
        },
        path,
    )
}

fn unix_get(path: &std::path::Path, headers: &str) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: h\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let r = read_http(&mut BufReader::new(s)).expect("response");
    r.body_str()
}

#[test]
fn unix_peers_trusted_only_by_the_switch() {
    let h = "X-Forwarded-For: 203.0.113.5\r\nX-Forwarded-Proto: https\r\n";
    let (mut srv, path) = unix_server(trusted("127.0.0.1"));
    assert_eq!(fields(&unix_get(&path, h))[0], "unix");
    srv.stop().unwrap();
    let _ = std::fs::remove_file(&path);
    let (mut srv, path) = unix_server(trusted("unix"));
    let f = fields(&unix_get(&path, h));
    assert_eq!((f[0].as_str(), f[2].as_str()), ("203.0.113.5", "https"));
    srv.stop().unwrap();
    let _ = std::fs::remove_file(&path);
}

// ===== PROXY protocol =====

fn pp_server(list: &str) -> TestServer {
    spawn_server(
        who,
        trusted(list)
            .proxy_protocol(true)
            .head_timeout(Duration::from_secs(2)),
    )
}

fn v2_tcp4(src: [u8; 4], sport: u16, local: bool) -> Vec<u8> {
    let mut v = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v.push(if local { 0x20 } else { 0x21 });
    v.push(0x11);
    v.extend_from_slice(&12u16.to_be_bytes());
    v.extend_from_slice(&src);
    v.extend_from_slice(&[127, 0, 0, 1]);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&8080u16.to_be_bytes());
    v
}

/// Send `prefix`, then `n` keep-alive requests; the bodies answered.
fn pp_requests(srv: &TestServer, prefix: &[u8], n: usize) -> Vec<String> {
    let mut s = srv.connect();
    s.write_all(prefix).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut out = Vec::new();
    for _ in 0..n {
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        match read_http(&mut r) {
            Ok(resp) => out.push(resp.body_str()),
            Err(_) => break,
        }
    }
    out
}

#[test]
fn proxy_v1_address_persists_across_keepalive() {
    let srv = pp_server("127.0.0.1");
    let got = pp_requests(&srv, b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 8080\r\n", 3);
    assert_eq!(got.len(), 3);
    for b in &got {
        assert_eq!(
            &fields(b)[..2],
            ["192.0.2.10", "40000"],
            "gunicorn#899: every request"
        );
    }
    let got = pp_requests(&srv, b"PROXY TCP6 2001:db8::5 ::1 1234 8080\r\n", 2);
    assert_eq!(got.len(), 2);
    assert_eq!(&fields(&got[1])[..2], ["2001:db8::5", "1234"]);
    // UNKNOWN keeps the socket's address.
    let got = pp_requests(&srv, b"PROXY UNKNOWN\r\n", 1);
    assert_eq!(fields(&got[0])[0], "127.0.0.1");
}

#[test]
fn proxy_v2_proxy_and_local() {
    let srv = pp_server("127.0.0.1");
    let got = pp_requests(&srv, &v2_tcp4([198, 51, 100, 7], 5555, false), 3);
    assert_eq!(got.len(), 3);
    for b in &got {
        assert_eq!(&fields(b)[..2], ["198.51.100.7", "5555"]);
    }
    let got = pp_requests(&srv, &v2_tcp4([198, 51, 100, 7], 5555, true), 1);
    assert_eq!(
        fields(&got[0])[0],
        "127.0.0.1",
        "LOCAL keeps the socket address"
    );
    // In the log too.
    assert!(log_has(&srv, "198.51.100.7 - - ["), "{}", srv.log.text());
}

/// The connection is closed without an HTTP answer.
fn refused(srv: &TestServer, prefix: &[u8]) {
    let mut s = srv.connect();
    let _ = s.write_all(prefix);
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        out.is_empty(),
        "{:?} answered {:?}",
        String::from_utf8_lossy(prefix),
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn proxy_bad_or_missing_header_closes() {
    let srv = pp_server("127.0.0.1");
    refused(&srv, b"");
    refused(&srv, b"PROXY TCP4 192.0.2.10 127.0.0.1 40000\r\n");
    refused(&srv, b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 8080\n");
    refused(&srv, b"PROXY TCP9 192.0.2.10 127.0.0.1 1 2\r\n");
    let mut bad = v2_tcp4([1, 2, 3, 4], 1, false);
    bad[12] = 0x31; // version 3
    refused(&srv, &bad);
    // The server still works.
    assert_eq!(pp_requests(&srv, b"PROXY UNKNOWN\r\n", 1).len(), 1);
}

#[test]
fn proxy_header_from_untrusted_peer_closes() {
    let srv = pp_server("10.0.0.0/8");
    refused(&srv, b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 8080\r\n");
}

#[test]
fn proxy_header_under_head_deadline() {
    let srv = pp_server("127.0.0.1");
    // Half a header, then silence: closed at head_timeout (2 s), no answer.
    let mut s = srv.connect();
    s.write_all(b"PROXY TCP4 192.0").unwrap();
    let t = Instant::now();
    assert!(closed_by_server(&mut s));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(9),
        "{took:?}"
    );
    // Nothing at all: the same.
    let mut s = srv.connect();
    assert!(closed_by_server(&mut s));
}

#[test]
fn proxy_header_before_tls() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let server_cfg = TlsServerConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let client_cfg = TlsClientConfig::with_root_pem(cert_pem.as_bytes()).unwrap();
    let listener =
        eventlet::wrap_ssl(eventlet::listen("127.0.0.1:0").unwrap(), server_cfg).unwrap();
    let srv = spawn_on(listener, who, trusted("127.0.0.1").proxy_protocol(true));
    for prefix in [
        b"PROXY TCP4 192.0.2.77 127.0.0.1 6000 443\r\n".to_vec(),
        v2_tcp4([192, 0, 2, 77], 6000, false),
    ] {
        let mut plain = eventlet::connect(srv.addr).unwrap();
        plain.write_all(&prefix).unwrap();
        let mut s = eventlet::tls::wrap_ssl_client(plain, "localhost", &client_cfg).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.ends_with("192.0.2.77|6000|https|on|h"), "{text}");
    }
    drop(TcpStream::connect(srv.addr));
}
