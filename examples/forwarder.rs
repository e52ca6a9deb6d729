//! Port of eventlet's `examples/forwarder.py`: a port forwarder from
//! localhost:7000 to localhost:22. Each client gets a new connection to the
//! target and two green threads, one per direction; when the client closes its
//! side, the callback prints `called back`.
//!
//! ```text
//! cargo run --example forwarder                                   # localhost:7000 -> localhost:22
//! cargo run --example forwarder -- 127.0.0.1:0 127.0.0.1:8090     # listen address, then target
//! ```
//!
//! Two changes from the original, both where it is broken: it compares the
//! bytes read with the text `''`, which is never true on Python 3, so it never
//! saw end of file and spun for ever; here a direction ends at end of file (or
//! an error) and passes the end on with a half-close (`shutdown(Write)`), so the
//! other side sees it too and both connections close once both directions are
//! done. And it prints the address it listens on (the original prints nothing),
//! so that `127.0.0.1:0` is usable.

use eventlet::Stream;
use std::io::{self, Read, Write};
use std::net::Shutdown;

fn closed_callback() {
    println!("called back");
}

/// Forwards bytes unidirectionally from `source` to `dest`.
fn forward(mut source: Stream, mut dest: Stream, cb: fn()) {
    let mut buf = vec![0; 32384];
    loop {
        match source.read(&mut buf) {
            Ok(0) | Err(_) => {
                cb();
                break;
            }
            Ok(n) => {
                if dest.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    // Pass the end on; an error only means the other side is gone already.
    let _ = dest.shutdown(Shutdown::Write);
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen_at = args.next().unwrap_or_else(|| "localhost:7000".to_string());
    let target = args.next().unwrap_or_else(|| "localhost:22".to_string());
    let listener = eventlet::listen(listen_at.as_str())?;
    println!("forwarding {} to {target}", listener.local_addr()?);
    loop {
        let (client, _addr) = listener.accept()?;
        let server = eventlet::connect(target.as_str())?;
        // two unidirectional forwarders make a bidirectional one
        let (client2, server2) = (client.try_clone()?, server.try_clone()?);
        eventlet::spawn_n(move || forward(client, server, closed_callback));
        eventlet::spawn_n(move || forward(server2, client2, || {}));
    }
}
