//! Port of eventlet's `examples/distributed_websocket_chat.py`: the WebSocket
//! chat with many servers. A participant may connect to any server; what it
//! sends is published over ZeroMQ and every server hands it to all of its own
//! participants, so everyone on every server sees it. The servers meet at a
//! forwarder device, `chat_bridge`, which they publish to and subscribe from.
//!
//! ```text
//! cargo run --features zmq --example chat_bridge -- tcp://127.0.0.1:12345 tcp://127.0.0.1:12346
//! cargo run --features zmq --example distributed_websocket_chat -- -p tcp://127.0.0.1:12345 -s tcp://127.0.0.1:12346 7000
//! cargo run --features zmq --example distributed_websocket_chat -- -p tcp://127.0.0.1:12345 -s tcp://127.0.0.1:12346 7001
//! ```
//!
//! Open `http://localhost:7000/` and `http://localhost:7001/` (the page of
//! `websocket_chat`) and type. Each participant is named by a uuid1 until it
//! sends `name: NEW_NAME`; it sees its own lines as `you said: ...` and the
//! others' as `NAME says: ...`. Output lines as in the original.
//!
//! Differences, each because of how this runtime differs:
//! - Every argument is optional: `-p` defaults to `tcp://127.0.0.1:12345`,
//!   `-s` to `tcp://127.0.0.1:12346` (the addresses of the original's
//!   docstring) and the port to 7000; the port may also be `HOST:PORT`, and
//!   port 0 picks a free one (the line printed names the real one).
//! - A libzmq socket must not be used by two threads at once, and green
//!   threads run on several worker threads here, so the handlers do not share
//!   the PUB socket: they put their messages on an `eventlet::queue`, and one
//!   green thread owns the PUB socket and publishes. The SUB socket is owned
//!   by the distributing green thread, as in the original.
//! - The original pickles `(IDName, message)` (`send_pyobj`); here it is a
//!   three-part ZeroMQ message `[sender id, sender name, message]`.
//! - The page follows its own address for the WebSocket URL instead of
//!   having the port filled in.

use eventlet::queue::LightQueue;
use eventlet::zmq::{Context, Socket, PUB, SUB};
use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::{App, Body, Environ, StartResponse};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const PAGE: &str = include_str!("websocket_chat.html");
const USAGE: &str = "usage: websocket_chat -p pub address -s sub address port number";

/// eventlet's `IDName`: a uuid1, and a name once the participant picks one.
#[derive(Clone)]
struct IdName {
    id: String,
    name: Option<String>,
}

impl IdName {
    fn new() -> IdName {
        // uuid1's node: random bits with the multicast bit set (RFC 4122 §4.5),
        // as Python's uuid does when it finds no hardware address.
        let random = Uuid::new_v4();
        let mut node = [0u8; 6];
        node.copy_from_slice(&random.as_bytes()[..6]);
        node[0] |= 1;
        IdName {
            id: Uuid::now_v1(&node).to_string(),
            name: None,
        }
    }

    /// `str(name_id)`.
    fn display(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// `pack_message`: the ZeroMQ parts.
    fn pack_message(&self, msg: &str) -> [Vec<u8>; 3] {
        [
            self.id.clone().into_bytes(),
            self.display().as_bytes().to_vec(),
            msg.as_bytes().to_vec(),
        ]
    }

    /// `unpack_message`: how this participant sees a message; `None` for
    /// parts that are not a chat message.
    fn unpack_message(&self, parts: &[Vec<u8>]) -> Option<String> {
        let [id, name, message] = parts else {
            return None;
        };
        let sender_name = if id.as_slice() == self.id.as_bytes() {
            "you said".to_string()
        } else {
            format!("{} says", String::from_utf8_lossy(name))
        };
        Some(format!(
            "{sender_name}: {}",
            String::from_utf8_lossy(message)
        ))
    }
}

/// eventlet's `participants`: every WebSocket of this server with its name.
#[derive(Clone, Default)]
struct Participants(Arc<Mutex<HashMap<u64, (WebSocket, IdName)>>>);

impl Participants {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (WebSocket, IdName)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Copied out, so that no lock is held across a blocking send.
    fn snapshot(&self) -> Vec<(u64, WebSocket, IdName)> {
        self.lock()
            .iter()
            .map(|(k, (ws, n))| (*k, ws.clone(), n.clone()))
            .collect()
    }
}

/// Messages waiting to be published.
type Outgoing = Arc<LightQueue<[Vec<u8>; 3]>>;

/// eventlet's `subscribe_and_distribute`: the one owner of the SUB socket.
fn subscribe_and_distribute(sub_socket: Socket, participants: Participants) -> io::Result<()> {
    loop {
        let msg = sub_socket.recv_multipart(0)?;
        for (key, ws, name_id) in participants.snapshot() {
            if let Some(to_send) = name_id.unpack_message(&msg) {
                if ws.send(to_send).is_err() {
                    participants.lock().remove(&key);
                }
            }
        }
    }
}

/// The one owner of the PUB socket.
fn publisher(pub_socket: Socket, outgoing: Outgoing) -> io::Result<()> {
    while let Ok(parts) = outgoing.get() {
        pub_socket.send_multipart(parts, 0)?;
    }
    Ok(())
}

/// eventlet's `handle(ws)`.
fn handle(ws: WebSocket, participants: &Participants, outgoing: &Outgoing) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut name_id = IdName::new();
    participants
        .lock()
        .insert(key, (ws.clone(), name_id.clone()));
    let greeting = format!(
        "Connected as {}, change name with 'name: new_name'",
        name_id.display()
    );
    if ws.send(greeting).is_ok() {
        while let Some(m) = ws.wait() {
            let mut m = String::from_utf8_lossy(m.as_bytes()).into_owned();
            if let Some(new_name) = m.strip_prefix("name:") {
                let old_name = name_id.display().to_string();
                name_id.name = Some(new_name.trim().to_string());
                if let Some(entry) = participants.lock().get_mut(&key) {
                    entry.1 = name_id.clone();
                }
                m = format!("Changed name from {old_name}");
            }
            // Unbounded queue: `put` does not block.
            let _ = outgoing.put(name_id.pack_message(&m));
            eventlet::sleep(Duration::ZERO);
        }
    }
    participants.lock().remove(&key);
}

