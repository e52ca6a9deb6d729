//! Server keepalive pings ([`WebSocketWsgi::keepalive`]) over real sockets: a
//! client that answers the pings stays connected well past the dead-peer
//! timeout; one that never answers is closed (1011, then the TCP connection)
//! after it, the handler's `wait()` returns `None`, and the server keeps
//! serving the others. Wide margins: the machine running the tests is noisy.

mod common;
mod ws_common;

use common::*;
use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use ws_common::*;

const INTERVAL: Duration = Duration::from_millis(200);
const DEAD_AFTER: Duration = Duration::from_millis(1500);

/// What the handler saw when its `wait()` returned `None`.
#[derive(Debug)]
struct Ended {
    closed: bool,
    close_code: Option<u16>,
}

/// An echo server with keepalive; each handler reports how it ended.
fn server() -> (TestServer, mpsc::Receiver<Ended>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        while let Some(m) = ws.wait() {
            if ws.send(m).is_err() {
                break;
            }
        }
        let ended = Ended {
            closed: ws.closed(),
            close_code: ws.close_code(),
        };
        let _ = tx.lock().unwrap().send(ended);
    })
    .keepalive(INTERVAL, DEAD_AFTER);
    (spawn_server(app, ServerOptions::new()), rx)
}

/// A client that answers every ping for `dur`, then checks an echo and
/// closes cleanly. Returns the number of pings seen.
fn answer_pings(addr: SocketAddr, dur: Duration) -> usize {
    let mut c = Client::connect(addr, "/");
    let start = Instant::now();
    let mut pings = 0;
    c.s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while start.elapsed() < dur {
        match c.try_read_frame() {
            Ok(Some(f)) => {
                assert_eq!(f.opcode(), 9, "only pings while idle: {f:?}");
                assert!(f.payload.len() <= 125);
                pings += 1;
                c.send(&frame(0x8a, &f.payload));
            }
            Ok(None) => panic!("closed after {:?} with {pings} pings", start.elapsed()),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
        }
    }
    c.s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.send(&frame(0x81, b"still here"));
    loop {
        let f = c.read_frame().expect("the echo");
        if f.opcode() == 9 {
            c.send(&frame(0x8a, &f.payload));
            continue;
        }
        assert_eq!((f.opcode(), f.payload.as_slice()), (1, &b"still here"[..]));
        break;
    }
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
    assert!(c.at_eof());
    pings
}

#[test]
fn answered_pings_keep_the_connection_open() {
    let (srv, ended) = server();
    // Well past the dead-peer timeout: only the pongs keep it open.
    let pings = answer_pings(srv.addr, DEAD_AFTER * 3);
    // ~22 expected (one per interval of silence); a loaded machine sends fewer.
    assert!(pings >= 4, "{pings} pings in {:?}", DEAD_AFTER * 3);
    let e = ended.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(e.closed);
    assert_eq!(e.close_code, Some(1000));
}

#[test]
fn silent_client_is_closed_after_the_dead_peer_timeout() {
    let (srv, ended) = server();
    let addr = srv.addr;
    // Another client, answering its pings the whole time.
    let other = std::thread::spawn(move || answer_pings(addr, DEAD_AFTER * 3));

    let mut c = Client::connect(srv.addr, "/");
    let start = Instant::now();
    let mut pings = 0;
    let close = loop {
        let f = c.read_frame().expect("a close frame before EOF");
        match f.opcode() {
            9 => pings += 1, // never answered
            8 => break f,
            op => panic!("unexpected opcode {op}"),
        }
    };
    let waited = start.elapsed();
    assert_eq!(close.close_code(), Some(1011), "{close:?}");
    assert_eq!(&close.payload[2..], b"keepalive ping timeout");
    // Closed without waiting for our close frame.
    assert!(c.at_eof());
    assert!(
        waited >= DEAD_AFTER - Duration::from_millis(50),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(15), "closed after {waited:?}");
    assert!(pings >= 2, "{pings} pings before the close");

    // The server kept serving: the other client was answered throughout,
    // and a new one is served.
    assert!(other.join().unwrap() >= 4);
    let mut ends: Vec<Ended> = (0..2)
        .map(|_| ended.recv_timeout(Duration::from_secs(20)).unwrap())
        .collect();
    ends.sort_by_key(|e| e.close_code);
    // The silent client's handler: wait() returned None, closed, no peer code.
    assert!(
        ends[0].closed,
        "wait() returned None with the WebSocket open"
    );
    assert_eq!(ends[0].close_code, None, "the client sent no close frame");
    assert_eq!(ends[1].close_code, Some(1000));
    let mut c = Client::connect(srv.addr, "/");
    c.send(&frame(0x82, &[1, 2, 3]));
    let f = c.read_frame().unwrap();
    assert_eq!((f.opcode(), f.payload), (2, vec![1, 2, 3]));
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}
