//! `WebSocket::feed` / `flush` over real sockets: fed messages wait until the
//! handler's next `wait()` is about to read (or a `send`, `flush`, close, or
//! the 64 KiB bound), then go out in order, byte for byte; `send` still
//! writes at once; a fed message comes before the close frame (handler
//! return, `close`, server shutdown); order holds with sends and flushes
//! from other green threads, over TLS, and with permessage-deflate.

mod common;
mod ws_common;

use common::*;
use eventlet_wsgi::websocket::{Message, WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use flate2::Decompress;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use ws_common::*;

/// The echo loop of `examples/websocket.rs`: `feed`, and `wait` flushes.
fn feed_echo(ws: WebSocket) {
    while let Some(m) = ws.wait() {
        if ws.feed(m).is_err() {
            break;
        }
    }
}

/// Keep the handler's green thread away from `wait()` until the test says so.
fn hold(release: &AtomicBool) {
    let t = Instant::now();
    while !release.load(Ordering::SeqCst) {
        assert!(t.elapsed() < Duration::from_secs(60), "never released");
        eventlet::sleep(Duration::from_millis(5));
    }
}

fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the handler reported")
}

/// The i-th message of a pipelined sequence: text or binary, 1 to ~200
/// bytes (one of each 50 is 20,000 bytes: the path that is not copied).
fn nth(i: usize) -> (u8, Vec<u8>) {
    let len = if i % 50 == 49 {
        20_000
    } else {
        1 + i * 7 % 200
    };
    let payload: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
    (if i.is_multiple_of(3) { 0x82 } else { 0x81 }, payload)
}

/// Send `n` messages in bursts of `burst` frames per write (at most two
/// bursts ahead of the echoes: the client does not read while it writes),
/// and read every echo, checking order, type and bytes; `other(frame)`
/// takes the frames that are not echoes (true when it took one).
fn pipelined_echo<S: io::Read + io::Write>(
    c: &mut Client<S>,
    n: usize,
    burst: usize,
    mut other: impl FnMut(&Frame) -> bool,
) {
    pipelined(c, n, burst, |next, f| {
        if other(f) {
            return false;
        }
        let (first, p) = nth(next);
        assert_eq!((f.first, f.payload.len()), (first, p.len()), "echo {next}");
        assert!(f.payload == p, "echo {next}: bytes differ");
        true
    });
}

/// The sending and reading loop of [`pipelined_echo`]: `echo(next, frame)`
/// checks `frame` as the echo of message `next`, or returns false when the
/// frame is not an echo.
fn pipelined<S: io::Read + io::Write>(
    c: &mut Client<S>,
    n: usize,
    burst: usize,
    mut echo: impl FnMut(usize, &Frame) -> bool,
) {
    let mut next = 0;
    let mut sent = 0;
    while next < n {
        if sent < n && sent < next + 2 * burst {
            let end = (sent + burst).min(n);
            let bytes: Vec<u8> = (sent..end)
                .flat_map(|i| {
                    let (first, p) = nth(i);
                    frame(first, &p)
                })
                .collect();
            c.send(&bytes);
            sent = end;
            continue;
        }
        let f = c.read_frame().expect("an echo");
        if echo(next, &f) {
            next += 1;
        }
    }
}

#[test]
fn feed_echo_answers_pipelined_bursts_in_order() {
    let srv = spawn_server(
        WebSocketWsgi::new(feed_echo).permessage_deflate(false),
        ServerOptions::new(),
    );
    for burst in [1, 16, 100] {
        let mut c = Client::connect(srv.addr, "/");
        pipelined_echo(&mut c, 600, burst, |_| false);
        c.send(&frame(0x88, &close_payload(1000, "")));
        assert_eq!(c.expect_close(), Some(1000));
        assert!(c.at_eof());
    }
}

