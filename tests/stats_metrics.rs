//! Server statistics over real sockets: the snapshot's counters, the
//! Prometheus `/metrics` and readiness middleware, the typed access-log hook.

mod common;

use common::*;
use eventlet_wsgi::metrics::Metrics;
use eventlet_wsgi::proxy::TrustedProxies;
use eventlet_wsgi::stats::{RejectReason, Stats, TimeoutKind};
use eventlet_wsgi::{Body, Environ, Keepalive, StartResponse};
use std::io::{BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let body = env.input().read_all().unwrap_or_default();
    match env.get("PATH_INFO") {
        Some("/missing") => {
            sr.start("404 Not Found", [("Content-Type", "text/plain")]);
            Body::from("nope\n")
        }
        Some("/slow") => {
            eventlet::sleep(Duration::from_millis(600));
            sr.start("200 OK", [("Content-Type", "text/plain")]);
            Body::from("slow\n")
        }
        Some("/big") => {
            sr.start("200 OK", [("Content-Type", "application/octet-stream")]);
            Body::from(vec![b'x'; 64 << 20])
        }
        _ => {
            sr.start("200 OK", [("Content-Type", "text/plain")]);
            Body::from(format!("got {}\n", body.len()))
        }
    }
}

#[test]
fn snapshot_counts_requests_bytes_and_connections() {
    let stats = Stats::new();
    let srv = spawn_server(app, default_opts().stats(stats.clone()));
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let reqs: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /missing HTTP/1.1\r\nHost: h\r\n\r\n",
    ];
    let mut sent = 0;
    for req in reqs {
        s.write_all(req).unwrap();
        sent += req.len() as u64;
        read_http(&mut r).unwrap();
    }
    let idle = wait_for(&stats, |s| {
        s.connections_idle == 1 && s.requests_total() == 3
    });
    assert_eq!((idle.connections_open, idle.connections_active), (1, 0));
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    let snap = wait_for(&stats, |s| s.connections_open == 0);
    assert_eq!(snap.connections_total, 1);
    assert_eq!(snap.requests_by_class, [0, 2, 0, 1, 0]);
    assert_eq!(snap.bytes_in, sent);
    // Received: three responses; count them from a fresh, identical run.
    assert!(snap.bytes_out > 3 * 100, "{}", snap.bytes_out);
    assert_eq!(snap.latency_buckets.iter().sum::<u64>(), 3);
    assert!(snap.ready);
}

#[test]
fn bytes_out_is_exact() {
    let stats = Stats::new();
    let srv = spawn_server(app, default_opts().stats(stats.clone()));
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let snap = wait_for(&stats, |s| s.connections_open == 0);
    assert_eq!(snap.bytes_out, got.len() as u64);
}

#[test]
fn active_connection_is_counted_during_a_request() {
    let stats = Stats::new();
    let srv = spawn_server(app, default_opts().stats(stats.clone()));
    let mut s = srv.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let during = wait_for(&stats, |s| s.connections_active == 1);
    assert_eq!((during.connections_active, during.connections_idle), (1, 0));
    read_http(&mut BufReader::new(s)).unwrap();
    let after = wait_for(&stats, |s| s.connections_active == 0);
    assert_eq!(after.connections_active, 0);
    // 600 ms lands in the 1 s bucket (index 10).
    assert_eq!(after.latency_buckets[10], 1, "{:?}", after.latency_buckets);
    assert!(after.latency_sum >= Duration::from_millis(600));
}

#[test]
fn rejects_and_timeouts_by_kind() {
    let stats = Stats::new();
    let srv = spawn_server(
        app,
        default_opts()
            .stats(stats.clone())
            .head_timeout(Duration::from_millis(800))
            .keepalive(Keepalive::Idle(Duration::from_millis(500)))
            .socket_timeout(Some(Duration::from_millis(500)))
            .max_header_line(100),
    );
    // 431
    let long = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "a".repeat(200)
    );
    assert_eq!(request(&srv, long.as_bytes()).unwrap().status(), 431);
    // 400
    assert_eq!(
        request(&srv, b"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n")
            .unwrap()
            .status(),
        400
    );
    // 505
    assert_eq!(
        request(&srv, b"GET / HTTP/2.0\r\nHost: h\r\n\r\n")
            .unwrap()
            .status(),
        505
    );
    // 408: a head that never ends.
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    assert_eq!(read_http(&mut BufReader::new(s)).unwrap().status(), 408);
    // Idle keep-alive: connect, stay silent, get closed.
    let mut s = srv.connect();
    assert!(closed_by_server(&mut s));
    // A stalled body.
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    let _ = recvall(&mut s);
    // A client that never reads a 64 MiB answer.
    let mut s = srv.connect();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let snap = wait_for(&stats, |s| s.timeouts(TimeoutKind::Write) == 1);
    drop(s);
    assert_eq!(snap.rejects(RejectReason::HeadersTooLarge), 1);
    assert_eq!(snap.rejects(RejectReason::BadRequest), 1);
    assert_eq!(snap.rejects(RejectReason::Version), 1);
    assert_eq!(snap.rejects(RejectReason::Timeout), 1);
    assert_eq!(snap.timeouts(TimeoutKind::Head), 1);
    assert!(snap.timeouts(TimeoutKind::Idle) >= 1);
    assert_eq!(snap.timeouts(TimeoutKind::Body), 1);
    assert_eq!(snap.timeouts(TimeoutKind::Write), 1);
    // 4xx: 431, 400, 408, and the stalled body's 400; 5xx: 505.
    assert!(
        snap.requests_by_class[3] >= 3,
        "{:?}",
        snap.requests_by_class
    );
    assert_eq!(snap.requests_by_class[4], 1);
}

