//! Port of eventlet's `examples/zmq_simple.py`: a REQ client (bob) and a REP
//! server (alice) in two green threads of one process, talking through
//! `eventlet::zmq` (eventlet's `green.zmq`), ten round trips.
//!
//! ```text
//! cargo run --example zmq_simple --features zmq                           # on ipc:///tmp/test
//! cargo run --example zmq_simple --features zmq -- ipc:///tmp/other.ipc   # any ZeroMQ endpoint
//! ```
//!
//! Output lines as in the original, its typo (`ALIC SENDING`) included. Blocking
//! zmq calls in green threads would hold a worker each (with one worker, bob and
//! alice deadlock); the green sockets wait on libzmq's fd instead.

use eventlet::zmq::{Context, Socket, REP, REQ};
use std::io;

fn bob_client(ctx: &Context, addr: &str, count: usize) -> io::Result<()> {
    println!("STARTING BOB");
    let bob = Socket::new(ctx, REQ)?;
    bob.connect(addr)?;
    for _ in 0..count {
        println!("BOB SENDING");
        bob.send("HI", 0)?;
        println!("BOB GOT: {}", String::from_utf8_lossy(&bob.recv_bytes(0)?));
    }
    Ok(())
}

fn alice_server(ctx: &Context, addr: &str, count: usize) -> io::Result<()> {
    println!("STARTING ALICE");
    let alice = Socket::new(ctx, REP)?;
    alice.bind(addr)?;
    println!("ALICE READY");
    for _ in 0..count {
        println!(
            "ALICE GOT: {}",
            String::from_utf8_lossy(&alice.recv_bytes(0)?)
        );
        println!("ALIC SENDING");
        alice.send("HI BACK", 0)?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ipc:///tmp/test".to_string());
    let ctx = Context::new();
    let alice = {
        let (ctx, addr) = (ctx.clone(), addr.clone());
        eventlet::spawn(move || alice_server(&ctx, &addr, 10).map_err(|e| e.to_string()))
    };
    let bob = eventlet::spawn(move || bob_client(&ctx, &addr, 10).map_err(|e| e.to_string()));
    bob.join()
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
    alice
        .join()
        .map_err(io::Error::other)?
        .map_err(io::Error::other)?;
    Ok(())
}
