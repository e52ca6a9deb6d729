//! The connection's writer over real sockets. It lives as long as the
//! connection and keeps, from one response to the next, the app's encoded
//! head (see `memo`) and the server's lines after it (`Tail`): whatever the
//! order of requests, each response must be byte for byte the one a fresh
//! connection gets for the same request (the `Date` value aside, which moves
//! with the clock, and is checked to be current).

use crate::{Body, Environ, Keepalive, Server, ServerOptions, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

/// `/<status>/<body length>[/date][/cl<N>]`: that status with a body of that
/// many bytes; `date`: the app sends its own Date; `clN`: the app sends
/// `Content-Length: N`. `/stream/<length>`: a 200 whose body has no length
/// up front (chunked, or close-delimited for HTTP/1.0).
fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let path = env.get("PATH_INFO").unwrap_or("/").to_string();
    let mut parts = path.split('/').skip(1);
    let first = parts.next();
    let status = match first {
        Some("204") => "204 No Content",
        Some("304") => "304 Not Modified",
        Some("404") => "404 Not Found",
        _ => "200 OK",
    };
    let len: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let mut headers = vec![("Content-Type".to_string(), "text/plain".to_string())];
    for extra in parts {
        if extra == "date" {
            headers.push(("Date".into(), "Thu, 01 Jan 1970 00:00:00 GMT".into()));
        } else if let Some(n) = extra.strip_prefix("cl") {
            headers.push(("Content-Length".into(), n.into()));
        }
    }
    sr.start(status, &headers);
    if first == Some("stream") {
        return Body::from_iter([vec![b'x'; len]]);
    }
    Body::from(vec![b'x'; len])
}

/// `t` without its fraction of a second (what a Date line can show).
fn whole_second(t: SystemTime) -> SystemTime {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970");
    t - Duration::from_nanos(u64::from(since.subsec_nanos()))
}

struct Running {
    addr: SocketAddr,
    handle: crate::ServerHandle,
    thread: Option<eventlet::GreenThread<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(opts: ServerOptions) -> Running {
    let listener = eventlet::listen("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("addr").inet().expect("inet");
    let server = Server::new(listener, app, opts.handle_signals(false));
    let handle = server.handle();
    let thread = Some(eventlet::spawn(move || server.run()));
    Running {
        addr,
        handle,
        thread,
    }
}

struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let w = TcpStream::connect(addr).expect("connect");
        w.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Client { w, r }
    }

    /// One request, its raw response (head and body) with the server's Date
    /// value blanked (checked to be a current date first).
    fn ask(&mut self, req: &Req) -> String {
        let before = SystemTime::now();
        self.w.write_all(req.bytes().as_bytes()).unwrap();
        let mut head = String::new();
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "closed: {req:?}");
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let after = SystemTime::now();
        let code: u16 = head[9..12].parse().unwrap();
        let mut len = 0u64;
        let mut out = String::new();
        for line in head.split_inclusive("\r\n") {
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length: ") {
                len = v.trim().parse().unwrap();
            }
            match line.strip_prefix("Date: ") {
                Some(v) if v != "Thu, 01 Jan 1970 00:00:00 GMT\r\n" => {
                    let d = httpdate::parse_http_date(v.trim()).expect("a date");
                    assert!(d >= whole_second(before) && d <= after, "stale {v:?}");
                    out.push_str("Date: -\r\n");
                }
                _ => out.push_str(line),
            }
        }
        if req.method == "HEAD" || code == 204 || code == 304 {
            return out;
        }
        if head.contains("Transfer-Encoding: chunked\r\n") {
            self.read_chunked(&mut out);
        } else if head.contains("Content-Length: ") {
            // Up to the length, or to the close when the app sent less.
            let mut body = Vec::new();
            (&mut self.r).take(len).read_to_end(&mut body).unwrap();
            out.push_str(&String::from_utf8(body).unwrap());
        } else {
            self.r.read_to_string(&mut out).unwrap();
        }
        out
    }

    /// A chunked body as it is on the wire.
    fn read_chunked(&mut self, out: &mut String) {
        loop {
            let mut size = String::new();
            self.r.read_line(&mut size).unwrap();
            out.push_str(&size);
            let n = usize::from_str_radix(size.trim_end(), 16).expect("a chunk size");
            let mut data = vec![0; n + 2];
            self.r.read_exact(&mut data).unwrap();
            out.push_str(&String::from_utf8(data).unwrap());
            if n == 0 {
                return;
            }
        }
    }

    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    version: &'static str,
    connection: Option<&'static str>,
}

