//! The access log written in batches by the server's log thread: same bytes
//! as one write per line, in order, flushed at shutdown and at least once a
//! second, one write per batch, and bounded memory when the sink is slower
//! than the server (requests wait; no line is lost).

mod common;

use common::*;
use eventlet_wsgi::{LogSink, Server, ServerOptions};
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A format with no time-dependent field, so whole outputs can be compared.
const FIXED_FORMAT: &str = "%(client_ip)s \"%(request_line)s\" %(status_code)s %(body_length)s";

/// A sink that records every `write` call separately, optionally slowly.
#[derive(Clone, Default)]
struct CountingSink {
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
    delay: Duration,
    flushes: Arc<AtomicUsize>,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.delay.is_zero() {
            // The first batch of access lines is much slower still, so that
            // the buffer certainly fills while it lasts, however fast the
            // machine (the start-up line is written before the log thread).
            let is_access = |w: &[u8]| w.windows(5).any(|x| x == b"GET /");
            let first = is_access(buf) && !self.writes.lock().unwrap().iter().any(|w| is_access(w));
            std::thread::sleep(if first { self.delay * 25 } else { self.delay });
        }
        self.writes.lock().unwrap().push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flushes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl CountingSink {
    fn text(&self) -> String {
        let w = self.writes.lock().unwrap();
        String::from_utf8(w.concat()).unwrap()
    }
    fn write_count(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
    fn largest_write(&self) -> usize {
        self.writes
            .lock()
            .unwrap()
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
    }
}

struct Running {
    addr: std::net::SocketAddr,
    handle: eventlet_wsgi::ServerHandle,
    running: Option<eventlet::GreenThread<io::Result<()>>>,
}

impl Running {
    fn stop(&mut self) {
        self.handle.stop();
        if let Some(gt) = self.running.take() {
            gt.join().expect("server thread").expect("server ran");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start(sink: impl Write + Send + 'static, opts: ServerOptions) -> Running {
    start_with(sink, opts, FIXED_FORMAT)
}

fn start_with(sink: impl Write + Send + 'static, opts: ServerOptions, format: &str) -> Running {
    let listener = eventlet::listen("127.0.0.1:0").expect("listen");
    let addr = match listener.local_addr().unwrap() {
        eventlet::net::Addr::Inet(a) => a,
        other => panic!("{other}"),
    };
    let opts = opts
        .handle_signals(false)
        .log_format(format)
        .unwrap()
        .log(LogSink::writer(sink));
    let server = Server::new(listener, hello, opts);
    let handle = server.handle();
    let running = Some(eventlet::spawn(move || server.run()));
    Running {
        addr,
        handle,
        running,
    }
}

fn hello(
    _env: &mut eventlet_wsgi::Environ,
    sr: &mut eventlet_wsgi::StartResponse,
) -> eventlet_wsgi::Body {
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    eventlet_wsgi::Body::from("hello\n")
}

/// `n` keep-alive GETs of `/0`, `/1`, ... on one connection.
fn get_many(addr: std::net::SocketAddr, n: usize) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut r = io::BufReader::new(s.try_clone().unwrap());
    let mut w = s.try_clone().unwrap();
    for i in 0..n {
        write!(w, "GET /{i} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let resp = read_http(&mut r).expect("response");
        assert_eq!(resp.status(), 200);
    }
    s
}

/// What one write per line would have produced.
fn expected_lines(range: std::ops::Range<usize>, body_length: usize) -> String {
    range
        .map(|i| format!("127.0.0.1 \"GET /{i} HTTP/1.1\" 200 {body_length}\n"))
        .collect()
}

/// The body_length of the keep-alive hello responses, read from the line of
/// `/0` (every other line must then match byte for byte).
fn hello_length(text: &str) -> usize {
    let line = text
        .lines()
        .find(|l| l.starts_with("127.0.0.1 \"GET /0 "))
        .unwrap_or_else(|| panic!("no line for /0 in {text:?}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn lines_are_batched_in_order_with_the_same_bytes() {
    let sink = CountingSink::default();
    let mut srv = start(sink.clone(), ServerOptions::new());
    let n = 200;
    let conn = get_many(srv.addr, n);
    drop(conn);
    srv.stop();
    let text = sink.text();
    let want = expected_lines(0..n, hello_length(&text));
    let access: String = text
        .lines()
        .filter(|l| l.starts_with("127.0.0.1 "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(access, want);
    // 200 lines in far fewer writes: one per batch (each batch is one
    // `write_all`, so at most a few `write` calls; the start-up and exit
    // lines are written on their own).
    assert!(
        sink.write_count() < 40,
        "{} writes for {} lines",
        sink.write_count(),
        n
    );
}

#[test]
fn lines_are_written_within_a_second_while_running() {
    let sink = CountingSink::default();
    let srv = start(sink.clone(), ServerOptions::new());
    let conn = get_many(srv.addr, 3);
    let asked = Instant::now();
    while !sink.text().contains("\"GET /2 HTTP/1.1\" 200") {
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "the lines were not written: {:?}",
            sink.text()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = asked.elapsed();
    // At least once a second by design; the margin is for a loaded machine.
    assert!(took < Duration::from_millis(2500), "written after {took:?}");
    drop(conn);
}

#[test]
fn everything_is_written_by_the_time_run_returns() {
    let sink = CountingSink::default();
    let mut srv = start(sink.clone(), ServerOptions::new());
    let conn = get_many(srv.addr, 20);
    drop(conn);
    srv.stop();
    let text = sink.text();
    let len = hello_length(&text);
    assert!(text.contains(&expected_lines(0..20, len)), "{text}");
    assert!(text.contains("wsgi exited"), "{text}");
}

#[test]
fn a_slow_sink_slows_requests_but_memory_stays_bounded_and_nothing_is_lost() {
    // 40 ms per write (1 s for the first), a 256-byte buffer: the sink is
    // far slower than the server, so requests must wait for room.
    let sink = CountingSink {
        delay: Duration::from_millis(40),
        ..CountingSink::default()
    };
    let mut srv = start_with(
        sink.clone(),
        ServerOptions::new().log_buffer_size(256).debug(false),
        "%(client_port)s %(request_line)s",
    );
    let n = 60;
    let conns: Vec<_> = (0..3)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || {
                let s = get_many(addr, n);
                s.local_addr().unwrap().port()
            })
        })
        .collect();
    let ports: Vec<u16> = conns.into_iter().map(|c| c.join().unwrap()).collect();
    srv.stop();
    let text = sink.text();
    // Every line arrived, each connection's in its order.
    for port in ports {
        let paths: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{port} GET /")))
            .map(|rest| rest.split(' ').next().unwrap().to_string())
            .collect();
        let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        assert_eq!(paths, want, "{text}");
    }
    // Memory bound: no batch held more than the buffer plus the one line
    // that may go over it.
    let longest = text.lines().map(|l| l.len() + 1).max().unwrap();
    assert!(
        sink.largest_write() <= 256 + longest,
        "a batch of {} bytes",
        sink.largest_write()
    );
    // The waits were counted and reported once, at shutdown.
    assert_eq!(
        text.matches("line(s) waited for the log sink").count(),
        1,
        "{text}"
    );
}
