mod common;
use common::*;
use eventlet_wsgi::{Body, Environ, StartResponse};
use std::io::{BufReader, Write};

fn hello(env: &mut Environ, sr: &mut StartResponse) -> Body {
    if env.get("PATH_INFO") == Some("/notexist") {
        sr.start("404 Not Found", [("Content-type", "text/plain")]);
        return Body::from("not found");
    }
    sr.start("200 OK", [("Content-type", "text/plain")]);
    Body::from("hello world")
}

#[test]
fn smoke_get_and_keepalive() {
    let srv = spawn_server(hello, default_opts());
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_http(&mut r).unwrap();
    println!("{resp:?}");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body, b"hello world");
    s.write_all(b"GET /notexist HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_http(&mut r).unwrap();
    assert_eq!(resp.status(), 404);
    println!("log: {}", srv.log.text());
}
