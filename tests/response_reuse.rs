//! A keep-alive connection reuses the encoded head of the last
//! `start_response` call when the next call is the same (response.rs,
//! `memo`). Whatever the order of calls, each response must be exactly the one
//! a fresh connection gets for the same call.

mod common;
use common::*;
use eventlet_wsgi::{Body, Environ, ServerOptions, StartResponse};
use std::io::{BufReader, Write};
use std::net::TcpStream;

/// `/N`: case N of the start_response calls below.
fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let case: usize = env.get("PATH_INFO").unwrap_or("/0")[1..]
        .parse()
        .unwrap_or(0);
    let ct = ("Content-Type", "text/plain");
    match case {
        0 => sr.start("200 OK", [ct]),
        1 => sr.start("200 OK", [ct, ("X-A", "1")]),
        2 => sr.start("200 OK", []),
        3 => sr.start("200 OK", [("Content-Type", "text/html")]),
        4 => sr.start("404 Not Found", [ct]),
        5 => sr.start("200 OK", [("content-TYPE", "text/plain")]),
        6 => {
            sr.start("200 OK", [ct, ("Content-Length", "2")]);
            return Body::from("ok");
        }
        7 => {
            sr.start("200 OK", [ct, ("Content-Length", "3")]);
            return Body::from("abc");
        }
        8 => sr.start("200 OK", [ct, ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")]),
        9 => sr.start("200 OK", [("X-A", "1"), ("X-B", "2"), ("X-C", "3")]),
        10 => sr.start("200 OK", [("X-A", "1"), ("X-B", "2")]),
        11 => sr.start("200 OK", [("X-A", "1"), ("X-B", "22")]),
        12 => {
            // Called twice: the second call replaces the first.
            sr.start("200 OK", [("X-First", "1")]);
            sr.start("201 Created", [("X-Second", "2")]);
        }
        13 => sr.start("200 OK", [("X-Latin", "caf\u{e9}")]),
        14 => sr.start("200 OK", &[("X-Long", "v".repeat(3000))]),
        15 => sr.start("200 OK", [ct, ("Keep-Alive", "timeout=1"), ("X-A", "1")]),
        16 => sr.start("200 Ok", [ct]),
        // The ones below end the connection.
        17 => sr.start("200 OK", [ct, ("Connection", "close")]),
        18 => sr.start("200 OK", [ct, ("X-Bad", "a\r\nb")]),
        _ => sr.start("200 OK", [ct, ("Content-Length", "x")]),
    }
    Body::from(format!("case {case}"))
}

const KEEP: usize = 17;
const ALL: usize = 20;

/// A response without its Date value (it changes with the second), but
/// keeping whether there was one.
fn comparable(mut r: Response) -> Response {
    for (k, v) in &mut r.headers {
        if k == "Date" && v != "Thu, 01 Jan 1970 00:00:00 GMT" {
            v.clear();
        }
    }
    r
}

fn get(s: &mut TcpStream, r: &mut BufReader<TcpStream>, case: usize) -> Response {
    // One write: a request split over several segments waits on delayed ACKs.
    s.write_all(format!("GET /{case} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
        .unwrap();
    comparable(read_http(r).expect("a response"))
}

fn fresh(srv: &TestServer, case: usize) -> Response {
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    get(&mut s, &mut r, case)
}

fn check(opts: ServerOptions) {
    let srv = spawn_server(app, opts);
    let want: Vec<Response> = (0..ALL).map(|c| fresh(&srv, c)).collect();
    // Sanity: the cases are what they say.
    assert_eq!(want[12].status(), 201);
    assert!(want[12].header("X-First").is_none());
    assert_eq!(want[13].header("X-Latin"), Some("caf\u{e9}"));
    assert_eq!(want[17].header("Connection"), Some("close"));
    assert_eq!(want[18].status(), 500);
    assert_eq!(want[19].status(), 500);

    // Every ordered pair of keep-alive cases, and each case repeated, on one
    // connection; then each connection-ending case after a warm one.
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut before = None;
    for a in 0..KEEP {
        for b in 0..KEEP {
            for case in [a, b, b] {
                let got = get(&mut s, &mut r, case);
                assert_eq!(
                    format!("{got:?}"),
                    format!("{:?}", want[case]),
                    "case {case} after {before:?}"
                );
                before = Some(case);
            }
        }
    }
    for (last, want_last) in want.iter().enumerate().skip(KEEP) {
        for warm in [0, 6, 15, last] {
            let mut s = srv.connect();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let _ = get(&mut s, &mut r, warm);
            if warm == last {
                continue;
            }
            let got = get(&mut s, &mut r, last);
            assert_eq!(
                format!("{got:?}"),
                format!("{want_last:?}"),
                "case {last} after {warm}"
            );
            assert!(closed_by_server(&mut s), "case {last} closes");
        }
    }
}

#[test]
fn reused_heads_equal_fresh_ones_capitalized() {
    check(default_opts());
}

#[test]
fn reused_heads_equal_fresh_ones_verbatim() {
    check(default_opts().capitalize_response_headers(false));
}