#[test]
fn prometheus_endpoint_and_readiness() {
    let stats = Stats::new();
    let site = Metrics::new(app, stats.clone())
        .metrics_path("/metrics")
        .health_path("/healthz");
    let srv = spawn_server(site, default_opts().stats(stats.clone()));
    for _ in 0..3 {
        assert_eq!(
            request(
                &srv,
                b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
            )
            .unwrap()
            .status(),
            200
        );
    }
    let health = request(
        &srv,
        b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!((health.status(), health.body_str().as_str()), (200, "ok\n"));
    let m = request(
        &srv,
        b"GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(m.status(), 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = m.body_str();
    // The three requests and the health check are done; /metrics itself is in flight.
    assert!(
        text.contains("eventlet_wsgi_requests_total{code=\"2xx\"} 4\n"),
        "{text}"
    );
    assert!(
        text.contains("eventlet_wsgi_connections{state=\"active\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE eventlet_wsgi_request_duration_seconds histogram\n"));
    stats.set_ready(false);
    let health = request(
        &srv,
        b"GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(
        (health.status(), health.body_str().as_str()),
        (503, "draining\n")
    );
    // Stopping the server flips it too.
    stats.set_ready(true);
    let mut srv = srv;
    srv.stop().unwrap();
    assert!(!stats.is_ready());
}

#[derive(Debug, Clone)]
struct Seen {
    client_ip: String,
    client_port: Option<u16>,
    remote_addr: String,
    method: String,
    target: String,
    protocol: String,
    status: u16,
    body_length: u64,
    duration: Duration,
    scheme: String,
    line: String,
}

#[test]
fn access_hook_gets_a_typed_record() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = seen.clone();
    let srv = spawn_server(
        app,
        default_opts()
            .forwarded_allow_ips(TrustedProxies::parse("127.0.0.1").unwrap())
            .log_output(false)
            .access_hook(move |r| {
                sink.lock().unwrap().push(Seen {
                    client_ip: r.client_ip.into(),
                    client_port: r.client_port,
                    remote_addr: r.remote_addr.into(),
                    method: r.method.into(),
                    target: r.target.into(),
                    protocol: r.protocol.into(),
                    status: r.status_code,
                    body_length: r.body_length,
                    duration: r.duration,
                    scheme: r.url_scheme.into(),
                    line: r.request_line.into(),
                });
            }),
    );
    let r = request(
        &srv,
        b"GET /slow?q=1 HTTP/1.0\r\nX-Forwarded-For: 203.0.113.4\r\nX-Forwarded-Proto: https\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status(), 200);
    request(
        &srv,
        b"DELETE /missing HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    // The hook runs after the response is sent: the client's next request,
    // on another connection, may be logged first (another worker).
    let by = |m: &str| seen.iter().find(|s| s.method == m).expect(m).clone();
    let a = &by("GET");
    assert_eq!(
        (a.client_ip.as_str(), a.client_port, a.remote_addr.as_str()),
        ("203.0.113.4", None, "203.0.113.4")
    );
    assert_eq!(
        (a.method.as_str(), a.target.as_str(), a.protocol.as_str()),
        ("GET", "/slow?q=1", "HTTP/1.0")
    );
    assert_eq!((a.status, a.scheme.as_str()), (200, "https"));
    assert_eq!(a.line, "GET /slow?q=1 HTTP/1.0");
    assert!(a.duration >= Duration::from_millis(600));
    assert!(a.body_length > 0);
    let b = &by("DELETE");
    assert_eq!(
        (b.method.as_str(), b.status, b.client_ip.as_str()),
        ("DELETE", 404, "127.0.0.1")
    );
    assert!(b.client_port.is_some());
}
