//! Criterion micro-benchmarks of the WSGI server's hot pure functions, the
//! connection's environ building and response encoding (through the hidden
//! `eventlet_wsgi::bench_support` hooks: no socket IO is timed), plus an
//! end-to-end group over loopback.
//!
//! ```text
//! cargo bench --bench micro                 # everything
//! cargo bench --bench micro -- head         # only the head parser group
//! ```
//!
//! `cargo test --all-targets` runs each benchmark once as a smoke test.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventlet_wsgi::chunked::{ChunkedDecoder, ChunkedLimits, Step};
use eventlet_wsgi::head::{parse_head, Limits};
use eventlet_wsgi::logfmt::{LogFormat, LogRecord};
use eventlet_wsgi::{date, status, Body, Environ, Server, ServerOptions, StartResponse};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime};

/// What wrk sends.
const SMALL_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8090\r\n\r\n";

/// A Chromium navigation request (about 800 bytes, 14 header lines).
const BROWSER_REQUEST: &[u8] = b"GET /static/css/app.min.css?v=20261124 HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/docs/getting-started/index.html\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7\r\n\
Cookie: sessionid=8f2d0c7e6b5a4f3e2d1c0b9a8f7e6d5c; csrftoken=Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed; _ga=GA1.1.123456789.1732000000\r\n\
\r\n";

fn head_parser(c: &mut Criterion) {
    let mut g = c.benchmark_group("head");
    for (name, req) in [("small", SMALL_REQUEST), ("browser", BROWSER_REQUEST)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        let limits = Limits::default();
        let mut headers = Vec::with_capacity(limits.max_headers);
        g.bench_with_input(BenchmarkId::new("parse_head", name), req, |b, req| {
            b.iter(|| {
                let head = parse_head(black_box(req), &limits, true, &mut headers)
                    .expect("valid request")
                    .expect("complete request");
                let len = head.len;
                // Hand the vector back, as a keep-alive connection does.
                headers = head.into_headers();
                len
            });
        });
        // The baseline. httparse validates less (bare LF accepted, no framing,
        // Host or Connection semantics), so equal speed would already be good.
        let mut raw = [httparse::EMPTY_HEADER; 100];
        g.bench_function(BenchmarkId::new("httparse", name), |b| {
            b.iter(|| {
                let mut parsed = httparse::Request::new(&mut raw);
                match parsed.parse(black_box(req)).expect("valid request") {
                    httparse::Status::Complete(n) => n,
                    httparse::Status::Partial => panic!("incomplete request"),
                }
            });
        });
    }
    g.finish();
}

/// `body` framed as chunks of `chunk` bytes, then the last chunk.
fn chunked_body(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / chunk * 8 + 8);
    for part in body.chunks(chunk) {
        write!(out, "{:x}\r\n", part.len()).expect("write to a Vec");
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Decodes a whole chunked body held in memory; returns the data byte count.
fn decode_all(input: &[u8]) -> usize {
    let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
    let (mut pos, mut data) = (0, 0);
    loop {
        let (n, step) = dec.decode(&input[pos..]).expect("valid chunked body");
        match step {
            Step::Data(r) => data += r.len(),
            Step::Done => return data,
            Step::NeedMore => panic!("truncated chunked body"),
        }
        pos += n;
    }
}

fn chunked_decoder(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunked");
    let body = vec![b'x'; 64 * 1024];
    for chunk in [16usize, 4096] {
        let input = chunked_body(&body, chunk);
        assert_eq!(decode_all(&input), body.len());
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("decode_64KiB", format!("{chunk}B_chunks")),
            &input,
            |b, input| b.iter(|| decode_all(black_box(input))),
        );
    }
    g.finish();
}

fn header_status(c: &mut Criterion) {
    let mut g = c.benchmark_group("status");
    let mut out = Vec::with_capacity(64);
    for name in ["content-type", "x-forwarded-for"] {
        g.bench_with_input(
            BenchmarkId::new("capitalize_header_name", name),
            name,
            |b, name| {
                b.iter(|| {
                    out.clear();
                    status::capitalize_header_name(black_box(name), &mut out);
                    out.len()
                });
            },
        );
    }
    g.bench_function("validate_header", |b| {
        b.iter(|| {
            status::validate_header(
                black_box("Content-Type"),
                black_box("text/plain; charset=utf-8"),
            )
        });
    });
    g.bench_function("parse_status", |b| {
        b.iter(|| status::parse_status(black_box("200 OK")));
    });
    g.finish();
}

