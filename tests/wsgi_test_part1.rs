//! eventlet's `tests/wsgi_test.py`, first half (`test_001_server` through
//! `test_032_wsgi_input_as_iterable`), ported test by test over real sockets.
//! The TLS tests of that range live in `wsgi_tls.rs`.
//!
//! Each test names the eventlet test it ports. "Adapted" tests say which
//! documented decision (the wsgi brief, or the inventory's §5) changed an
//! assertion; eventlet tests that cannot apply have a comment where they
//! would be.

mod common;

use common::*;
use eventlet_wsgi::{Body, Chunk, Environ, Keepalive, ServerOptions, StartResponse};
use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ===== fixtures (eventlet wsgi_test.py §3.0) =====

/// eventlet's `hello_world`. eventlet compares `PATH_INFO` with `'notexist'`
/// (no slash), which can never match; the slash is what the fixture means.
fn hello_world(env: &mut Environ, sr: &mut StartResponse) -> Body {
    if env.get("PATH_INFO") == Some("/notexist") {
        sr.start("404 Not Found", [("Content-type", "text/plain")]);
        return Body::from(["not found"]);
    }
    sr.start("200 OK", [("Content-type", "text/plain")]);
    Body::from(["hello world"])
}

/// eventlet's `chunked_app`: a generator, so the length is unknown.
fn chunked_app(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-type", "text/plain")]);
    Body::from_iter(["this", "is", "chunked"])
}

/// eventlet's `big_chunks`: ten 8 KiB pieces from a generator.
fn big_chunks(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-type", "text/plain")]);
    Body::from_iter((0..10).map(|_| vec![b'a'; 8192]))
}

/// eventlet's `use_write`: the legacy write callable, with and without a
/// Content-Length, and an empty returned iterable.
fn use_write(env: &mut Environ, sr: &mut StartResponse) -> Body {
    match env.get("PATH_INFO") {
        Some("/a") => {
            sr.start(
                "200 OK",
                [("Content-type", "text/plain"), ("Content-Length", "5")],
            );
            sr.write(b"abcde").expect("write callable");
        }
        Some("/b") => {
            sr.start("200 OK", [("Content-type", "text/plain")]);
            sr.write(b"abcde").expect("write callable");
        }
        _ => {}
    }
    Body::from(Vec::<Vec<u8>>::new())
}

/// eventlet's `chunked_post`: `/a` reads all, `/b` reads 4096 at a time,
/// `/c` one byte at a time; the pieces are returned as a list.
fn chunked_post(env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-type", "text/plain")]);
    let step = match env.get("PATH_INFO") {
        Some("/a") => return Body::from(vec![env.input().read_all().expect("read()")]),
        Some("/b") => 4096,
        Some("/c") => 1,
        _ => return Body::empty(),
    };
    let mut pieces = Vec::new();
    loop {
        let piece = env.input().read_n(step).expect("read(n)");
        if piece.is_empty() {
            break;
        }
        pieces.push(piece);
    }
    Body::from(pieces)
}

fn opts() -> ServerOptions {
    default_opts().debug(true)
}

// ===== client helpers (eventlet wsgi_test.py §3.0) =====

/// eventlet's `send_expect_close`: the server may close before everything
/// was sent; a broken pipe or reset is expected then.
fn send_expect_close(s: &mut TcpStream, buf: &[u8]) {
    if let Err(e) = s.write_all(buf) {
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "unexpected write error {e}"
        );
    }
}

fn reader(s: &TcpStream) -> BufReader<TcpStream> {
    BufReader::new(s.try_clone().expect("clone"))
}

/// One header block (status line first), without the final empty line.
fn read_header_block<R: BufRead>(r: &mut R) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).expect("read header line");
        assert!(n > 0, "connection closed inside a header block: {lines:?}");
        if line == b"\r\n" {
            return lines;
        }
        let text = String::from_utf8_lossy(&line);
        lines.push(text.trim_end_matches(['\r', '\n']).to_string());
    }
}

/// `Name: value` pairs of a header block (status line skipped).
fn header_pairs(block: &[String]) -> Vec<(String, String)> {
    block[1..]
        .iter()
        .map(|l| {
            let (k, v) = l.split_once(": ").expect("header line");
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn header<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// eventlet's `chunkify`.
fn chunkify(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The access-log lines of a stopped server (lines naming a request).
fn access_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains(" HTTP/1.")).collect()
}

// ===== TestHttpd =====

// eventlet: test_001_server
#[test]
fn http10_request_is_answered_and_connection_closed() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    // recvall returns only once the server closed the connection.
    let result = recvall(&mut s);
    assert!(result.starts_with(b"HTTP"), "{result:?}");
    assert!(result.ends_with(b"hello world"), "{result:?}");
}

// eventlet: test_002_keepalive
#[test]
fn http11_connection_serves_two_requests() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let resp = read_http(&mut r).expect("response on the kept-alive connection");
        assert_eq!(resp.body, b"hello world");
    }
}

// eventlet: test_004_close_keepalive
#[test]
fn connection_close_request_is_answered_then_connection_closed() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result1 = read_http(&mut r).unwrap();
    assert_eq!(result1.status_line, "HTTP/1.1 200 OK");
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result2 = read_http(&mut r).unwrap();
    assert_eq!(result2.status_line, "HTTP/1.1 200 OK");
    assert_eq!(result2.header("connection"), Some("close"));
    // The write itself may already fail: the server has closed.
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(read_http(&mut r).is_err(), "a third request was answered");
}