#[test]
fn fed_messages_wait_for_the_next_wait_and_send_writes_at_once() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        assert_eq!(ws.wait(), Some(Message::Text("go".into())));
        ws.feed("a").unwrap();
        ws.feed(vec![1u8, 2]).unwrap();
        // `send` writes the queue and its message now.
        ws.send("c").unwrap();
        ws.feed("d").unwrap();
        tx.lock().unwrap().send(()).unwrap();
        // Away from wait(): "d" stays queued.
        hold(&r);
        feed_echo(ws);
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    c.send(&frame(0x81, b"go"));
    recv(&rx);
    // The handler is held (not in wait): what send wrote is here.
    for (first, payload) in [(0x81, &b"a"[..]), (0x82, &[1, 2][..]), (0x81, &b"c"[..])] {
        assert_eq!(
            c.read_frame().unwrap(),
            Frame {
                first,
                payload: payload.to_vec()
            }
        );
    }
    c.s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    match c.try_read_frame() {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!("a fed message went out before wait(): {other:?}"),
    }
    c.s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    release.store(true, Ordering::SeqCst);
    // The handler's wait() writes it before it blocks.
    assert_eq!(c.read_frame().unwrap().payload, b"d");
    c.send(&frame(0x81, b"e"));
    assert_eq!(c.read_frame().unwrap().payload, b"e");
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
    assert!(c.at_eof());
}

#[test]
fn a_fed_message_comes_before_the_close_frame() {
    let app = WebSocketWsgi::new(|ws: WebSocket| match ws.path() {
        "/return" => {
            ws.feed("bye").unwrap();
        }
        "/close" => {
            ws.feed("x").unwrap();
            ws.close(4000, "done").unwrap();
            assert_eq!(ws.wait(), None);
        }
        _ => {
            // A panic closes with 1011, behind what was fed.
            ws.feed("last").unwrap();
            panic!("on purpose");
        }
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    for (path, text, code) in [
        ("/return", &b"bye"[..], 1000),
        ("/close", b"x", 4000),
        ("/panic", b"last", 1011),
    ] {
        let mut c = Client::connect(srv.addr, path);
        let f = c.read_frame().unwrap();
        assert_eq!((f.opcode(), f.payload.as_slice()), (1, text), "{path}");
        let f = c.read_frame().unwrap();
        assert_eq!(f.close_code(), Some(code), "{path}");
        c.send(&frame(0x88, &close_payload(code, "")));
        assert!(c.at_eof(), "{path}");
    }
}

#[test]
fn server_shutdown_writes_fed_messages_before_1001() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        assert_eq!(ws.wait(), Some(Message::Text("go".into())));
        ws.feed("pending").unwrap();
        tx.lock().unwrap().send(()).unwrap();
        hold(&r);
        // The client answered the 1001: wait() ends.
        assert_eq!(ws.wait(), None);
    })
    .permessage_deflate(false);
    let mut srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    c.send(&frame(0x81, b"go"));
    recv(&rx);
    let handle = srv.handle.clone();
    let running = srv.running.take().unwrap();
    handle.stop();
    let f = c.read_frame().unwrap();
    assert_eq!((f.opcode(), f.payload.as_slice()), (1, &b"pending"[..]));
    assert_eq!(c.read_frame().unwrap().close_code(), Some(1001));
    c.send(&frame(0x88, &close_payload(1001, "")));
    release.store(true, Ordering::SeqCst);
    assert!(c.at_eof());
    running.join().unwrap().unwrap();
}

#[test]
fn feed_keeps_order_with_other_green_threads() {
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        assert_eq!(ws.wait(), Some(Message::Text("go".into())));
        ws.feed("x1").unwrap();
        // A send from another green thread goes out behind the fed message.
        let w = ws.clone();
        eventlet::spawn(move || w.send("y").unwrap())
            .wait()
            .unwrap();
        ws.feed("x2").unwrap();
        // And so does another green thread's feed + flush.
        let w = ws.clone();
        eventlet::spawn(move || {
            w.feed("z").unwrap();
            w.flush().unwrap();
        })
        .wait()
        .unwrap();
        // Now a ticker sends while the echo loop feeds.
        let w = ws.clone();
        let ticker = eventlet::spawn(move || {
            for i in 0..200u32 {
                if w.send(format!("tick {i}")).is_err() {
                    return;
                }
                if i.is_multiple_of(4) {
                    eventlet::sleep(Duration::from_millis(1));
                }
            }
        });
        feed_echo(ws);
        let _ = ticker.wait();
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    c.send(&frame(0x81, b"go"));
    for want in ["x1", "y", "x2", "z"] {
        assert_eq!(c.read_frame().unwrap().payload, want.as_bytes());
    }
    let mut ticks = 0;
    pipelined_echo(&mut c, 800, 16, |f| {
        let ok = f.first == 0x81 && f.payload == format!("tick {ticks}").as_bytes();
        if ok {
            ticks += 1;
        }
        ok
    });
    while ticks < 200 {
        let f = c.read_frame().unwrap();
        assert_eq!(f.payload, format!("tick {ticks}").as_bytes());
        ticks += 1;
    }
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}

