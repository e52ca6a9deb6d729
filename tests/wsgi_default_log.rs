//! A bare `wsgi::server(listener, app)` is visible by default: with no `log`
//! logger installed, its startup and access lines go to stderr (eventlet's
//! `log=sys.stderr`); once the app installs a logger they go there instead,
//! never to both. Also `start("403 Forbidden", [])` (an empty header list).
//! The servers run in child processes (this binary again) to own stderr.

use eventlet_wsgi::{self as wsgi, Body, Environ, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

const CHILD: &str = "EVENTLET_TEST_DEFAULT_LOG_CHILD";

fn app(env: &mut Environ, start_response: &mut StartResponse) -> Body {
    if &env["PATH_INFO"] == "/forbidden" {
        start_response.start("403 Forbidden", []);
        return Body::from(["no\n"]);
    }
    start_response.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(["hi\n"])
}

/// Keeps every record; prints them at exit on stdout for the parent.
struct Memory(Mutex<Vec<String>>);
impl log::Log for Memory {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        let line = format!("{}: {}", r.target(), r.args());
        println!("LOGGER {line}");
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

#[test]
fn default_log_child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    if mode == "logger" {
        let m: &'static Memory = Box::leak(Box::new(Memory(Mutex::new(Vec::new()))));
        log::set_logger(m).unwrap();
        log::set_max_level(log::LevelFilter::Info);
    }
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let port = match listener.local_addr().unwrap() {
        eventlet::net::Addr::Inet(a) => a.port(),
        other => panic!("{other}"),
    };
    println!("PORT {port}");
    std::io::stdout().flush().unwrap();
    let _ = wsgi::server(listener, app);
}

fn start(mode: &str) -> (Child, u16, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["default_log_child", "--exact", "--nocapture"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child exited early");
        if let Some(p) = line.trim().strip_prefix("PORT ") {
            break p.parse().unwrap();
        }
    };
    (child, port, out)
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

/// Stop the child (SIGTERM: graceful stop) and return (stdout rest, stderr).
fn finish(mut child: Child, mut out: BufReader<std::process::ChildStdout>) -> (String, String) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    child.wait().unwrap();
    (rest, err)
}

#[test]
fn without_a_logger_the_access_log_goes_to_stderr() {
    let (child, port, out) = start("bare");
    let r = get(port, "/forbidden");
    assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{r}");
    assert!(get(port, "/").starts_with("HTTP/1.1 200 OK\r\n"));
    let (_, err) = finish(child, out);
    assert!(
        err.contains("wsgi starting up on http://127.0.0.1:"),
        "{err}"
    );
    assert_eq!(
        err.matches("\"GET /forbidden HTTP/1.1\" 403").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("\"GET / HTTP/1.1\" 200").count(), 1, "{err}");
}

#[test]
fn with_a_logger_lines_go_there_and_not_to_stderr() {
    let (child, port, out) = start("logger");
    assert!(get(port, "/").starts_with("HTTP/1.1 200 OK\r\n"));
    let (rest, err) = finish(child, out);
    assert!(!err.contains("\"GET / HTTP/1.1\""), "double logging: {err}");
    assert!(!err.contains("wsgi starting up"), "{err}");
    assert!(rest.contains("LOGGER eventlet_wsgi: "), "{rest}");
    assert!(rest.contains("wsgi starting up"), "{rest}");
    assert_eq!(rest.matches("\"GET / HTTP/1.1\" 200").count(), 1, "{rest}");
}
