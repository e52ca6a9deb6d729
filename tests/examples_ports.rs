//! The ports of eventlet's `examples/`, each started as a real process on
//! loopback (port 0 / a fresh ipc path) and driven by plain clients: the
//! output lines of the original and the behaviour over the wire.
//! The ZeroMQ ones run with `--features zmq`.

mod common;
#[cfg(feature = "zmq")]
mod ws_common;

use common::{read_http, ExampleProcess};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

const IO_WAIT: Duration = Duration::from_secs(20);

fn client(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the example");
    s.set_read_timeout(Some(IO_WAIT)).unwrap();
    s.set_write_timeout(Some(IO_WAIT)).unwrap();
    s
}

fn read_line(r: &mut impl BufRead) -> String {
    let mut line = String::new();
    r.read_line(&mut line).expect("read a line");
    line
}

#[test]
fn echoserver_echoes_each_line_back() {
    let mut ex = ExampleProcess::start("echoserver", &["127.0.0.1:0"]);
    let port = ex.port_after("server socket listening on port ");
    let mut a = client(port);
    let mut b = client(port);
    ex.wait_lines(2, 20, |l| l.starts_with("accepted 127.0.0.1:"));
    let mut ra = BufReader::new(a.try_clone().unwrap());
    let mut rb = BufReader::new(b.try_clone().unwrap());
    a.write_all(b"hello\n").unwrap();
    b.write_all(b"world\nand more\n").unwrap();
    assert_eq!(read_line(&mut ra), "hello\n");
    assert_eq!(read_line(&mut rb), "world\n");
    assert_eq!(read_line(&mut rb), "and more\n");
    ex.wait_line(20, |l| l == "echoed hello");
    ex.wait_line(20, |l| l == "echoed and more");
    assert_eq!(
        ex.seen()
            .iter()
            .filter(|l| *l == "client connected")
            .count(),
        2
    );
    drop((a, ra));
    ex.wait_line(20, |l| l == "client disconnected");
    // The other client is still served.
    b.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut rb), "still here\n");
}

#[test]
fn chat_server_passes_lines_to_everyone_else() {
    let mut ex = ExampleProcess::start("chat_server", &["127.0.0.1:0"]);
    let port = ex.port_after("ChatServer starting up on port ");
    let mut a = client(port);
    let mut b = client(port);
    let c = client(port);
    ex.wait_lines(3, 20, |l| l == "Participant joined chat.");
    let mut ra = BufReader::new(a.try_clone().unwrap());
    let mut rb = BufReader::new(b.try_clone().unwrap());
    let mut rc = BufReader::new(c.try_clone().unwrap());
    a.write_all(b"hi from a\n").unwrap();
    assert_eq!(read_line(&mut rb), "hi from a\n");
    assert_eq!(read_line(&mut rc), "hi from a\n");
    ex.wait_line(20, |l| l == "Chat: hi from a");
    // No echo: the first line `a` gets is `b`'s.
    b.write_all(b"hi from b\n").unwrap();
    assert_eq!(read_line(&mut ra), "hi from b\n");
    assert_eq!(read_line(&mut rc), "hi from b\n");

    // Two senders at once to the same participants: every line arrives whole.
    const LINES: usize = 300;
    let senders: Vec<_> = [(b.try_clone().unwrap(), 'b'), (c.try_clone().unwrap(), 'c')]
        .into_iter()
        .map(|(mut s, who)| {
            thread::spawn(move || {
                for i in 0..LINES {
                    let line = format!("{who} {i} {}\n", "x".repeat(200 + i % 50));
                    s.write_all(line.as_bytes()).unwrap();
                }
            })
        })
        .collect();
    let (mut next_b, mut next_c) = (0, 0);
    for _ in 0..2 * LINES {
        let line = read_line(&mut ra);
        let mut parts = line.trim_end().splitn(3, ' ');
        let (who, i, pad) = (
            parts.next().unwrap(),
            parts.next().unwrap().parse::<usize>().unwrap(),
            parts.next().unwrap(),
        );
        assert_eq!(pad, "x".repeat(200 + i % 50), "a line was torn: {line:?}");
        // Each sender's lines keep their order.
        let next = if who == "b" { &mut next_b } else { &mut next_c };
        assert_eq!(i, *next, "{who}'s lines out of order");
        *next += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!((next_b, next_c), (LINES, LINES));
    // Leaving is noticed, and the chat goes on for the others.
    drop((a, ra));
    ex.wait_line(20, |l| l == "Participant left chat.");
    c.shutdown(Shutdown::Write).unwrap();
    ex.wait_lines(2, 20, |l| l == "Participant left chat.");
    drop((c, rc, rb));
    let mut d = client(port);
    ex.wait_lines(4, 20, |l| l == "Participant joined chat.");
    let mut rd = BufReader::new(d.try_clone().unwrap());
    b.write_all(b"anyone?\n").unwrap();
    // d may see the tail of b's and c's burst first: they were queued for
    // everyone who was there... d was not, so its first line is b's.
    assert_eq!(read_line(&mut rd), "anyone?\n");
    d.write_all(b"me\n").unwrap();
    ex.wait_line(20, |l| l == "Chat: me");
}

/// A server for `connect`: reads the request, sleeps `delay`, answers, closes.
fn tiny_http_server(n: u8, delay: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut req = [0u8; 64];
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n\r\n") {
            let k = s.read(&mut req).unwrap();
            assert!(k > 0, "client closed early");
            got.extend_from_slice(&req[..k]);
        }
        assert_eq!(got, b"GET /\r\n\r\n");
        thread::sleep(delay);
        let body = format!("HTTP/1.0 200 OK\r\n\r\nhello from server {n} and more bytes after");
        s.write_all(body.as_bytes()).unwrap();
    });
    port
}

