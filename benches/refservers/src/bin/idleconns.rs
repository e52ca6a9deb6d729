//! Opens N keep-alive connections, makes one GET on each (so the server has
//! set up its per-connection state), then holds them all idle until killed or
//! until HOLD_SECONDS pass. Prints `ready N` on stdout once every connection
//! has had its response; the caller samples the server's RSS after that.
//! The sockets close with a RST when the process ends (SO_LINGER 0).
//!
//! `idleconns ADDR N [HOLD_SECONDS] [THREADS]`

use refservers::{exchange, get_request};
use socket2::SockRef;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn open(addr: SocketAddr, count: usize) -> std::io::Result<Vec<TcpStream>> {
    let request = get_request("/");
    let mut buf = Vec::with_capacity(4096);
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let status = exchange(&mut s, &request, &mut buf)?;
        if status != 200 {
            return Err(std::io::Error::other(format!("status {status}")));
        }
        // However this process ends, its sockets then close with a RST, so
        // 10,000 of them leave no TIME_WAIT behind to eat ephemeral ports.
        SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
        held.push(s);
    }
    Ok(held)
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<(SocketAddr, usize, u64, usize), String> {
        let addr = a
            .first()
            .ok_or("usage: idleconns ADDR N [HOLD_SECONDS] [THREADS]")?;
        let n = a.get(1).ok_or("missing N")?;
        Ok((
            addr.parse().map_err(|e| format!("{addr}: {e}"))?,
            n.parse().map_err(|e| format!("{n}: {e}"))?,
            a.get(2)
                .map_or(Ok(120), |s| s.parse())
                .map_err(|e| format!("{e}"))?,
            a.get(3)
                .map_or(Ok(4), |s| s.parse())
                .map_err(|e| format!("{e}"))?,
        ))
    })();
    let (addr, n, hold, threads) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let threads = threads.clamp(1, n.max(1));
    let opened: Result<Vec<Vec<TcpStream>>, String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let share = n / threads + usize::from(i < n % threads);
                s.spawn(move || open(addr, share))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| "thread panicked".to_string())?
                    .map_err(|e| e.to_string())
            })
            .collect()
    });
    let held = match opened {
        Ok(h) => h,
        Err(e) => {
            eprintln!("idleconns: {e}");
            std::process::exit(1);
        }
    };
    let total: usize = held.iter().map(Vec::len).sum();
    println!("ready {total}");
    let _ = std::io::stdout().flush();
    std::thread::sleep(Duration::from_secs(hold));
}