fn log_and_date(c: &mut Criterion) {
    let fmt = LogFormat::default();
    let rec = LogRecord {
        client_ip: "127.0.0.1",
        client_port: Some(54321),
        date_time: SystemTime::now(),
        request_line: "GET /static/css/app.min.css?v=20261124 HTTP/1.1",
        status_code: 200,
        body_length: 15,
        wall_seconds: 0.000_123,
    };
    let mut line = String::with_capacity(256);
    c.bench_function("logfmt/render_default_format", |b| {
        b.iter(|| {
            line.clear();
            fmt.render(black_box(&rec), &mut line);
            line.len()
        });
    });
    c.bench_function("date/date_header", |b| b.iter(date::date_header));
}

// ------------------------------------------------------------------ end to end

fn hello_or_echo(env: &mut Environ, sr: &mut StartResponse) -> Body {
    if env.get("REQUEST_METHOD") == Some("POST") {
        let body = env.input().read_all().unwrap_or_default();
        sr.start("200 OK", [("Content-Type", "application/octet-stream")]);
        return Body::from(body);
    }
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(["Hello, World!\r\n"])
}

/// Our server in this process, on a free loopback port.
fn spawn_server() -> SocketAddr {
    let listener = eventlet::listen("127.0.0.1:0").expect("listen on port 0");
    let addr = match listener.local_addr().expect("local address") {
        eventlet::net::Addr::Inet(a) => a,
        other => panic!("not an inet listener: {other}"),
    };
    let opts = ServerOptions::new().log_output(false).handle_signals(false);
    let server = Server::new(listener, hello_or_echo, opts);
    // Runs until the process exits: the benchmark binary ends right after.
    std::mem::drop(eventlet::spawn(move || server.run()));
    addr
}

/// Reads one response (head + Content-Length body) from `s`, keeping any
/// bytes of the next one in `buf`. Returns the body length.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> usize {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).expect("ASCII head");
            assert!(
                head.starts_with("HTTP/1.1 200 "),
                "unexpected response: {head}"
            );
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("Content-Length")
                .parse()
                .expect("numeric Content-Length");
            let total = end + 4 + len;
            while buf.len() < total {
                fill(s, buf);
            }
            buf.drain(..total);
            return len;
        }
        fill(s, buf);
    }
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk).expect("read from the server");
    assert!(n > 0, "the server closed the connection");
    buf.extend_from_slice(&chunk[..n]);
}

fn end_to_end(c: &mut Criterion) {
    let addr = spawn_server();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("TCP_NODELAY");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut g = c.benchmark_group("e2e");

    g.throughput(Throughput::Elements(1));
    g.bench_function("get_hello_roundtrip", |b| {
        b.iter(|| {
            s.write_all(SMALL_REQUEST).expect("write");
            read_response(&mut s, &mut buf)
        });
    });

    // 16 pipelined requests per write: amortises the loopback round trip, so
    // the server's per-request work (environ, app call, response) shows more.
    let pipelined = SMALL_REQUEST.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("get_hello_pipelined_16", |b| {
        b.iter(|| {
            s.write_all(&pipelined).expect("write");
            (0..16)
                .map(|_| read_response(&mut s, &mut buf))
                .sum::<usize>()
        });
    });

    let body = vec![b'x'; 64 * 1024];
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(&body);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("post_echo_64KiB", |b| {
        b.iter(|| {
            s.write_all(&post).expect("write");
            read_response(&mut s, &mut buf)
        });
    });
    g.finish();
}

/// Environ building and response encoding, exactly as a connection runs them.
fn connection(c: &mut Criterion) {
    let mut g = c.benchmark_group("connection");
    eventlet_wsgi::bench_support::with_conn(|conn| {
        for (name, req) in [("small", SMALL_REQUEST), ("browser", BROWSER_REQUEST)] {
            g.bench_with_input(BenchmarkId::new("build_environ", name), req, |b, req| {
                b.iter(|| {
                    conn.build_environ(black_box(req));
                    conn.environ().get("PATH_INFO").map_or(0, str::len)
                });
            });
        }
        conn.build_environ(SMALL_REQUEST);
        assert_eq!(conn.environ().get("HTTP_HOST"), Some("127.0.0.1:8090"));
        g.bench_function("encode_response/hello", |b| {
            b.iter(|| conn.encode_response(black_box(b"Hello, World!\r\n")))
        });
    })
    .expect("a loopback connection for the benchmark");
    g.finish();
}

criterion_group!(
    benches,
    head_parser,
    connection,
    chunked_decoder,
    header_status,
    log_and_date,
    end_to_end
);
criterion_main!(benches);
