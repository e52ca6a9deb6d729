//! Port of eventlet's `examples/chat_server.py`: every line a participant sends
//! is passed on to all the other participants.
//!
//! ```text
//! cargo run --example chat_server                    # listens on 0.0.0.0:3001
//! cargo run --example chat_server -- 127.0.0.1:0     # any address; prints the port
//! nc localhost 3001                           # in two or more terminals
//! ```
//!
//! Unlike the Python original, which writes to the other participants' sockets
//! straight from the sender's green thread, each participant here has its own
//! writer green thread fed by a queue: two senders then never interleave their
//! bytes on one socket, and a participant who stops reading stalls only its own
//! writer, not the whole chat. (Green threads run on several worker threads
//! here, so eventlet's "only one green thread runs at a time" does not hold;
//! the queue is this runtime's idiom for "one writer per socket", and no lock
//! is ever held across a blocking call.)

use eventlet::queue::LightQueue;
use eventlet::Stream;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

/// A participant's outgoing lines; `None` tells its writer to stop.
type Outbox = Arc<LightQueue<Option<Arc<Vec<u8>>>>>;

/// Everyone in the chat, by id. The lock is only held to copy or change the
/// map, never across a blocking call.
#[derive(Clone, Default)]
struct Participants(Arc<Mutex<HashMap<u64, Outbox>>>);

impl Participants {
    fn join(&self, id: u64, outbox: Outbox) {
        self.lock().insert(id, outbox);
    }

    fn leave(&self, id: u64) {
        if let Some(outbox) = self.lock().remove(&id) {
            let _ = outbox.put(None);
        }
    }

    /// Queue `line` for everyone but `from` (don't echo).
    fn broadcast(&self, from: u64, line: Vec<u8>) {
        let line = Arc::new(line);
        let others: Vec<Outbox> = self
            .lock()
            .iter()
            .filter(|(id, _)| **id != from)
            .map(|(_, outbox)| outbox.clone())
            .collect();
        for outbox in others {
            // Unbounded queue: `put` does not block.
            let _ = outbox.put(Some(line.clone()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Outbox>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn read_chat_forever(id: u64, conn: Stream, participants: Participants) {
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    // A read error ends the participant's session just like EOF.
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        println!("Chat: {}", String::from_utf8_lossy(&line).trim());
        participants.broadcast(id, std::mem::take(&mut line));
    }
    participants.leave(id);
    println!("Participant left chat.");
}

fn write_forever(mut conn: Stream, outbox: Outbox) {
    while let Ok(Some(line)) = outbox.get() {
        // A broken pipe just means the participant closed its connection
        // already; its reader notices and removes it.
        if conn.write_all(&line).is_err() {
            break;
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:3001".to_string());
    let server = eventlet::listen(addr.as_str())?;
    let port = server.local_addr()?.inet().map_or(0, |a| a.port());
    println!("ChatServer starting up on port {port}");
    let participants = Participants::default();
    for id in 0u64.. {
        let (conn, _address) = server.accept()?;
        let writer = conn.try_clone()?;
        let outbox: Outbox = Arc::new(LightQueue::new());
        participants.join(id, outbox.clone());
        // Printed once the participant is in the chat (the original prints
        // first; with one Python thread nobody can tell the difference).
        println!("Participant joined chat.");
        eventlet::spawn_n(move || write_forever(writer, outbox));
        let participants = participants.clone();
        eventlet::spawn_n(move || read_chat_forever(id, conn, participants));
    }
    Ok(())
}