// eventlet: test_006_reject_long_urls
#[test]
fn overlong_request_line_is_rejected_with_414() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let path = vec!["path"; 3000].join("/");
    let request = format!("GET /{path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    send_expect_close(&mut s, request.as_bytes());
    // eventlet tolerates an empty answer (a Windows quirk); the server
    // half-closes and drains, so the status must arrive here.
    let mut line = String::new();
    reader(&s).read_line(&mut line).unwrap();
    assert_eq!(line.split(' ').nth(1), Some("414"), "{line:?}");
}

/// Python's `parse_qs(body).get('a', [1])[0]`, enough for `a=a`.
fn query_value<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

// eventlet: test_007_get_arg
#[test]
fn body_read_stops_at_content_length() {
    let app = |env: &mut Environ, sr: &mut StartResponse| {
        let body = String::from_utf8(env.input().read_all().unwrap()).unwrap();
        let a = query_value(&body, "a").unwrap_or("1").to_string();
        sr.start("200 OK", [("Content-type", "text/plain")]);
        Body::from(vec![format!("a is {a}, body is {body}")])
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.0\r\nHost: localhost\r\nContent-Length: 3\r\n\r\na=a")
        .unwrap();
    // Junk after the body must not be read as part of it.
    s.write_all(b"01234567890123456789").unwrap();
    let result = read_http(&mut reader(&s)).unwrap();
    assert_eq!(result.body_str(), "a is a, body is a=a");
}

// eventlet: test_008_correctresponse
#[test]
fn response_state_is_reset_between_requests() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result_200 = read_http(&mut r).unwrap();
    s.write_all(b"GET /notexist HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result_404 = read_http(&mut r).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result_test = read_http(&mut r).unwrap();
    // eventlet's fixture never answers 404 (see `hello_world`); with the
    // fixed fixture the middle response really differs.
    assert_eq!(result_404.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(result_200.status_line, result_test.status_line);
    assert_eq!(result_test.body, b"hello world");
}

// eventlet: test_009_chunked_response
#[test]
fn generator_body_is_chunked_for_http11() {
    let srv = spawn_server(chunked_app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(contains(&recvall(&mut s), b"Transfer-Encoding: chunked"));
}

// eventlet: test_010_no_chunked_http_1_0
#[test]
fn generator_body_is_not_chunked_for_http10() {
    let srv = spawn_server(chunked_app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result = recvall(&mut s);
    assert!(!contains(&result, b"Transfer-Encoding: chunked"));
    assert!(result.ends_with(b"\r\n\r\nthisischunked"), "{result:?}");
}

// eventlet: test_011_multiple_chunks
#[test]
fn large_generator_body_is_sent_as_several_chunks_and_terminated() {
    let srv = spawn_server(big_chunks, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = reader(&s);
    let headers = read_header_block(&mut r);
    assert!(headers.iter().any(|h| h == "Transfer-Encoding: chunked"));
    let mut chunks = 0;
    loop {
        let mut size = String::new();
        r.read_line(&mut size).unwrap();
        let len = usize::from_str_radix(size.trim_end(), 16).expect("chunk size");
        if len == 0 {
            break;
        }
        chunks += 1;
        let mut data = vec![0; len + 2];
        r.read_exact(&mut data).unwrap();
        assert!(data[..len].iter().all(|&b| b == b'a'));
        assert_eq!(&data[len..], b"\r\n");
    }
    assert!(chunks > 1, "{chunks} chunk(s)");
    // After the last-chunk line: exactly the closing CRLF, then EOF.
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"\r\n");
}

// eventlet: test_partial_writes_are_handled (issue #295), adapted. eventlet
// swaps the accepted socket's send() for one that sends a single byte; our
// Listener has no hook to wrap accepted sockets. This keeps the test's app
// (a lower-case `Content-length` header, then a generator; the header value
// is a string, Python's int has no Rust counterpart)...
#[test]
fn sized_generator_body_arrives_whole() {
    let app = |_env: &mut Environ, sr: &mut StartResponse| {
        sr.start("200 OK", [("Content-length", "3")]);
        Body::from_iter(["asd"])
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result = read_http(&mut reader(&s)).unwrap();
    assert_eq!(result.body, b"asd");
}

/// The byte at `i` of `large_body_app`'s body.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

const LARGE_BODY: usize = 4 << 20;

// ...and this one forces real partial writes: a 4 MiB body to a client that
// reads one byte at a time, then stalls, so the server's socket buffer fills
// and its non-blocking writes come back short. No byte may be lost.
#[test]
fn large_body_to_a_slow_reader_loses_no_bytes() {
    let app = |_env: &mut Environ, sr: &mut StartResponse| {
        sr.start("200 OK", &[("Content-length", LARGE_BODY.to_string())]);
        let piece = 8191;
        Body::from_iter((0..LARGE_BODY).step_by(piece).map(move |start| {
            (start..(start + piece).min(LARGE_BODY))
                .map(pattern)
                .collect::<Vec<u8>>()
        }))
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "EOF in the head");
        head.push(byte[0]);
    }
    assert!(contains(
        &head,
        format!("Content-Length: {LARGE_BODY}").as_bytes()
    ));
    let mut got = 0usize;
    // One byte per read for the first 64 KiB...
    while got < 64 * 1024 {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "EOF at {got}");
        assert_eq!(byte[0], pattern(got), "byte {got}");
        got += 1;
    }
    // ...then let the server run into a full socket buffer...
    std::thread::sleep(Duration::from_millis(200));
    // ...then small reads to the end.
    let mut buf = [0u8; 1000];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            assert_eq!(b, pattern(got), "byte {got}");
            got += 1;
        }
    }
    assert_eq!(got, LARGE_BODY);
}

// eventlet: test_012_ssl_server and test_013_empty_return are in wsgi_tls.rs.

// eventlet: test_014_chunked_post
#[test]
fn chunked_request_body_is_decoded_by_every_read_style() {
    let srv = spawn_server(chunked_post, opts());
    for path in ["/a", "/b", "/c"] {
        let mut s = srv.connect();
        let req = format!(
            "PUT {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Transfer-Encoding: chunked\r\n\r\n2\r\noh\r\n4\r\n hai\r\n0\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut r = reader(&s);
        read_header_block(&mut r);
        let mut response = Vec::new();
        r.read_to_end(&mut response).unwrap();
        assert_eq!(response, b"oh hai", "{path}");
    }
}

// eventlet: test_015_write
#[test]
fn write_callable_response_uses_content_length_or_chunked() {
    let srv = spawn_server(use_write, opts());
    let mut s = srv.connect();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result1 = read_http(&mut reader(&s)).unwrap();
    assert_eq!(result1.header("content-length"), Some("5"));
    assert_eq!(result1.body, b"abcde");

    let mut s = srv.connect();
    s.write_all(b"GET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result2 = read_http_opts(&mut reader(&s), false, true).unwrap();
    assert_eq!(result2.header("transfer-encoding"), Some("chunked"));
    // Beyond eventlet: the chunked body is terminated (inventory §5.1.10:
    // eventlet omits `0\r\n\r\n` here, masked by `Connection: close`).
    assert_eq!(result2.body, b"5\r\nabcde\r\n0\r\n\r\n");
}

// Beyond eventlet (inventory §5.1.10): the write-callable response above,
// on a kept-alive connection — eventlet's missing terminator hangs it.
#[test]
fn write_callable_chunked_response_keeps_the_connection_usable() {
    let srv = spawn_server(use_write, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    for _ in 0..2 {
        s.write_all(b"GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let resp = read_http(&mut r).unwrap();
        assert_eq!(resp.body, b"abcde");
        assert_eq!(resp.header("connection"), None);
    }
}

// eventlet: test_016_repeated_content_length
#[test]
fn app_content_length_is_not_sent_twice() {
    let app = |_env: &mut Environ, sr: &mut StartResponse| {
        sr.start("200 OK", [("Content-Length", "7")]);
        Body::from(["testing"])
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let headers = read_header_block(&mut reader(&s));
    let n = headers
        .iter()
        .filter(|l| l.to_ascii_lowercase().starts_with("content-length"))
        .count();
    assert_eq!(n, 1, "{headers:?}");
}

// eventlet: test_017_ssl_zeroreturnerror is in wsgi_tls.rs.

// eventlet: test_018_http_10_keepalive
#[test]
fn http10_keepalive_request_keeps_the_connection() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let result = read_http(&mut r).expect("answered on the same connection");
        assert_eq!(result.header("connection"), Some("keep-alive"));
    }
}

/// eventlet test_018b's app: answers by path, never reads `wsgi.input`.
fn by_path_never_reading(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let body = match env.get("PATH_INFO") {
        Some("/1") => "first response".to_string(),
        Some("/2") => "second response".to_string(),
        Some("/3") => "third response".to_string(),
        other => format!("Unexpected path: {other:?}"),
    };
    sr.start("200 OK", [("Content-type", "text/plain")]);
    Body::from(vec![body])
}

const TRICKSY: &[u8] = b"GET /tricksy HTTP/1.1\r\n";

// eventlet: test_018b_http_10_keepalive_framing, adapted. The unread body of
// `PUT /1` is discarded, not parsed as a request (ported). For `PUT /2`
// eventlet treats `Expect: 100-continue` on HTTP/1.0 as owed and closes;
// here Expect is ignored on HTTP/1.0 (inventory §5.1.13), so the body the
// client sent is an ordinary unread body: drained, connection kept. The
// HTTP/1.1 case, where eventlet's close applies, is the next test.
#[test]
fn http10_keepalive_unread_body_is_discarded_not_parsed() {
    let srv = spawn_server(by_path_never_reading, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    let len = TRICKSY.len();
    let mut req = format!(
        "PUT /1 HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\nContent-Length: {len}\r\n\r\n"
    )
    .into_bytes();
    req.extend_from_slice(TRICKSY);
    s.write_all(&req).unwrap();
    let result1 = read_http(&mut r).unwrap();
    assert_eq!(result1.body_str(), "first response");
    assert_eq!(result1.header("Connection"), Some("keep-alive"));

    s.write_all(
        format!(
            "PUT /2 HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\
             Content-Length: {len}\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(TRICKSY).unwrap();
    let result2 = read_http(&mut r).unwrap();
    assert_eq!(
        result2.status_line, "HTTP/1.1 200 OK",
        "no 100 for HTTP/1.0"
    );
    assert_eq!(result2.body_str(), "second response");
    assert_eq!(result2.header("Connection"), Some("keep-alive"));

    s.write_all(b"PUT /3 HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result3 = read_http(&mut r).unwrap();
    assert_eq!(result3.body_str(), "third response");
    assert_eq!(result3.header("Connection"), Some("close"));
    assert!(read_http(&mut r).is_err(), "no /tricksy response");
}

// eventlet: test_018b_http_10_keepalive_framing, its `PUT /2` step where
// eventlet's assertion applies: an owed 100-continue whose body the client
// sent anyway and the app never read → `Connection: close`, then closed; a
// new connection works.
#[test]
fn unread_body_of_an_owed_100_continue_closes_the_connection() {
    let srv = spawn_server(by_path_never_reading, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    let len = TRICKSY.len();
    s.write_all(
        format!(
            "PUT /2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len}\r\n\
             Expect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    // The client does not wait for the 100 Continue.
    s.write_all(TRICKSY).unwrap();
    let result2 = read_http(&mut r).unwrap();
    assert_eq!(result2.status_line, "HTTP/1.1 200 OK", "no 100 Continue");
    assert_eq!(result2.body_str(), "second response");
    assert_eq!(result2.header("Connection"), Some("close"));
    let _ = s.write_all(b"PUT /3 HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert!(
        read_http(&mut r).is_err(),
        "answered after Connection: close"
    );

    let mut s = srv.connect();
    s.write_all(b"PUT /3 HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result3 = read_http(&mut reader(&s)).unwrap();
    assert_eq!(result3.body_str(), "third response");
    assert_eq!(result3.header("Connection"), Some("close"));
}

// eventlet: test_019_fieldstorage_compat — not applicable: it exercises
// Python's `cgi.FieldStorage` over `wsgi.input` (eventlet itself skips it on
// Python >= 3.11). Reading a chunked POST body is covered by
// `chunked_request_body_is_decoded_by_every_read_style`.

// eventlet: test_020_x_forwarded_for
#[test]
fn x_forwarded_for_is_logged_unless_disabled() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n\r\n";
    for log_xff in [true, false] {
        let mut srv = spawn_server(hello_world, opts().log_x_forwarded_for(log_xff));
        let mut s = srv.connect();
        s.write_all(request).unwrap();
        read_http(&mut reader(&s)).unwrap();
        drop(s);
        // Stopping waits for the connection, so its log line is written.
        srv.stop().unwrap();
        let log = srv.log.text();
        let lines = access_lines(&log);
        assert_eq!(lines.len(), 1, "{log}");
        if log_xff {
            assert!(lines[0].starts_with("1.2.3.4,5.6.7.8,127.0.0.1 "), "{log}");
        } else {
            assert!(!log.contains("1.2.3.4"), "{log}");
            assert!(!log.contains("5.6.7.8"), "{log}");
            assert!(lines[0].starts_with("127.0.0.1 "), "{log}");
        }
    }
}

// eventlet: test_socket_remains_open, adapted. eventlet runs the server on a
// `dup()` of the listener and checks that the original fd still serves after
// the server closed its copy. `Listener` has no dup/try_clone/from_raw_fd
// (the server takes the listener by value and owns it), so that half is not
// applicable. Ported half: the server answers, and on stop it closes the
// listener it was given.
#[test]
fn server_closes_its_listener_when_stopped() {
    let mut srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result = recvall(&mut s);
    assert!(result.starts_with(b"HTTP"), "{result:?}");
    assert!(result.ends_with(b"hello world"), "{result:?}");
    srv.stop().unwrap();
    let err = TcpStream::connect(srv.addr).expect_err("the listener is still open");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

// eventlet: test_021_environ_clobbering, adapted: eventlet sets every key to
// None; the CGI variables here are strings, so the app removes them. The
// typed entries (`wsgi.input`, `wsgi.errors`, `wsgi.version`,
// `wsgi.multithread`, `wsgi.multiprocess`, `wsgi.run_once`) are methods of
// `Environ` and cannot be clobbered.
#[test]
fn clobbered_environ_does_not_change_the_response() {
    let app = |env: &mut Environ, sr: &mut StartResponse| {
        for key in [
            "wsgi.url_scheme",
            "REQUEST_METHOD",
            "SCRIPT_NAME",
            "RAW_PATH_INFO",
            "PATH_INFO",
            "QUERY_STRING",
            "CONTENT_TYPE",
            "CONTENT_LENGTH",
            "SERVER_NAME",
            "SERVER_PORT",
            "SERVER_PROTOCOL",
        ] {
            env.remove(key);
        }
        sr.start("200 OK", [("Content-type", "text/plain")]);
        Body::empty()
    };
    let mut srv = spawn_server(app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n\r\n")
        .unwrap();
    assert!(contains(&recvall(&mut s), b"200 OK"));
    srv.stop().unwrap();
    // The access log uses the request, not the clobbered environ.
    let log = srv.log.text();
    assert!(log.contains("\"GET / HTTP/1.1\" 200 "), "{log}");
}

// eventlet: test_022_custom_pool (plus its TODO: the connection runs in the
// given pool).
#[test]
fn custom_pool_runs_the_connections() {
    let pool = eventlet::GreenPool::new(5);
    let seen = Arc::new(AtomicUsize::new(0));
    let (app_pool, app_seen) = (pool.clone(), seen.clone());
    let app = move |env: &mut Environ, sr: &mut StartResponse| {
        app_seen.store(app_pool.running(), Ordering::SeqCst);
        hello_world(env, sr)
    };
    let srv = spawn_server(app, opts().custom_pool(pool));
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let result = recvall(&mut s);
    assert!(result.starts_with(b"HTTP"), "{result:?}");
    assert!(result.ends_with(b"hello world"), "{result:?}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the request ran in the pool"
    );
}

// eventlet: test_023_bad_content_length
#[test]
fn bad_content_length_is_400() {
    let srv = spawn_server(hello_world, opts());
    for value in [" argh", "", " ", " -10"] {
        let mut s = srv.connect();
        let req = format!("GET / HTTP/1.0\r\nHost: localhost\r\nContent-length:{value}\r\n\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let result = recvall(&mut s);
        assert!(result.starts_with(b"HTTP"), "{value:?}: {result:?}");
        assert!(
            contains(&result, b"400 Bad Request"),
            "{value:?}: {result:?}"
        );
        assert!(!contains(&result, b"500"), "{value:?}: {result:?}");
    }
}

/// eventlet test_024's app: refuses large uploads without reading them,
/// echoes small ones.
fn expect_app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let len: u64 = env["CONTENT_LENGTH"].parse().unwrap();
    if len > 1024 {
        sr.start("417 Expectation Failed", [("Content-Length", "7")]);
        return Body::from(["failure"]);
    }
    let text = env.input().read_all().unwrap();
    sr.start("200 OK", &[("Content-Length", text.len().to_string())]);
    Body::from(vec![text])
}

/// The 417 half of eventlet's test_024/024a: a final response without reading
/// the body skips the 100 Continue and closes the connection.
fn assert_417_without_continue_then_closed() {
    let srv = spawn_server(expect_app, opts());
    let mut s = srv.connect();
    s.write_all(
        b"PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 1025\r\n\
          Expect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let result = read_http(&mut reader(&s)).unwrap();
    assert_eq!(result.status_line, "HTTP/1.1 417 Expectation Failed");
    assert_eq!(result.body, b"failure");
    assert_eq!(result.header("Connection"), Some("close"));
    // The client may still send the body; if it keeps sending, the server
    // closes on it. eventlet writes 2.5 MB once and expects EPIPE; here the
    // client writes until the error (at most 256 MiB), so kernel buffer sizes
    // cannot make it pass a write that the server never reads.
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(&[b'x'; 25]);
    let block = vec![b'x'; 64 * 1024];
    let err = (0..4096)
        .find_map(|_| s.write_all(&block).err())
        .expect("the server never closed");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
}

// eventlet: test_024_expect_100_continue
#[test]
fn expect_100_continue_is_skipped_for_early_response_and_sent_before_reading() {
    assert_417_without_continue_then_closed();

    let srv = spawn_server(expect_app, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    // With the 100 Continue sent, requests pipeline on one connection.
    for expect in ["100-continue", "100-Continue"] {
        s.write_all(
            format!(
                "PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 7\r\n\
                 Expect: {expect}\r\n\r\ntesting"
            )
            .as_bytes(),
        )
        .unwrap();
        let cont = read_header_block(&mut r);
        assert!(cont[0].starts_with("HTTP/1.1 100 Continue"), "{cont:?}");
        let fin = read_header_block(&mut r);
        assert!(fin[0].starts_with("HTTP/1.1 200 OK"), "{fin:?}");
        assert!(!fin.iter().any(|l| l == "Connection: close"), "{fin:?}");
        let mut body = [0u8; 7];
        r.read_exact(&mut body).unwrap();
        assert_eq!(&body, b"testing");
    }
}

// eventlet: test_024a_expect_100_continue_with_headers
#[test]
fn expect_100_continue_response_carries_the_app_headers() {
    assert_417_without_continue_then_closed();

    let app = |env: &mut Environ, sr: &mut StartResponse| {
        env.input()
            .set_hundred_continue_response_headers([
                ("Hundred-Continue-Header-1", "H1"),
                ("Hundred-Continue-Header-2", "H2"),
                ("Hundred-Continue-Header-k", "Hk"),
            ])
            .unwrap();
        let text = env.input().read_all().unwrap();
        sr.start("200 OK", &[("Content-Length", text.len().to_string())]);
        Body::from(vec![text])
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    s.write_all(
        b"PUT / HTTP/1.1\r\nHost: localhost\r\nContent-length: 7\r\n\
          Expect: 100-continue\r\n\r\ntesting",
    )
    .unwrap();
    let cont = read_header_block(&mut r);
    assert!(cont[0].starts_with("HTTP/1.1 100 Continue"), "{cont:?}");
    let headers = header_pairs(&cont);
    assert_eq!(header(&headers, "Hundred-Continue-Header-1"), Some("H1"));
    assert_eq!(header(&headers, "Hundred-Continue-Header-2"), Some("H2"));
    // The name is capitalized per part: `-k` → `-K`.
    assert_eq!(header(&headers, "Hundred-Continue-Header-K"), Some("Hk"));
    let fin = read_header_block(&mut r);
    assert!(fin[0].starts_with("HTTP/1.1 200 OK"), "{fin:?}");
    let mut body = [0u8; 7];
    r.read_exact(&mut body).unwrap();
    assert_eq!(&body, b"testing");
}

/// The app of eventlet's test_024b/024c: read (all or 13 bytes) after a first
/// 100 with H1/H2, send a second 100 with H3, read the rest (all or 16).
fn two_continues_app(first: Option<usize>, second: Option<usize>) -> impl eventlet_wsgi::App {
    move |env: &mut Environ, sr: &mut StartResponse| {
        let read = |env: &mut Environ, n: Option<usize>| match n {
            Some(n) => env.input().read_n(n).unwrap(),
            None => env.input().read_all().unwrap(),
        };
        env.input()
            .set_hundred_continue_response_headers([
                ("Hundred-Continue-Header-1", "H1"),
                ("Hundred-Continue-Header-2", "H2"),
            ])
            .unwrap();
        let mut text = read(env, first);
        env.input()
            .set_hundred_continue_response_headers([("Hundred-Continue-Header-3", "H3")])
            .unwrap();
        env.input().send_hundred_continue_response().unwrap();
        text.extend(read(env, second));
        sr.start("200 OK", &[("Content-Length", text.len().to_string())]);
        Body::from(vec![text])
    }
}

/// The client side of eventlet's test_024b/024c after the request head.
fn two_continues_client(s: &mut TcpStream, part1: &[u8], part2: &[u8]) {
    let mut r = reader(s);
    let cont1 = read_header_block(&mut r);
    assert!(cont1[0].starts_with("HTTP/1.1 100 Continue"), "{cont1:?}");
    let h = header_pairs(&cont1);
    assert_eq!(header(&h, "Hundred-Continue-Header-1"), Some("H1"));
    assert_eq!(header(&h, "Hundred-Continue-Header-2"), Some("H2"));
    s.write_all(part1).unwrap();
    let cont2 = read_header_block(&mut r);
    assert!(cont2[0].starts_with("HTTP/1.1 100 Continue"), "{cont2:?}");
    let h = header_pairs(&cont2);
    assert_eq!(header(&h, "Hundred-Continue-Header-3"), Some("H3"));
    s.write_all(part2).unwrap();
    let fin = read_header_block(&mut r);
    assert!(fin[0].starts_with("HTTP/1.1 200 OK"), "{fin:?}");
    let mut body = [0u8; 29];
    r.read_exact(&mut body).unwrap();
    assert_eq!(&body, b"first message, second message");
}

// eventlet: test_024b_expect_100_continue_with_headers_multiple_chunked
#[test]
fn second_100_continue_starts_a_new_chunked_body() {
    let srv = spawn_server(two_continues_app(None, None), opts());
    let mut s = srv.connect();
    s.write_all(
        b"PUT /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    two_continues_client(
        &mut s,
        b"5\r\nfirst\r\n8\r\n message\r\n0\r\n\r\n",
        b"8\r\n, second\r\n8\r\n message\r\n0\r\n\r\n",
    );
}

// eventlet: test_024c_expect_100_continue_with_headers_multiple_nonchunked
#[test]
fn second_100_continue_within_a_content_length_body() {
    let srv = spawn_server(two_continues_app(Some(13), Some(16)), opts());
    let mut s = srv.connect();
    s.write_all(
        b"PUT /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
          Content-Length: 29\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    two_continues_client(&mut s, b"first message", b", second message\r\n");
}

// eventlet: test_024d_expect_100_continue_with_eager_app_chunked
#[test]
fn no_100_continue_once_the_response_started() {
    let app = |env: &mut Environ, sr: &mut StartResponse| {
        env.set_minimum_write_chunk_size(0);
        sr.start("202 Accepted", Vec::<(&str, &str)>::new());
        let mut step = 0;
        Body::generator(move |input| {
            step += 1;
            let chunk: Chunk = match step {
                1 => Cow::Borrowed(b" "),
                2 => {
                    if let Err(e) = input.read_all() {
                        return Some(Err(e));
                    }
                    Cow::Borrowed(b" ")
                }
                3 => Cow::Borrowed(b"\n503 Service Unavailable\n\nOops!\n"),
                _ => return None,
            };
            Some(Ok(chunk))
        })
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    s.write_all(
        b"PUT /a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    // The optimistic response comes first, instead of any 100 Continue.
    let head = read_header_block(&mut r);
    assert_eq!(head[0], "HTTP/1.1 202 Accepted");
    let mut expect_chunk = |data: &[u8]| {
        let expected = chunkify(data);
        let mut got = vec![0; expected.len()];
        r.read_exact(&mut got).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected)
        );
    };
    expect_chunk(b" ");
    let mut msg = chunkify(b"some data");
    msg.extend(chunkify(b""));
    s.write_all(&msg).unwrap();
    expect_chunk(b" ");
    expect_chunk(b"\n503 Service Unavailable\n\nOops!\n");
    expect_chunk(b"");
}

// eventlet: test_025_accept_errors — not applicable: it hands the server a
// socket that was bound but never listen()ed so that accept() fails with
// EINVAL. `eventlet::listen`/`ListenOptions::listen` are the only ways to
// make a `Listener` and they always listen, so that error cannot be caused
// through the public API.

// eventlet: test_026_log_format
#[test]
fn custom_log_format_is_used_for_access_lines() {
    let mut srv = spawn_server(
        hello_world,
        opts().log_format("HI %(request_line)s HI").unwrap(),
    );
    let mut s = srv.connect();
    s.write_all(b"GET /yo! HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    read_http(&mut reader(&s)).unwrap();
    drop(s);
    srv.stop().unwrap();
    let log = srv.log.text();
    assert!(log.contains("\nHI GET /yo! HTTP/1.1 HI\n"), "{log}");
}

// eventlet: test_close_chunked_with_1_0_client
#[test]
fn generator_body_to_http10_keepalive_client_is_close_delimited() {
    let srv = spawn_server(chunked_app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let result = read_http(&mut reader(&s)).unwrap();
    assert_eq!(result.header("connection"), Some("close"));
    assert_ne!(result.header("transfer-encoding"), Some("chunked"));
    assert_eq!(result.body, b"thisischunked");
}

// eventlet: test_chunked_response_when_app_yields_empty_string
#[test]
fn empty_items_of_a_chunked_body_are_skipped() {
    let app = |env: &mut Environ, sr: &mut StartResponse| {
        env.set_minimum_write_chunk_size(0);
        sr.start("200 OK", [("Content-type", "text/plain")]);
        Body::from_iter(["stuff", "", "more stuff"])
    };
    let srv = spawn_server(app, opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let result = read_http_opts(&mut reader(&s), false, true).unwrap();
    assert_eq!(result.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        result.body_str(),
        "5\r\nstuff\r\na\r\nmore stuff\r\n0\r\n\r\n"
    );
}

// eventlet: test_minimum_chunk_size_parameter_leaves_httpprotocol_class_member_intact
// — not applicable: it guards against `minimum_chunk_size=` overwriting a
// Python class attribute shared by every server. `ServerOptions` is a value
// owned by each `Server`; there is no shared mutable default to clobber.

// eventlet: test_error_in_chunked_closes_connection, adapted: eventlet's app
// calls `start_response('500 Error', headers, exc_info)` after two chunks,
// which re-raises because the headers are out. A lazy `Body` cannot reach
// `StartResponse` (its `start_with_exc_info` gives `HeadersAlreadySent` back
// for the app to return), so the body's iterator fails with `Err` instead —
// the same "exception after headers" path.
#[test]
fn body_error_after_headers_truncates_the_chunked_body_and_closes() {
    let app = |_env: &mut Environ, sr: &mut StartResponse| {
        sr.start("200 OK", [("Content-Type", "text/plain")]);
        Body::try_from_iter([
            Ok("The dwarves of yore made mighty spells,"),
            Ok("While hammers fell like ringing bells"),
            Err(io::Error::other("division by zero")),
            Ok("In places deep, where dark things sleep,"),
            Ok("In hollow halls beneath the fells."),
        ])
    };
    let srv = spawn_server(app, opts().minimum_chunk_size(1));
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut r = reader(&s);
    let result = read_http_opts(&mut r, false, true).unwrap();
    assert_eq!(result.status_line, "HTTP/1.1 200 OK");
    assert_eq!(result.header("transfer-encoding"), Some("chunked"));
    assert_eq!(
        result.body_str(),
        "27\r\nThe dwarves of yore made mighty spells,\r\n\
         25\r\nWhile hammers fell like ringing bells\r\n"
    );
    // read_http stopped at EOF: the server closed without a terminator.
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
}

// eventlet: test_026_http_10_nokeepalive and test_026b_http_10_zero_keepalive
// (`keepalive=False` and `keepalive=0`).
#[test]
fn disabled_keepalive_closes_http10_keepalive_connections() {
    for keepalive in [Keepalive::Disabled, Keepalive::Idle(Duration::ZERO)] {
        let srv = spawn_server(hello_world, opts().keepalive(keepalive));
        let mut s = srv.connect();
        s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let result = read_http(&mut reader(&s)).unwrap();
        assert_eq!(result.header("connection"), Some("close"), "{keepalive:?}");
        assert!(closed_by_server(&mut s), "{keepalive:?}");
    }
}

// eventlet: test_027_keepalive_chunked
#[test]
fn chunked_requests_share_one_keepalive_connection() {
    let srv = spawn_server(chunked_post, opts());
    let mut s = srv.connect();
    let mut r = reader(&s);
    for path in ["/a", "/b", "/c", "/a"] {
        let req = format!(
            "PUT {path} HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
             10\r\n0123456789abcdef\r\n0\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let resp = read_http(&mut r).expect("answered on the kept-alive connection");
        assert_eq!(resp.body, b"0123456789abcdef", "{path}");
    }
}

// eventlet: test_028_ssl_handshake_errors is in wsgi_tls.rs.

/// What the posthooks of eventlet's test_029 add up, and the `local.test`
/// values they saw in the environ.
#[derive(Default)]
struct HookCounts {
    posthook1: f64,
    posthook2: f64,
    seen: Vec<Option<String>>,
}

fn posthook_app(
    counts: Arc<Mutex<HookCounts>>,
    hooks: Vec<(bool, f64, f64)>,
) -> impl eventlet_wsgi::App {
    move |env: &mut Environ, sr: &mut StartResponse| {
        env.set("local.test", "test_029_posthooks");
        // (is posthook1, value, multiplier or divisor)
        for &(first, value, k) in &hooks {
            let counts = counts.clone();
            env.add_posthook(move |env| {
                let mut c = counts.lock().unwrap();
                c.seen.push(env.get("local.test").map(str::to_string));
                if first {
                    c.posthook1 += value * k;
                } else {
                    c.posthook2 += value / k;
                }
            });
        }
        sr.start("200 OK", [("Content-Type", "text/plain")]);
        Body::from_iter([""])
    }
}

// eventlet: test_029_posthooks
#[test]
fn posthooks_run_after_the_response_with_the_same_environ() {
    let counts = Arc::new(Mutex::new(HookCounts::default()));
    let one = posthook_app(counts.clone(), vec![(true, 2.0, 3.0)]);
    let two = posthook_app(counts.clone(), vec![(true, 4.0, 5.0), (false, 100.0, 4.0)]);
    for (app, expected) in [(one, (6.0, 0.0)), (two, (26.0, 25.0))] {
        let mut srv = spawn_server(app, opts());
        let mut s = srv.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut line = String::new();
        reader(&s).read_line(&mut line).unwrap();
        assert_eq!(line, "HTTP/1.1 200 OK\r\n");
        drop(s);
        // Stopping waits for the connection, hence for its posthooks.
        srv.stop().unwrap();
        let c = counts.lock().unwrap();
        assert_eq!((c.posthook1, c.posthook2), expected);
    }
    let c = counts.lock().unwrap();
    assert_eq!(c.seen.len(), 3);
    assert!(c
        .seen
        .iter()
        .all(|v| v.as_deref() == Some("test_029_posthooks")));
}

// eventlet: test_030_reject_long_header_lines, adapted: 431 instead of
// eventlet's `HTTP/1.0 400 Header Line Too Long` (wsgi brief, decisions).
#[test]
fn overlong_header_line_is_rejected_with_431() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let req = format!(
        "GET / HTTP/1.0\r\nHost: localhost\r\nLong: {}\r\n\r\n",
        "a".repeat(10000)
    );
    send_expect_close(&mut s, req.as_bytes());
    let result = read_http(&mut reader(&s)).unwrap();
    assert_eq!(
        result.status_line,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(result.header("connection"), Some("close"));
}

// eventlet: test_031_reject_large_headers, adapted: 431 instead of eventlet's
// `HTTP/1.0 400 Headers Too Large` (wsgi brief, decisions). Each line is
// under the line limit; the head as a whole (~140 KB) is over 64 KiB.
#[test]
fn oversized_head_is_rejected_with_431() {
    let srv = spawn_server(hello_world, opts());
    let mut s = srv.connect();
    let headers = format!("Name: {}\r\n", "a".repeat(7000)).repeat(20);
    let req = format!("GET / HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n\r\n");
    send_expect_close(&mut s, req.as_bytes());
    let result = read_http(&mut reader(&s)).unwrap();
    assert_eq!(
        result.status_line,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
}

/// eventlet test_032's app: echo `wsgi.input` by iterating it, counting the
/// items.
fn echo_by_iterating(count: Arc<AtomicUsize>) -> impl eventlet_wsgi::App {
    move |_env: &mut Environ, sr: &mut StartResponse| {
        sr.start("200 OK", [("Content-type", "text/plain")]);
        let count = count.clone();
        Body::generator(move |input| {
            let item = input.next()?;
            count.fetch_add(1, Ordering::SeqCst);
            Some(item.map(Chunk::from))
        })
    }
}

fn post_http10(srv: &TestServer, body: &[u8]) -> Response {
    let mut s = srv.connect();
    let mut req = format!(
        "POST / HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    read_http(&mut reader(&s)).unwrap()
}

// eventlet: test_032_wsgi_input_as_iterable. eventlet yields the whole body
// as one item; iteration yields lines here (wsgi brief, decisions). The
// eventlet body has no newline, so it is still exactly one item (ported).
#[test]
fn iterating_wsgi_input_yields_the_body() {
    let count = Arc::new(AtomicUsize::new(0));
    let srv = spawn_server(echo_by_iterating(count.clone()), opts());
    let upload = b"123456789abcdef".repeat(100);
    let result = post_http10(&srv, &upload);
    assert_eq!(result.body, upload);
    // The close-delimited body ended, so the generator is done.
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

// eventlet: test_032_wsgi_input_as_iterable, the decision's side: a body
// with newlines is iterated line by line, and nothing is lost.
#[test]
fn iterating_wsgi_input_yields_lines() {
    let count = Arc::new(AtomicUsize::new(0));
    let srv = spawn_server(echo_by_iterating(count.clone()), opts());
    let upload = b"first line\nsecond line\nno newline at the end".to_vec();
    let result = post_http10(&srv, &upload);
    assert_eq!(result.body, upload);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}
