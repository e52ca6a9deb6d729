//! Port of eventlet's `examples/connect.py`: spawn several workers that each
//! connect to a web server, send a minimal request and read the first 1024
//! bytes, then collect their results in order with a `GreenPile`.
//!
//! ```text
//! cargo run --example connect                                # www.google.com www.yandex.ru www.python.org, port 80
//! cargo run --example connect -- 127.0.0.1:8090 localhost    # any hosts; `host` means port 80
//! ```
//!
//! Output as eventlet's: `HOST connected` as each connection opens, then
//! `HOST: REPR` for each result in the order given, where REPR is the first 50
//! characters of Python's `repr()` of the bytes received. As in the original,
//! a failed fetch ends the program with an error.

use std::io::{self, Read, Write};

/// eventlet's `geturl`: connect to `url` (a host, or `host:port`) on port 80,
/// send `GET /` and return what the first read gives.
fn geturl(url: &str) -> io::Result<Vec<u8>> {
    let mut c = match url.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => {
            eventlet::connect((host, port.parse::<u16>().unwrap_or(80)))?
        }
        _ => eventlet::connect((url, 80))?,
    };
    println!("{url} connected");
    c.write_all(b"GET /\r\n\r\n")?;
    let mut buf = vec![0; 1024];
    let n = c.read(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Python's `repr()` of a `bytes` object: `b'...'` with `\t`, `\n`, `\r`,
/// `\\`, the quote and non-printable bytes escaped.
fn py_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &c in b {
        match c {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\\' => out.push_str("\\\\"),
            c if c as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

fn main() -> io::Result<()> {
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        urls = ["www.google.com", "www.yandex.ru", "www.python.org"]
            .map(String::from)
            .to_vec();
    }
    let mut pile = eventlet::GreenPile::new(1000);
    for x in &urls {
        let x = x.clone();
        pile.spawn(move || geturl(&x))?;
    }
    // The pile yields the workers' results in spawn order; a failed worker's
    // error ends the program here, as the exception does in the original.
    for (url, result) in urls.iter().zip(pile) {
        let result = result.map_err(io::Error::other)??;
        let repr: String = py_bytes_repr(&result).chars().take(50).collect();
        println!("{url}: {repr}");
    }
    Ok(())
}
