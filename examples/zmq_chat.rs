//! Port of eventlet's `examples/zmq_chat.py`: a TCP chat server whose messages
//! travel through ZeroMQ. Each line a participant sends is published on a PUB
//! socket as `(who, line)`; one subscriber per participant (and one for the
//! server's stdout) writes `who: line` back out. A line `name:NAME` sets who
//! the participant is (`someone` until then).
//!
//! ```text
//! cargo run --example zmq_chat --features zmq                                  # TCP 0.0.0.0:3001, ipc:///tmp/chat
//! cargo run --example zmq_chat --features zmq -- 127.0.0.1:0 ipc:///tmp/c.ipc  # any address; prints the port
//! nc localhost 3001                                                            # in two or more terminals
//! ```
//!
//! Output lines as in the original. Differences, each because of how this
//! runtime differs:
//! - A libzmq socket must not be used by two threads at once, and green threads
//!   run on several worker threads here, so the participants' readers do not
//!   share the PUB socket: they put `(who, line)` on an `eventlet::queue`, and
//!   one green thread owns the PUB socket and publishes.
//! - The original pickles `(who, line)` (`send_pyobj`); here it is a two-part
//!   ZeroMQ message `[who, line]`.

use eventlet::queue::LightQueue;
use eventlet::zmq::{Context, Socket, PUB, SUB};
use std::io::{self, BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

/// Lines waiting to be published, with who sent them.
type Outgoing = Arc<LightQueue<(String, Vec<u8>)>>;

/// Subscribe to every message and write `who: line` to `writer` until writing
/// fails (the participant left).
fn publish(ctx: Context, addr: String, mut writer: impl Write) -> io::Result<()> {
    println!("connected");
    let socket = Socket::new(&ctx, SUB)?;
    socket.set_subscribe(b"")?;
    socket.connect(&addr)?;
    eventlet::sleep(Duration::from_millis(100));
    loop {
        let parts = socket.recv_multipart(0)?;
        let [who, line] = &parts[..] else {
            continue; // not ours
        };
        let mut msg = format!("{}: ", String::from_utf8_lossy(who)).into_bytes();
        msg.extend_from_slice(line);
        writer.write_all(&msg)?;
        writer.flush()?;
    }
}

fn read_chat_forever(reader: eventlet::Stream, outgoing: Outgoing) {
    let mut reader = BufReader::new(reader);
    let mut who = "someone".to_string();
    let mut line = Vec::new();
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let text = String::from_utf8_lossy(&line).into_owned();
        println!("Chat: {}", text.trim());
        if text.starts_with("name:") {
            who = text.rsplit(':').next().unwrap_or("").trim().to_string();
        }
        // Unbounded queue: `put` does not block.
        let _ = outgoing.put((who.clone(), std::mem::take(&mut line)));
    }
    println!("Participant left chat.");
}

/// The one owner of the PUB socket.
fn publisher(pub_socket: Socket, outgoing: Outgoing) -> io::Result<()> {
    while let Ok((who, line)) = outgoing.get() {
        pub_socket.send_multipart([who.into_bytes(), line], 0)?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen_at = args.next().unwrap_or_else(|| "0.0.0.0:3001".to_string());
    let addr = args.next().unwrap_or_else(|| "ipc:///tmp/chat".to_string());
    let ctx = Context::new();
    let server = eventlet::listen(listen_at.as_str())?;
    let port = server.local_addr()?.inet().map_or(0, |a| a.port());
    println!("ChatServer starting up on port {port}");
    let pub_socket = Socket::new(&ctx, PUB)?;
    pub_socket.bind(&addr)?;
    let outgoing: Outgoing = Arc::new(LightQueue::new());
    {
        let outgoing = outgoing.clone();
        eventlet::spawn_n(move || {
            if let Err(e) = publisher(pub_socket, outgoing) {
                eprintln!("publisher: {e}");
            }
        });
    }
    {
        let (ctx, addr) = (ctx.clone(), addr.clone());
        eventlet::spawn_n(move || {
            let _ = publish(ctx, addr, io::stdout());
        });
    }
    loop {
        let (new_connection, _address) = server.accept()?;
        println!("Participant joined chat.");
        let writer = new_connection.try_clone()?;
        let (ctx, addr) = (ctx.clone(), addr.clone());
        // Ends when writing to the participant fails.
        eventlet::spawn_n(move || {
            let _ = publish(ctx, addr, writer);
        });
        let outgoing = outgoing.clone();
        eventlet::spawn_n(move || read_chat_forever(new_connection, outgoing));
    }
}
