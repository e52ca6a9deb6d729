//! `wsgi.input` lives as long as its connection and is reset per request;
//! a request without a body skips the reset when the previous one had none
//! either. Whatever the order of body-less and body-carrying requests on one
//! keep-alive connection, and whatever the app did with the input of a
//! body-less one (read it, buffered it, set 100-continue headers), each
//! request must see exactly its own body and its own 100-continue.

mod common;

use common::*;
use eventlet_wsgi::{Body, Environ, StartResponse};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// `/read`: the whole body back; `/fill`: what `fill_buf` sees, then the
/// whole body; `/cont`: sets a 100-continue header, then reads; `/skip`:
/// never reads the body (the server drains it). Each answers `<path>:<body>`.
fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let path = env.get("PATH_INFO").unwrap_or("/").to_string();
    let input = env.input();
    let body = match path.as_str() {
        "/fill" => {
            let first = input.fill_buf().expect("fill_buf").to_vec();
            let n = first.len();
            input.consume(n);
            let mut rest = input.read_all().expect("read");
            let mut all = first;
            all.append(&mut rest);
            all
        }
        "/cont" => {
            input
                .set_hundred_continue_response_headers([("X-Stale", "from /cont")])
                .expect("headers");
            input.read_all().expect("read")
        }
        "/skip" => Vec::new(),
        _ => input.read_all().expect("read"),
    };
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    let mut out = format!("{path}:").into_bytes();
    out.extend_from_slice(&body);
    Body::from(out)
}

/// One keep-alive connection to the test server.
struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn new(server: &TestServer) -> Client {
        let w = server.connect();
        let r = BufReader::new(w.try_clone().expect("clone"));
        Client { w, r }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }

    /// The body of the next response, which must be a 200.
    fn response(&mut self) -> String {
        let resp = read_http(&mut self.r).expect("a response");
        assert_eq!(resp.status(), 200, "{resp:?}");
        resp.body_str()
    }

    fn get(&mut self, path: &str) -> String {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        self.response()
    }

    fn post(&mut self, path: &str, body: &str) -> String {
        let n = body.len();
        self.send(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n{body}")
                .as_bytes(),
        );
        self.response()
    }

    fn post_chunked(&mut self, path: &str, body: &str) -> String {
        let n = body.len();
        self.send(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{n:x}\r\n{body}\r\n0\r\n\r\n")
                .as_bytes(),
        );
        self.response()
    }

    /// A POST with `Expect: 100-continue`: its interim response (returned)
    /// comes before the body is sent.
    fn post_expect(&mut self, path: &str, body: &str) -> (Response, String) {
        let n = body.len();
        self.send(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {n}\r\n\r\n")
                .as_bytes(),
        );
        let interim = read_http(&mut self.r).expect("an interim response");
        assert_eq!(interim.status_line, "HTTP/1.1 100 Continue");
        self.send(body.as_bytes());
        (interim, self.response())
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn each_request_sees_its_own_body_after_bodyless_ones() {
    let server = spawn_server(app, default_opts());
    let mut c = Client::new(&server);
    // Body-less requests in a row (the reset is skipped from the second on),
    // whatever the app does with their input.
    assert_eq!(c.get("/read"), "/read:");
    assert_eq!(c.get("/fill"), "/fill:");
    assert_eq!(c.get("/cont"), "/cont:");
    assert_eq!(c.get("/skip"), "/skip:");
    // Then bodies of every framing, each followed by body-less requests.
    assert_eq!(c.post("/read", "hello"), "/read:hello");
    assert_eq!(c.get("/read"), "/read:");
    assert_eq!(c.post_chunked("/fill", "chunky"), "/fill:chunky");
    assert_eq!(c.get("/fill"), "/fill:");
    assert_eq!(c.get("/read"), "/read:");
    // A body the app never reads is drained; the next request is intact.
    assert_eq!(c.post("/skip", "unread"), "/skip:");
    assert_eq!(c.get("/read"), "/read:");
    assert_eq!(c.post("/read", "after"), "/read:after");
}

#[test]
fn continue_headers_set_on_a_bodyless_request_do_not_leak() {
    let server = spawn_server(app, default_opts());
    let mut c = Client::new(&server);
    // `/cont` sets a header for a 100 Continue its body-less request never
    // sends; the next requests' interim responses must not carry it.
    assert_eq!(c.get("/cont"), "/cont:");
    assert_eq!(c.get("/read"), "/read:");
    let (interim, body) = c.post_expect("/read", "data");
    assert_eq!(interim.headers, headers(&[]));
    assert_eq!(body, "/read:data");
    // Its own header is sent with its own 100 Continue.
    let (interim, body) = c.post_expect("/cont", "more");
    assert_eq!(interim.headers, headers(&[("X-Stale", "from /cont")]));
    assert_eq!(body, "/cont:more");
    assert_eq!(c.get("/cont"), "/cont:");
    let (interim, body) = c.post_expect("/fill", "last");
    assert_eq!(interim.headers, headers(&[]));
    assert_eq!(body, "/fill:last");
}
