//! Shared bits of the load clients: one HTTP/1.1 GET over a blocking socket,
//! read back by `Content-Length`.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// The request every client sends: a keep-alive GET of `path`.
pub fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

/// Sends `request` and reads one response, head and `Content-Length` body.
/// Returns the status code. `buf` is scratch space reused across calls.
pub fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> io::Result<u16> {
    stream.write_all(request)?;
    buf.clear();
    let head_end = loop {
        if let Some(end) = find_head_end(buf) {
            break end;
        }
        read_some(stream, buf)?;
    };
    let (status, length) = parse_head(&buf[..head_end])?;
    while buf.len() < head_end + length {
        read_some(stream, buf)?;
    }
    Ok(status)
}

fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Status code and Content-Length of a response head.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let head = std::str::from_utf8(head).map_err(|_| bad("non-UTF-8 response head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse().map_err(|_| bad("bad Content-Length")))
        .transpose()?
        .ok_or_else(|| bad("no Content-Length"))?;
    Ok((status, length))
}

/// The `q`-quantile (0..=1) of `sorted`, nearest rank; 0 when empty.
pub fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_length() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\nX: y\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (200, 15));
    }

    #[test]
    fn head_without_length_is_an_error() {
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn quantile_is_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