#[test]
fn connect_prints_results_in_spawn_order() {
    // The first server answers last: the results still come in spawn order.
    let ports = [
        tiny_http_server(1, Duration::from_millis(500)),
        tiny_http_server(2, Duration::ZERO),
        tiny_http_server(3, Duration::from_millis(100)),
    ];
    let urls: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut ex = ExampleProcess::start("connect", &args);
    assert!(ex.wait_exit(60).success(), "{:?}", ex.seen());
    let out = ex.seen().to_vec();
    for url in &urls {
        assert!(out.contains(&format!("{url} connected")), "{out:?}");
    }
    let results: Vec<&String> = out.iter().filter(|l| l.contains(": b'")).collect();
    let expected: Vec<String> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| {
            // repr(result)[:50]
            format!(
                "{url}: b'HTTP/1.0 200 OK\\r\\n\\r\\nhello from server {} and m",
                i + 1
            )
        })
        .collect();
    assert_eq!(results, expected.iter().collect::<Vec<_>>());
}

#[test]
fn wsgi_says_hello_and_404_elsewhere() {
    let mut ex = ExampleProcess::start("wsgi", &["127.0.0.1:0"]);
    let port = ex.port_after("wsgi starting up on http://127.0.0.1:");
    let mut s = client(port);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let ok = read_http(&mut r).expect("first response");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.header("content-type"), Some("text/plain"));
    assert_eq!(ok.body_str(), "Hello, World!\r\n");
    let nf = read_http(&mut r).expect("second response");
    assert_eq!(nf.status(), 404);
    assert_eq!(nf.body_str(), "Not Found\r\n");
    // The access log (stderr) has both requests.
    ex.wait_line(20, |l| l.contains("\"GET / HTTP/1.1\" 200"));
    ex.wait_line(20, |l| l.contains("\"GET /nope HTTP/1.1\" 404"));
}

