//! The fixed request sequence behind the instruction-count benchmark
//! (`benches/instr.sh`): a client whose work does not depend on timing, so
//! that the instructions a server executes for it (counted by callgrind) are
//! the same run after run.
//!
//! ```text
//! bench_reqseq ADDR CONNS ROUNDS [PATH]
//! ```
//!
//! 1. Opens `CONNS` keep-alive connections one after the other, each making
//!    one GET and reading its response (so every server has set up all its
//!    per-connection state before the rounds start).
//! 2. Runs `ROUNDS` rounds: one GET written on every connection, then every
//!    response read (by `Content-Length`). Each round the server has up to
//!    `CONNS` requests in flight, one per connection, as under `wrk -cCONNS`.
//! 3. Closes every connection with a RST (`SO_LINGER 0`: no TIME_WAIT).
//!
//! Prints `requests=N` (rounds only) on success; exits 1 on any error
//! (connection refused, reset, a status other than 200).
//!
//! The per-request figure comes from two runs that differ only in `ROUNDS`:
//! `(instructions(R2) - instructions(R1)) / ((R2 - R1) * CONNS)`; start-up,
//! connection set-up and shutdown cancel out.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// One connection and the bytes received on it that are not consumed yet.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Read one response; its status code.
    fn response(&mut self) -> io::Result<u16> {
        loop {
            if let Some(end) = find_head_end(&self.buf) {
                let (status, length) = parse_head(&self.buf[..end])?;
                while self.buf.len() < end + length {
                    self.read_some()?;
                }
                self.buf.drain(..end + length);
                return Ok(status);
            }
            self.read_some()?;
        }
    }

    fn read_some(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
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

fn expect_ok(status: u16) -> io::Result<()> {
    if status == 200 {
        Ok(())
    } else {
        Err(bad(&format!("status {status}")))
    }
}

/// Close with a RST so that thousands of runs leave no TIME_WAIT behind.
fn set_linger_zero(s: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid open socket and a correctly sized `linger` value that
    // lives across the call.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn run(addr: SocketAddr, conns: usize, rounds: usize, path: &str) -> io::Result<usize> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes();
    let mut all = Vec::with_capacity(conns);
    for _ in 0..conns {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        // Under valgrind a server is ~50x slower; a lost response still
        // ends the run instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut c = Conn {
            stream,
            buf: Vec::with_capacity(4096),
        };
        c.stream.write_all(&request)?;
        expect_ok(c.response()?)?;
        all.push(c);
    }
    for _ in 0..rounds {
        for c in &mut all {
            c.stream.write_all(&request)?;
        }
        for c in &mut all {
            expect_ok(c.response()?)?;
        }
    }
    for c in &all {
        set_linger_zero(&c.stream);
    }
    Ok(rounds * conns)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<(SocketAddr, usize, usize, String), String> {
        let usage = "usage: bench_reqseq ADDR CONNS ROUNDS [PATH]";
        let addr = args.first().ok_or(usage)?;
        let conns = args.get(1).ok_or(usage)?;
        let rounds = args.get(2).ok_or(usage)?;
        Ok((
            addr.parse().map_err(|e| format!("{addr}: {e}"))?,
            conns.parse().map_err(|e| format!("{conns}: {e}"))?,
            rounds.parse().map_err(|e| format!("{rounds}: {e}"))?,
            args.get(3).cloned().unwrap_or_else(|| "/".into()),
        ))
    })();
    let (addr, conns, rounds, path) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    match run(addr, conns, rounds, &path) {
        Ok(n) => println!("requests={n}"),
        Err(e) => {
            eprintln!("bench_reqseq: {e}");
            std::process::exit(1);
        }
    }
}
