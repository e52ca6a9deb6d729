//! `wsgi.input` lives as long as its connection and is reset per request;
//! a request without a body skips the reset when the previous one had none
//! either. Whatever the order of body-less and body-carrying requests on one
//! keep-alive connection, and whatever the app did with the input of a
//! body-less one (read it, buffered it, set 100-continue headers), each
//! request must see exactly its own body and its own 100-continue.

use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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

struct Running {
    addr: SocketAddr,
    handle: eventlet_wsgi::ServerHandle,
    thread: Option<eventlet::GreenThread<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve() -> Running {
    let listener = eventlet::listen("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("addr").inet().expect("inet");
    let server = Server::new(
        listener,
        app,
        ServerOptions::default()
            .handle_signals(false)
            .log_output(false),
    );
    let handle = server.handle();
    let thread = Some(eventlet::spawn(move || server.run()));
    Running {
        addr,
        handle,
        thread,
    }
}

struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn head(&mut self) -> String {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).expect("read") > 0, "closed");
            head.push_str(&line);
            if line == "\r\n" {
                return head;
            }
        }
    }

    /// The body of the next (Content-Length) response.
    fn response(&mut self) -> String {
        let head = self.head();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        let len: u64 = head
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .expect("a length")
            .parse()
            .expect("a number");
        let mut body = String::new();
        (&mut self.r)
            .take(len)
            .read_to_string(&mut body)
            .expect("body");
        body
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
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
    fn post_expect(&mut self, path: &str, body: &str) -> (String, String) {
        let n = body.len();
        self.send(
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {n}\r\n\r\n")
                .as_bytes(),
        );
        let interim = self.head();
        self.send(body.as_bytes());
        (interim, self.response())
    }
}

fn connect(addr: SocketAddr) -> Client {
    let w = TcpStream::connect(addr).expect("connect");
    w.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let r = BufReader::new(w.try_clone().expect("clone"));
    Client { w, r }
}

#[test]
fn each_request_sees_its_own_body_after_bodyless_ones() {
    let server = serve();
    let mut c = connect(server.addr);
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
    let server = serve();
    let mut c = connect(server.addr);
    // `/cont` sets a header for a 100 Continue its body-less request never
    // sends; the next requests' interim responses must not carry it.
    assert_eq!(c.get("/cont"), "/cont:");
    assert_eq!(c.get("/read"), "/read:");
    let (interim, body) = c.post_expect("/read", "data");
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(body, "/read:data");
    // Its own header is sent with its own 100 Continue.
    let (interim, body) = c.post_expect("/cont", "more");
    assert_eq!(
        interim,
        "HTTP/1.1 100 Continue\r\nX-Stale: from /cont\r\n\r\n"
    );
    assert_eq!(body, "/cont:more");
    assert_eq!(c.get("/cont"), "/cont:");
    let (interim, body) = c.post_expect("/fill", "last");
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(body, "/fill:last");
}
