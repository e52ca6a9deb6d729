//! The seed example's log (`examples/wsgi.rs`, `eventlet_wsgi::logging::init`)
//! with stderr redirected to a pipe, as servers run: every line is, byte for
//! byte, what `env_logger`'s default format writes for the same record (with
//! the line's own timestamp, checked to be the time it was written); lines
//! arrive while the server runs, and the last requests' lines are written by
//! the time the process has exited after SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A writer the test reads back (env_logger's reference output).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What env_logger's default format (the example's old setup: default
/// builder, `Target::Pipe`, write style left to env_logger) writes for a
/// record of `level`, `target` and `msg`, with its timestamp replaced by `ts`.
fn env_logger_line(level: log::Level, target: &str, msg: &str, ts: &str) -> String {
    let out = Capture::default();
    let logger = env_logger::Builder::new()
        .parse_filters("trace")
        .target(env_logger::Target::Pipe(Box::new(out.clone())))
        .build();
    log::Log::log(
        &logger,
        &log::Record::builder()
            .level(level)
            .target(target)
            .args(format_args!("{msg}"))
            .build(),
    );
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    // `[` + 20 bytes of RFC 3339 seconds.
    assert_eq!(&text[21..22], " ", "{text:?}");
    format!("[{ts}{}", &text[21..])
}

/// RFC 3339 seconds in UTC, as env_logger writes them, to seconds since the epoch.
fn parse_ts(ts: &str) -> u64 {
    let b = ts.as_bytes();
    assert_eq!(b.len(), 20, "{ts}");
    for (i, &c) in b.iter().enumerate() {
        match i {
            4 | 7 => assert_eq!(c, b'-', "{ts}"),
            10 => assert_eq!(c, b'T', "{ts}"),
            13 | 16 => assert_eq!(c, b':', "{ts}"),
            19 => assert_eq!(c, b'Z', "{ts}"),
            _ => assert!(c.is_ascii_digit(), "{ts}"),
        }
    }
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant), independent of the code under test.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)) as u64
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn text_of(out: &Mutex<Vec<u8>>) -> String {
    String::from_utf8(out.lock().unwrap().clone()).expect("the log is UTF-8")
}

/// Waits up to `secs` for `pred` on the output so far.
fn wait_for(out: &Mutex<Vec<u8>>, secs: u64, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = text_of(out);
        if pred(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "not seen within {secs} s; output:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(s: &mut TcpStream, request: &str) {
    s.write_all(request.as_bytes()).unwrap();
    // Each response is small; read until the body's end (both bodies end in \r\n
    // after a blank line).
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"!\r\n")
        || got.ends_with(b"Found\r\n"))
    {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "connection closed early: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

/// `examples/wsgi` running with stderr on a pipe (as servers run) and `env`
/// set (`RUST_LOG` and `RUST_LOG_STYLE` unset otherwise).
struct Example {
    child: std::process::Child,
    out: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
    port: u16,
}

fn start_example(env: &[(&str, &str)]) -> Example {
    let mut cmd = Command::new(common::example_binary("wsgi"));
    cmd.arg("127.0.0.1:0")
        .env_remove("RUST_LOG")
        .env_remove("RUST_LOG_STYLE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start examples/wsgi");
    let mut stderr = child.stderr.take().unwrap();
    let out = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let out = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        })
    };
    let text = wait_for(&out, 60, |t| {
        t.contains("wsgi starting up on http://127.0.0.1:") && t.ends_with('\n')
    });
    let port: u16 = text
        .split("wsgi starting up on http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {text:?}"));
    Example {
        child,
        out,
        reader,
        port,
    }
}

impl Example {
    /// SIGTERM (a graceful stop), then everything it wrote.
    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) },
            0
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the example did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reader.join().unwrap();
        text_of(&self.out)
    }
}

#[test]
fn example_log_is_env_loggers_default_format_batched_and_flushed_at_exit() {
    let started = now_secs();
    let ex = start_example(&[]);
    let (out, port) = (ex.out.clone(), ex.port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    get(&mut s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    get(
        &mut s,
        "GET /caf%C3%A9?q=%1B[31m HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
    );
    // Written while the server runs (at least once a second; wide margin for a
    // loaded machine).
    wait_for(&out, 20, |t| {
        t.contains("\"GET /caf%C3%A9?q=%1B[31m HTTP/1.1\" 404 ")
    });
    // The last lines: still pending when SIGTERM arrives, written at shutdown.
    for i in 0..20 {
        get(
            &mut s,
            &format!("GET /?last={i} HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
    }
    let text = ex.stop();
    let ended = now_secs();

    let access: Vec<&str> = text.lines().filter(|l| l.contains(" - - [")).collect();
    assert_eq!(access.len(), 22, "{text}");
    assert!(
        access[19 + 2].contains("\"GET /?last=19 HTTP/1.1\" 200 "),
        "{text}"
    );
    for line in text.split_inclusive('\n') {
        assert!(line.ends_with('\n'), "a partial last line: {line:?}");
        // `[TS LEVEL TARGET] MSG`
        let ts = &line[1..21];
        let (header, msg) = line[22..]
            .split_once("] ")
            .unwrap_or_else(|| panic!("{line:?}"));
        let (level, target) = header.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        // The level is padded to five characters.
        let target = target.trim_start_matches(' ');
        let level: log::Level = level.parse().unwrap_or_else(|_| panic!("{line:?}"));
        let secs = parse_ts(ts);
        assert!(
            (started..=ended).contains(&secs),
            "{ts} not within the run: {line:?}"
        );
        if msg.contains(" - - [") {
            assert_eq!(
                (level, target),
                (log::Level::Info, "eventlet_wsgi"),
                "{line:?}"
            );
        }
        let msg = msg.strip_suffix('\n').unwrap();
        assert_eq!(line, env_logger_line(level, target, msg, ts));
    }
}

#[test]
fn the_example_honours_rust_log_filters_and_rust_log_style() {
    // A directive and a regex: only lines containing "starting" at INFO from
    // the server, so the access lines are filtered out (on the fast path).
    let ex = start_example(&[("RUST_LOG", "warn,eventlet_wsgi=info/starting")]);
    let mut s = TcpStream::connect(("127.0.0.1", ex.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    get(&mut s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    drop(s);
    let text = ex.stop();
    assert!(!text.contains("\"GET / HTTP/1.1\""), "{text}");
    for line in text.lines() {
        assert!(line.contains("starting"), "{text}");
    }

    // RUST_LOG_STYLE=always: env_logger's colours, as without logging::init.
    let ex = start_example(&[("RUST_LOG_STYLE", "always")]);
    let mut s = TcpStream::connect(("127.0.0.1", ex.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    get(&mut s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    drop(s);
    let text = ex.stop();
    let access = text
        .lines()
        .find(|l| l.contains("\"GET / HTTP/1.1\" 200 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(access.contains("\x1b["), "{access:?}");
    assert!(access.contains("INFO "), "{access:?}");
}
