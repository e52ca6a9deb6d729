//! Reading `wsgi.input` in chunks: counts and checksums an upload of any
//! size with a fixed 64 KiB buffer, and echoes it back chunk by chunk when
//! the path is `/echo` (the body streams while the upload is read).
//!
//! `cargo run --example upload`, then
//! `curl -T big.file localhost:8093/` or `curl -T big.file localhost:8093/echo -o copy`.

use eventlet_wsgi::{Body, Environ, ServerOptions, StartResponse};
use std::io::Read;

fn upload(env: &mut Environ, sr: &mut StartResponse) -> Body {
    if env.get("PATH_INFO") == Some("/echo") {
        sr.start("200 OK", [("Content-Type", "application/octet-stream")]);
        return Body::generator(|input| {
            let mut buf = vec![0; 64 * 1024];
            match input.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some(Ok(buf.into()))
                }
                Err(e) => Some(Err(e)),
            }
        });
    }
    let mut buf = [0u8; 64 * 1024];
    let (mut total, mut sum) = (0u64, 0u32);
    loop {
        match env.input().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                sum = buf[..n]
                    .iter()
                    .fold(sum, |s, &b| s.rotate_left(5) ^ u32::from(b));
            }
            Err(e) => {
                sr.start("400 Bad Request", [("Content-Type", "text/plain")]);
                return Body::from(format!("upload failed: {e}\n"));
            }
        }
    }
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(format!("{total} bytes, checksum {sum:08x}\n"))
}

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8093".into());
    eventlet_wsgi::server_with(
        eventlet::listen(addr.as_str())?,
        upload,
        ServerOptions::new(),
    )
}