/// An echo server standing in for sshd: echoes until EOF, then closes.
fn echo_backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { break };
            thread::spawn(move || {
                let mut buf = vec![0; 65536];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

#[test]
fn forwarder_carries_both_directions_and_calls_back() {
    let backend = echo_backend();
    let target = format!("127.0.0.1:{backend}");
    let mut ex = ExampleProcess::start("forwarder", &["127.0.0.1:0", &target]);
    let line = ex.wait_line(60, |l| l.starts_with("forwarding "));
    let addr: SocketAddr = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(line, format!("forwarding {addr} to {target}"));
    const SIZE: usize = 1 << 20;
    let clients: Vec<_> = (0..3u8)
        .map(|k| {
            thread::spawn(move || {
                let mut s = client(addr.port());
                let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8 ^ k).collect();
                let mut w = s.try_clone().unwrap();
                let sent = data.clone();
                // Write and read at once: 1 MiB does not fit in the buffers.
                let writer = thread::spawn(move || {
                    w.write_all(&sent).unwrap();
                    w.shutdown(Shutdown::Write).unwrap();
                });
                let mut back = Vec::new();
                s.read_to_end(&mut back).unwrap();
                writer.join().unwrap();
                assert!(
                    back == data,
                    "client {k}: {} bytes back, want {SIZE}",
                    back.len()
                );
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // One callback per client, when the client's side ended.
    ex.wait_lines(3, 20, |l| l == "called back");
}

#[cfg(feature = "zmq")]
mod zmq_ports {
    use super::*;
    use eventlet::zmq::{Context, Socket, PUB, SUB};
    use eventlet::Timeout;

    /// A fresh ipc endpoint in the temp dir, removed when dropped.
    struct Ipc(std::path::PathBuf);
    impl Ipc {
        fn new(tag: &str) -> Ipc {
            let p = std::env::temp_dir().join(format!("evx-{}-{tag}.ipc", std::process::id()));
            let _ = std::fs::remove_file(&p);
            Ipc(p)
        }
        fn endpoint(&self) -> String {
            format!("ipc://{}", self.0.display())
        }
    }
    impl Drop for Ipc {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn zmq_simple_makes_ten_round_trips() {
        let ipc = Ipc::new("simple");
        let mut ex = ExampleProcess::start("zmq_simple", &[&ipc.endpoint()]);
        assert!(ex.wait_exit(60).success(), "{:?}", ex.seen());
        let out = ex.seen().to_vec();
        let count = |s: &str| out.iter().filter(|l| *l == s).count();
        for (line, n) in [
            ("STARTING ALICE", 1),
            ("ALICE READY", 1),
            ("STARTING BOB", 1),
            ("BOB SENDING", 10),
            ("ALICE GOT: HI", 10),
            ("ALIC SENDING", 10),
            ("BOB GOT: HI BACK", 10),
        ] {
            assert_eq!(count(line), n, "{line:?} in {out:?}");
        }
        // Strict alternation: bob's nth answer comes after alice's nth request.
        let pos = |s: &str, nth: usize| {
            out.iter()
                .enumerate()
                .filter(|(_, l)| *l == s)
                .nth(nth)
                .unwrap()
                .0
        };
        for i in 0..10 {
            assert!(pos("ALICE GOT: HI", i) < pos("BOB GOT: HI BACK", i));
        }
    }

    #[test]
    fn chat_bridge_needs_two_addresses() {
        let mut ex = ExampleProcess::start("chat_bridge", &[]);
        assert_eq!(ex.wait_exit(60).code(), Some(1));
        assert_eq!(ex.seen(), ["usage: chat_bridge sub_address pub_address"]);
    }

    #[test]
    fn chat_bridge_forwards_sub_to_pub() {
        let (input, output) = (Ipc::new("bridge-in"), Ipc::new("bridge-out"));
        let (sub_addr, pub_addr) = (input.endpoint(), output.endpoint());
        let mut ex = ExampleProcess::start("chat_bridge", &[&sub_addr, &pub_addr]);
        ex.wait_line(60, |l| l == format!("Recieving on {sub_addr}"));
        ex.wait_line(60, |l| l == format!("Sending on {pub_addr}"));
        let ctx = Context::new();
        let publisher = Socket::new(&ctx, PUB).unwrap();
        publisher.connect(&sub_addr).unwrap();
        let subscriber = Socket::new(&ctx, SUB).unwrap();
        subscriber.set_subscribe(b"").unwrap();
        subscriber.connect(&pub_addr).unwrap();
        // PUB/SUB drops messages until both hops are connected: publish until
        // one comes through (each try waits 200 ms), then check a sequence.
        let _all = Timeout::new(Duration::from_secs(30));
        let mut tries = 0;
        loop {
            tries += 1;
            publisher
                .send_multipart([&b"hello"[..], b"bridge"], 0)
                .unwrap();
            let t = Timeout::new(Duration::from_millis(200));
            match subscriber.recv_multipart(0) {
                Ok(parts) => {
                    assert_eq!(parts, [b"hello".to_vec(), b"bridge".to_vec()]);
                    break;
                }
                Err(e) if t.is_io(&e) => assert!(tries < 100, "nothing came through"),
                Err(e) => panic!("{e}"),
            }
        }
        // Drain repeats of the probe, then every message in order.
        for i in 0..50 {
            publisher.send(format!("msg {i}").as_str(), 0).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 50 {
            let parts = subscriber.recv_multipart(0).unwrap();
            if parts.len() == 1 {
                got.push(String::from_utf8(parts[0].clone()).unwrap());
            }
        }
        assert_eq!(got, (0..50).map(|i| format!("msg {i}")).collect::<Vec<_>>());
    }

    #[test]
    fn zmq_chat_publishes_every_line_to_everyone() {
        let ipc = Ipc::new("chat");
        let mut ex = ExampleProcess::start("zmq_chat", &["127.0.0.1:0", &ipc.endpoint()]);
        let port = ex.port_after("ChatServer starting up on port ");
        let mut a = client(port);
        let b = client(port);
        ex.wait_lines(2, 20, |l| l == "Participant joined chat.");
        // The server's own subscriber and one per participant.
        ex.wait_lines(3, 20, |l| l == "connected");
        let mut rb = BufReader::new(b.try_clone().unwrap());
        // Subscriptions reach the publisher asynchronously: repeat the name
        // line until b sees it come back.
        let mut tries = 0;
        b.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        loop {
            tries += 1;
            a.write_all(b"name:alice\n").unwrap();
            let mut line = String::new();
            match rb.read_line(&mut line) {
                Ok(_) if line == "alice: name:alice\n" => break,
                Ok(_) => panic!("unexpected line {line:?}"),
                Err(_) => assert!(tries < 60, "b never got a message"),
            }
        }
        b.set_read_timeout(Some(IO_WAIT)).unwrap();
        a.write_all(b"hello everyone\n").unwrap();
        loop {
            let line = read_line(&mut rb);
            if line == "alice: name:alice\n" {
                continue; // a repeat of the probe
            }
            assert_eq!(line, "alice: hello everyone\n");
            break;
        }
        // a gets its own lines too (it subscribes like everyone), and so does
        // the server's stdout.
        let mut ra = BufReader::new(a.try_clone().unwrap());
        loop {
            if read_line(&mut ra) == "alice: hello everyone\n" {
                break;
            }
        }
        ex.wait_line(20, |l| l == "alice: hello everyone");
        ex.wait_line(20, |l| l == "Chat: hello everyone");
        // b's lines come as `someone` until it names itself.
        let mut b2 = b.try_clone().unwrap();
        b2.write_all(b"hi\n").unwrap();
        loop {
            if read_line(&mut ra) == "someone: hi\n" {
                break;
            }
        }
        drop((a, ra));
        ex.wait_line(20, |l| l == "Participant left chat.");
    }

    /// A WebSocket text frame's payload (skips anything else the server sends).
    fn next_text(c: &mut ws_common::Client) -> String {
        loop {
            let f = c.read_frame().expect("a frame before EOF");
            if f.opcode() == 1 {
                return String::from_utf8(f.payload).unwrap();
            }
        }
    }

    /// Read text frames until `want`; the only other one allowed is `repeat`
    /// (a late copy of a probe).
    fn skip_until(c: &mut ws_common::Client, want: &str, repeat: &str) {
        loop {
            let got = next_text(c);
            if got == want {
                return;
            }
            assert_eq!(got, repeat, "waiting for {want:?}");
        }
    }

    /// `from` sends `text` until `to` gets `expected` (PUB/SUB drops what
    /// comes before every hop's subscription is in place); each try waits
    /// 300 ms. Returns how many times it was sent.
    fn send_until_seen(
        from: &mut ws_common::Client,
        to: &mut ws_common::Client,
        text: &str,
        expected: &str,
    ) -> usize {
        to.s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        for tries in 1..=100 {
            from.send(&ws_common::frame(0x81, text.as_bytes()));
            loop {
                match to.try_read_frame() {
                    Ok(Some(f)) if f.opcode() == 1 => {
                        let got = String::from_utf8(f.payload).unwrap();
                        assert_eq!(got, expected);
                        to.s.set_read_timeout(Some(IO_WAIT)).unwrap();
                        return tries;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("EOF waiting for {expected:?}"),
                    Err(_) => break, // timed out: send again
                }
            }
        }
        panic!("{expected:?} never came through");
    }

    #[test]
    fn distributed_websocket_chat_rejects_a_bad_port() {
        let mut ex = ExampleProcess::start("distributed_websocket_chat", &["-p", "x", "seven"]);
        assert_eq!(ex.wait_exit(60).code(), Some(1));
        assert_eq!(
            ex.seen(),
            [
                "Error port supplied couldn't be converted to int",
                " usage: websocket_chat -p pub address -s sub address port number"
            ]
        );
    }

    #[test]
    fn distributed_websocket_chat_reaches_the_other_server() {
        let (input, output) = (Ipc::new("dwc-in"), Ipc::new("dwc-out"));
        let (pub_addr, sub_addr) = (input.endpoint(), output.endpoint());
        let mut bridge = ExampleProcess::start("chat_bridge", &[&pub_addr, &sub_addr]);
        bridge.wait_line(60, |l| l == format!("Sending on {sub_addr}"));
        let args = ["-p", &pub_addr, "-s", &sub_addr, "0"];
        let mut one = ExampleProcess::start("distributed_websocket_chat", &args);
        let mut two = ExampleProcess::start("distributed_websocket_chat", &args);
        let mut ports = Vec::new();
        for ex in [&mut one, &mut two] {
            ex.wait_line(60, |l| l == format!("Publishing to {pub_addr}"));
            ex.wait_line(60, |l| l == format!("Subscribing to {sub_addr}"));
            let line = ex.wait_line(60, |l| l.starts_with("Visit http://localhost:"));
            let port: u16 = line
                .strip_prefix("Visit http://localhost:")
                .and_then(|r| r.strip_suffix("/ in your websocket-capable browser."))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            ports.push(port);
        }
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        // The page is served on any other path.
        let mut page = client(ports[0]);
        page.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let resp = read_http(&mut BufReader::new(page)).unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.body_str().contains("/chat"), "{}", resp.body_str());

        let mut a = ws_common::Client::connect(addr(ports[0]), "/chat");
        let mut b = ws_common::Client::connect(addr(ports[1]), "/chat");
        let greeting = |c: &mut ws_common::Client| {
            let g = next_text(c);
            let id = g
                .strip_prefix("Connected as ")
                .and_then(|r| r.strip_suffix(", change name with 'name: new_name'"))
                .unwrap_or_else(|| panic!("greeting {g:?}"))
                .to_string();
            // A uuid1: version nibble 1.
            let u = uuid::Uuid::parse_str(&id).expect("a uuid");
            assert_eq!(u.get_version_num(), 1, "{id}");
            id
        };
        let (id_a, id_b) = (greeting(&mut a), greeting(&mut b));
        assert_ne!(id_a, id_b);

        // a (server one) -> b (server two), named by uuid until renamed.
        let sent = send_until_seen(&mut a, &mut b, "probe", &format!("{id_a} says: probe"));
        assert!(sent >= 1);
        a.send(&ws_common::frame(0x81, b"name: alice"));
        let renamed = format!("alice says: Changed name from {id_a}");
        skip_until(&mut b, &renamed, &format!("{id_a} says: probe"));
        // a sees its own messages as `you said` (those probes that got
        // through to its own server, then the rename).
        let renamed = format!("you said: Changed name from {id_a}");
        skip_until(&mut a, &renamed, "you said: probe");

        // b (server two) -> a (server one).
        send_until_seen(&mut b, &mut a, "hello", &format!("{id_b} says: hello"));
        a.send(&ws_common::frame(0x81, b"hi bob"));
        skip_until(&mut b, "alice says: hi bob", "you said: hello");
        skip_until(&mut a, "you said: hi bob", &format!("{id_b} says: hello"));
    }
}
