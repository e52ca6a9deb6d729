//! tokio + hyper 1.x hello world, the anchors' server (d): one
//! `http1::Builder::serve_connection` task per connection on tokio's
//! multi-thread runtime (default worker count, which follows the affinity
//! mask: 1 under `taskset -c 0`). GET answers `Hello, World!\r\n`; POST echoes
//! the collected request body.
//!
//! `hyper-hello 127.0.0.1:18083`

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = if req.method() == Method::POST {
        req.into_body().collect().await?.to_bytes()
    } else {
        Bytes::from_static(b"Hello, World!\r\n")
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18083".into());
    let listener = TcpListener::bind(addr.as_str()).await?;
    eprintln!("hyper-hello on {addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // EMFILE and friends: keep serving the connections we have.
            Err(_) => continue,
        };
        tokio::spawn(async move {
            // A reset or a malformed request ends the connection; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}
