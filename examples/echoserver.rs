//! Port of eventlet's `examples/echoserver.py`: a server that echoes every line
//! back to the client that sent it, one green thread per client.
//!
//! ```text
//! cargo run --example echoserver                    # listens on 0.0.0.0:6000
//! cargo run --example echoserver -- 127.0.0.1:0     # any address; prints the port
//! telnet localhost 6000                             # or: nc localhost 6000
//! ```

use std::io::{self, BufRead, BufReader, Write};

/// Pass every line through until the client closes the connection.
fn handle(stream: eventlet::Stream) -> io::Result<()> {
    println!("client connected");
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let conn = reader.get_mut();
        conn.write_all(&line)?;
        conn.flush()?;
        print!("echoed {}", String::from_utf8_lossy(&line));
    }
    println!("client disconnected");
    Ok(())
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:6000".to_string());
    let server = eventlet::listen(addr.as_str())?;
    let port = server.local_addr()?.inet().map_or(0, |a| a.port());
    println!("server socket listening on port {port}");
    let pool = eventlet::GreenPool::new(1000);
    loop {
        match server.accept() {
            Ok((stream, address)) => {
                println!("accepted {address}");
                pool.spawn_n(move || {
                    if let Err(e) = handle(stream) {
                        println!("client error: {e}");
                    }
                })?;
            }
            // Out of file descriptors and the like: wait a little, go on.
            Err(e) if eventlet::net::is_transient_accept_error(&e) => {
                eprintln!("accept failed: {e}");
                eventlet::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    }
}
