//! may_minihttp 0.1.11 hello world, the anchors' server (a): `Hello, World!\r\n`
//! for every request, the request body echoed back for POST. may's defaults are
//! kept (workers = CPUs in the affinity mask, workers pinned to cores).
//!
//! `may-hello 127.0.0.1:18082`

use may_minihttp::{HttpServer, HttpService, Request, Response};
use std::io::{self, Read};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        rsp.header("Content-Type: text/plain");
        if req.method() == "POST" {
            let mut body = Vec::new();
            req.body().read_to_end(&mut body)?;
            rsp.body_vec(body);
        } else {
            rsp.body("Hello, World!\r\n");
        }
        Ok(())
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18082".into());
    let server = HttpServer(Hello).start(addr.as_str())?;
    eprintln!("may-hello on {addr}");
    server
        .join()
        .map_err(|_| io::Error::other("the accept coroutine panicked"))
}