impl Req {
    fn bytes(&self) -> String {
        let conn = self
            .connection
            .map(|c| format!("Connection: {c}\r\n"))
            .unwrap_or_default();
        format!(
            "{} {} {}\r\nHost: a\r\n{conn}\r\n",
            self.method, self.path, self.version
        )
    }
}

fn get(path: &str) -> Req {
    Req {
        method: "GET",
        path: path.into(),
        version: "HTTP/1.1",
        connection: None,
    }
}

/// Requests after which the connection stays open.
fn keep_cases() -> Vec<Req> {
    let mut v: Vec<Req> = [
        "/200/15", "/200/16", "/200/0", "/200/123", "/404/15", "/204/0",
    ]
    .into_iter()
    .map(get)
    .collect();
    v.extend(
        [
            "/304/0",
            "/200/15/date",
            "/200/15/cl15",
            "/200/70000",
            "/stream/15",
        ]
        .into_iter()
        .map(get),
    );
    v.push(Req {
        method: "HEAD",
        ..get("/200/15")
    });
    v.push(Req {
        method: "HEAD",
        ..get("/200/15/cl15")
    });
    v.push(Req {
        connection: Some("keep-alive"),
        ..get("/200/15")
    });
    v.push(Req {
        version: "HTTP/1.0",
        connection: Some("keep-alive"),
        ..get("/200/15")
    });
    v.push(Req {
        version: "HTTP/1.0",
        connection: Some("keep-alive"),
        ..get("/200/16/date")
    });
    v
}

/// Requests whose response ends the connection.
fn closing_cases() -> Vec<Req> {
    vec![
        Req {
            connection: Some("close"),
            ..get("/200/15")
        },
        Req {
            version: "HTTP/1.0",
            ..get("/200/15")
        },
        // More body than the app's Content-Length: cut, then closed.
        get("/200/15/cl10"),
        // Less: closed.
        get("/200/15/cl20"),
        // No length, HTTP/1.0: delimited by the close.
        Req {
            version: "HTTP/1.0",
            connection: Some("keep-alive"),
            ..get("/stream/15")
        },
    ]
}

fn check(opts: ServerOptions) {
    let srv = serve(opts);
    let keep = keep_cases();
    let want: Vec<String> = keep.iter().map(|r| Client::new(srv.addr).ask(r)).collect();
    let mut c = Client::new(srv.addr);
    for (a, ra) in keep.iter().enumerate() {
        for (b, rb) in keep.iter().enumerate() {
            for (i, r) in [(a, ra), (b, rb), (b, rb)] {
                assert_eq!(c.ask(r), want[i], "{r:?} after {ra:?}");
            }
        }
    }
    for last in closing_cases() {
        let fresh = {
            let mut c = Client::new(srv.addr);
            let r = c.ask(&last);
            assert!(c.closed(), "{last:?} closes");
            r
        };
        for warm in [&keep[0], &keep[7], &keep[12]] {
            let mut c = Client::new(srv.addr);
            c.ask(warm);
            assert_eq!(c.ask(&last), fresh, "{last:?} after {warm:?}");
            assert!(c.closed(), "{last:?} after {warm:?} closes");
        }
    }
}

#[test]
fn kept_heads_and_tails_equal_fresh_ones() {
    check(ServerOptions::new());
}

#[test]
fn kept_heads_and_tails_equal_fresh_ones_with_an_idle_timeout() {
    // `Keep-Alive: timeout=N` in the tail of keep-alive responses.
    check(ServerOptions::new().keepalive(Keepalive::Idle(Duration::from_secs(7))));
}

#[test]
fn a_kept_tail_gets_the_new_second() {
    let srv = serve(ServerOptions::new());
    let mut c = Client::new(srv.addr);
    let req = get("/200/15");
    let first = c.ask(&req);
    // `ask` fails on a Date that is not the current second: the next
    // second's response must not reuse the last one's line.
    let start = SystemTime::now();
    while SystemTime::now().duration_since(start).unwrap() < Duration::from_millis(1100) {
        assert_eq!(c.ask(&req), first);
        std::thread::sleep(Duration::from_millis(50));
    }
}