/// eventlet's `dispatch`: `/chat` is the WebSocket, anything else the page.
fn dispatch(participants: Participants, outgoing: Outgoing) -> impl App {
    let chat = WebSocketWsgi::new(move |ws| handle(ws, &participants, &outgoing));
    move |env: &mut Environ, sr: &mut StartResponse| -> Body {
        if env.get("PATH_INFO") == Some("/chat") {
            chat.call(env, sr)
        } else {
            sr.start("200 OK", [("Content-Type", "text/html")]);
            Body::from(PAGE)
        }
    }
}

/// The command line: `[-p PUB] [-s SUB] [PORT | HOST:PORT]`.
fn parse_args(args: &[String]) -> Result<(String, String, String), String> {
    let mut pub_addr = "tcp://127.0.0.1:12345".to_string();
    let mut sub_addr = "tcp://127.0.0.1:12346".to_string();
    let mut listen_at = "127.0.0.1:7000".to_string();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-p" => pub_addr = it.next().ok_or(USAGE)?.clone(),
            "-s" => sub_addr = it.next().ok_or(USAGE)?.clone(),
            port if port.parse::<u16>().is_ok() => listen_at = format!("127.0.0.1:{port}"),
            addr if addr
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok()) =>
            {
                listen_at = addr.to_string()
            }
            _ => {
                return Err(format!(
                    "Error port supplied couldn't be converted to int\n {USAGE}"
                ))
            }
        }
    }
    Ok((pub_addr, sub_addr, listen_at))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (pub_addr, sub_addr, listen_at) = parse_args(&args).unwrap_or_else(|msg| {
        println!("{msg}");
        std::process::exit(1);
    });
    let ctx = Context::new();
    let sockets = (|| -> io::Result<(Socket, Socket)> {
        let pub_socket = Socket::new(&ctx, PUB)?;
        pub_socket.connect(&pub_addr)?;
        println!("Publishing to {pub_addr}");
        let sub_socket = Socket::new(&ctx, SUB)?;
        sub_socket.connect(&sub_addr)?;
        sub_socket.set_subscribe(b"")?;
        println!("Subscribing to {sub_addr}");
        Ok((pub_socket, sub_socket))
    })();
    let Ok((pub_socket, sub_socket)) = sockets else {
        println!("Couldn't create sockets\n {USAGE}");
        std::process::exit(1);
    };
    let participants = Participants::default();
    let outgoing: Outgoing = Arc::new(LightQueue::new());
    {
        let participants = participants.clone();
        eventlet::spawn_n(move || {
            if let Err(e) = subscribe_and_distribute(sub_socket, participants) {
                eprintln!("subscribe_and_distribute: {e}");
            }
        });
    }
    {
        let outgoing = outgoing.clone();
        eventlet::spawn_n(move || {
            if let Err(e) = publisher(pub_socket, outgoing) {
                eprintln!("publisher: {e}");
            }
        });
    }
    let listener = eventlet::listen(listen_at.as_str())?;
    let port = listener.local_addr()?.inet().map_or(0, |a| a.port());
    println!("\nVisit http://localhost:{port}/ in your websocket-capable browser.\n");
    eventlet_wsgi::server(listener, dispatch(participants, outgoing))
}