#[test]
fn the_queue_is_written_past_64_kib() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        assert_eq!(ws.wait(), Some(Message::Text("go".into())));
        // 1,004 bytes a frame: the 66th takes the queue past 64 KiB.
        for i in 0..100u8 {
            ws.feed(vec![i; 1000]).unwrap();
        }
        tx.lock().unwrap().send(()).unwrap();
        hold(&r);
        feed_echo(ws);
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    c.send(&frame(0x81, b"go"));
    recv(&rx);
    for i in 0..66u8 {
        let f = c.read_frame().unwrap();
        assert_eq!((f.first, f.payload), (0x82, vec![i; 1000]));
    }
    c.s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        c.try_read_frame().is_err(),
        "only what passed the bound is written"
    );
    c.s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    release.store(true, Ordering::SeqCst);
    for i in 66..100u8 {
        let f = c.read_frame().unwrap();
        assert_eq!((f.first, f.payload), (0x82, vec![i; 1000]));
    }
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}

#[test]
fn feed_over_tls_with_a_sender_in_another_green_thread() {
    let (listener, client_cfg) = tls_listener();
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        let w = ws.clone();
        let ticker = eventlet::spawn(move || {
            for i in 0..100 {
                if w.send(format!("tick {i}")).is_err() {
                    return;
                }
                eventlet::sleep(Duration::from_millis(1));
            }
        });
        feed_echo(ws);
        let _ = ticker.wait();
    })
    .permessage_deflate(false);
    let srv = spawn_on(listener, app, ServerOptions::new());
    let addr = srv.addr;
    // The client is a green thread too (eventlet's TLS client stream).
    let client = eventlet::spawn(move || {
        let s = eventlet::tls::connect(addr, "localhost", &client_cfg).unwrap();
        let mut c = Client::over(s, &handshake_request("/", &[]), b"");
        assert_eq!(c.status, 101, "{}", c.head);
        let mut ticks = 0;
        pipelined_echo(&mut c, 400, 16, |f| {
            let ok = f.payload == format!("tick {ticks}").as_bytes();
            if ok {
                ticks += 1;
            }
            ok
        });
        while ticks < 100 {
            let f = c.read_frame().expect("tick");
            assert_eq!(f.payload, format!("tick {ticks}").as_bytes());
            ticks += 1;
        }
        c.send(&frame(0x88, &close_payload(1000, "")));
        let code = c.expect_close();
        (code, c.at_eof())
    });
    assert_eq!(client.join().unwrap(), (Some(1000), true));
}

#[test]
fn feed_with_deflate_keeps_the_compressed_stream_in_order() {
    big_stacks();
    let srv = spawn_server(WebSocketWsgi::new(feed_echo), ServerOptions::new());
    // Context takeover both ways: every compressed echo refers back to the
    // ones before it, so one out of order or lost would not inflate.
    let mut c = connect_deflate(srv.addr);
    let mut inflater = Decompress::new(false);
    pipelined(&mut c, 300, 16, |next, f| {
        let (first, p) = nth(next);
        assert_eq!(f.first, first | 0x40, "echo {next}: compressed, same type");
        assert!(
            inflate(&mut inflater, &f.payload) == p,
            "echo {next}: bytes differ"
        );
        true
    });
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}
