//! Port of eventlet's `examples/chat_bridge.py`: a ZeroMQ forwarder device that
//! receives on a SUB socket bound to `sub_address` (subscribed to everything)
//! and sends every message on a PUB socket bound to `pub_address`.
//!
//! ```text
//! cargo run --example chat_bridge --features zmq -- tcp://127.0.0.1:5555 tcp://127.0.0.1:5556
//! ```
//!
//! The original runs pyzmq's `Device(FORWARDER, SUB, PUB)`, libzmq's blocking
//! proxy loop; here the loop is a green thread over `eventlet::zmq` sockets, so
//! the same process could serve other green threads meanwhile. Output lines as
//! in the original, its spelling (`Recieving`) included.

use eventlet::zmq::{Context, Socket, PUB, SUB};
use std::io;

fn main() -> io::Result<()> {
    let usage = "usage: chat_bridge sub_address pub_address";
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        println!("{usage}");
        std::process::exit(1);
    }
    let (sub_addr, pub_addr) = (&args[0], &args[1]);
    println!("Recieving on {sub_addr}");
    println!("Sending on {pub_addr}");
    let ctx = Context::new();
    let frontend = Socket::new(&ctx, SUB)?;
    frontend.bind(sub_addr)?;
    frontend.set_subscribe(b"")?;
    let backend = Socket::new(&ctx, PUB)?;
    backend.bind(pub_addr)?;
    let device = eventlet::spawn(move || -> Result<(), String> {
        loop {
            let parts = frontend.recv_multipart(0).map_err(|e| e.to_string())?;
            backend
                .send_multipart(parts, 0)
                .map_err(|e| e.to_string())?;
        }
    });
    device
        .join()
        .map_err(io::Error::other)?
        .map_err(io::Error::other)
}
