//! The access log through the `log` crate (the default sink): each line is
//! still one record with target `eventlet_wsgi`, level INFO and the same text,
//! now emitted by the server's log thread in batches.

use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

static RECORDS: Mutex<Vec<(String, log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        RECORDS.lock().unwrap().push((
            record.target().to_string(),
            record.level(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

fn hello(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from("hello\n")
}

#[test]
fn access_lines_are_log_records_with_the_same_target_level_and_text() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().inet().unwrap();
    let opts = ServerOptions::new()
        .handle_signals(false)
        .log_format("%(client_ip)s \"%(request_line)s\" %(status_code)s")
        .unwrap();
    let server = Server::new(listener, hello, opts);
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    for i in 0..5 {
        write!(s, "GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        let mut length = 0;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body).unwrap();
    }
    drop(s);
    handle.stop();
    running.join().unwrap().unwrap();
    let records = RECORDS.lock().unwrap();
    let access: Vec<_> = records
        .iter()
        .filter(|(_, _, msg)| msg.contains("\"GET /"))
        .cloned()
        .collect();
    let want: Vec<_> = (0..5)
        .map(|i| {
            (
                "eventlet_wsgi".to_string(),
                log::Level::Info,
                format!("127.0.0.1 \"GET /{i} HTTP/1.1\" 200"),
            )
        })
        .collect();
    assert_eq!(access, want);
    assert!(records
        .iter()
        .any(|(_, _, m)| m.contains("wsgi starting up")));
    assert!(records.iter().any(|(_, _, m)| m.contains("wsgi exited")));
}
