//! The green HTTP client (`eventlet::green::http`, ureq over green sockets)
//! against a small HTTP/1.1 fixture server on loopback, with ONE worker:
//! concurrent slow fetches overlap, a ticker is not starved, Timeout cuts a
//! fetch on time, keep-alive reuses connections, redirects, https (rustls).
#![cfg(all(feature = "http-client", feature = "tls"))]

mod common;

use common::{finish, ticker};
use eventlet::green::http::{self, ureq};
use eventlet::net::Listener;
use eventlet::{Stream, Timeout};
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use ureq::ResponseExt;

fn setup() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // ureq + rustls need more than 64 KiB of stack in debug builds.
        let cfg = eventlet::Config::default()
            .workers(1)
            .stack_size(256 * 1024);
        let _ = eventlet::configure(cfg);
    });
}

/// The fixture: `/` answers "hello", `/slow` after 500 ms, `/stall` never,
/// `/redirect` → 302 to `/`, `/conn` the number of this connection (counted
/// per server). Keep-alive, Content-Length framing.
struct Fixture {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    listener: Arc<Listener>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.listener.shutdown();
    }
}

fn fixture(listener: Listener) -> Fixture {
    let addr = listener.local_addr().unwrap().inet().unwrap();
    let listener = Arc::new(listener);
    let conns = Arc::new(AtomicUsize::new(0));
    let (l, c) = (listener.clone(), conns.clone());
    eventlet::spawn_n(move || {
        let _ = eventlet::serve(l, 100, move |stream, _| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            serve_conn(stream, n)?;
            Ok(())
        });
    });
    Fixture {
        addr,
        conns,
        listener,
    }
}

fn serve_conn(stream: Stream, conn_no: usize) -> io::Result<()> {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split(' ').nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
        }
        let (status, extra, body) = match path.as_str() {
            "/slow" => {
                eventlet::sleep(Duration::from_millis(500));
                ("200 OK", "", "slow body".to_string())
            }
            "/stall" => {
                eventlet::sleep(Duration::from_secs(30));
                ("200 OK", "", String::new())
            }
            "/redirect" => ("302 Found", "Location: /\r\n", String::new()),
            "/conn" => ("200 OK", "", conn_no.to_string()),
            "/missing" => ("404 Not Found", "", "no".to_string()),
            _ => ("200 OK", "", "hello".to_string()),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        r.get_mut().write_all(resp.as_bytes())?;
    }
}

/// GET `url` with `agent` and read the whole body as text.
fn get_text(agent: &ureq::Agent, url: &str) -> String {
    agent
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn plain_fixture() -> Fixture {
    fixture(eventlet::listen("127.0.0.1:0").unwrap())
}

#[test]
fn urlopen_fetches_a_body() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/", fx.addr);
    let gt = eventlet::spawn(move || http::urlopen(&url).unwrap());
    assert_eq!(finish(&gt).unwrap(), b"hello");
}

#[test]
fn host_names_resolve_green_ly() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://localhost:{}/", fx.addr.port());
    let gt = eventlet::spawn(move || http::urlopen(&url).unwrap());
    assert_eq!(finish(&gt).unwrap(), b"hello");
}

#[test]
fn eight_slow_fetches_overlap_on_one_worker_and_a_ticker_keeps_ticking() {
    setup();
    let fx = plain_fixture();
    let stop = Arc::new(AtomicBool::new(false));
    let tick = ticker(stop.clone());
    let start = Instant::now();
    let gts: Vec<_> = (0..8)
        .map(|_| {
            let url = format!("http://{}/slow", fx.addr);
            eventlet::spawn(move || http::urlopen(&url).unwrap().len())
        })
        .collect();
    for gt in &gts {
        assert_eq!(finish(gt).unwrap(), "slow body".len());
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let ticks = finish(&tick).unwrap();
    eprintln!("8 x 500 ms fetches, 1 worker: {took:?}; ticker ran {ticks} times");
    // Serial would be 4 s; overlapped ~0.5 s. Wide margin for a loaded machine.
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(ticks >= 15, "ticker starved: {ticks} ticks in {took:?}");
}

#[test]
fn timeout_cuts_a_fetch_on_time() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/stall", fx.addr);
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(200));
        let start = Instant::now();
        let err = http::get(&url).call().unwrap_err();
        let mine = match &err {
            ureq::Error::Io(e) => t.is_io(e),
            _ => false,
        };
        (mine, start.elapsed(), err.to_string())
    });
    let (mine, took, msg) = finish(&gt).unwrap();
    eprintln!("a stalled fetch under a 200 ms Timeout returned after {took:?}");
    assert!(mine, "not this Timeout's error: {msg}");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1000),
        "cut after {took:?}"
    );
}

#[test]
fn urlopen_reports_a_timeout_as_timed_out() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/stall", fx.addr);
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(100));
        let err = http::urlopen(&url).unwrap_err();
        (err.kind(), t.is_io(&err))
    });
    assert_eq!(finish(&gt).unwrap(), (io::ErrorKind::TimedOut, true));
}

#[test]
fn ureq_own_timeouts_still_apply() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/stall", fx.addr);
    let gt = eventlet::spawn(move || {
        let config = ureq::Agent::config_builder()
            .timeout_recv_response(Some(Duration::from_millis(150)))
            .build();
        let agent = http::agent_with_config(config);
        let start = Instant::now();
        let err = agent.get(&url).call().unwrap_err();
        (matches!(err, ureq::Error::Timeout(_)), start.elapsed())
    });
    let (is_timeout, took) = finish(&gt).unwrap();
    eprintln!("ureq's own 150 ms recv-response timeout returned after {took:?}");
    assert!(is_timeout);
    assert!(took < Duration::from_millis(1000), "took {took:?}");
}

#[test]
fn keep_alive_reuses_the_connection() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/conn", fx.addr);
    let gt = eventlet::spawn(move || {
        let agent = http::agent();
        (0..5)
            .map(|_| {
                let mut res = agent.get(&url).call().unwrap();
                res.body_mut().read_to_string().unwrap()
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(finish(&gt).unwrap(), vec!["1"; 5]);
    assert_eq!(fx.conns.load(Ordering::SeqCst), 1);
}

#[test]
fn redirects_are_followed() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/redirect", fx.addr);
    let gt = eventlet::spawn(move || {
        let mut res = http::agent().get(&url).call().unwrap();
        (
            res.get_uri().path().to_string(),
            res.body_mut().read_to_string().unwrap(),
        )
    });
    assert_eq!(finish(&gt).unwrap(), ("/".to_string(), "hello".to_string()));
}

#[test]
fn error_statuses_are_errors_like_urllib() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/missing", fx.addr);
    let gt = eventlet::spawn(move || http::get(&url).call().unwrap_err().to_string());
    assert!(finish(&gt).unwrap().contains("404"));
}

#[test]
fn connection_refused_is_an_error_not_a_hang() {
    setup();
    // A port nobody listens on: bind, note it, close.
    let addr = {
        let l = eventlet::listen("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().inet().unwrap()
    };
    let url = format!("http://{addr}/");
    let gt = eventlet::spawn(move || http::urlopen(&url).unwrap_err().kind());
    assert_eq!(finish(&gt).unwrap(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn https_through_rustls_over_green_sockets() {
    setup();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let server_cfg =
        eventlet::tls::TlsServerConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let listener =
        eventlet::wrap_ssl(eventlet::listen("127.0.0.1:0").unwrap(), server_cfg).unwrap();
    let fx = fixture(listener);
    let port = fx.addr.port();
    let gt = eventlet::spawn(move || {
        let root = ureq::tls::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
            .build();
        let agent = http::agent_with_config(ureq::Agent::config_builder().tls_config(tls).build());
        let url = format!("https://localhost:{port}/conn");
        let a = get_text(&agent, &url);
        let b = get_text(&agent, &url);
        // An untrusted certificate is refused.
        let refused = http::get(&url).call().is_err();
        (a, b, refused)
    });
    let (a, b, refused) = finish(&gt).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("1", "1"), "TLS keep-alive reuse");
    assert!(
        refused,
        "the default roots must not trust a self-signed cert"
    );
}

#[test]
fn timeout_cuts_a_stalled_tls_handshake() {
    setup();
    // Accepts connections and never answers: the TLS handshake stalls.
    let listener = Arc::new(eventlet::listen("127.0.0.1:0").unwrap());
    let port = listener.local_addr().unwrap().inet().unwrap().port();
    let l = listener.clone();
    eventlet::spawn_n(move || {
        let mut held = Vec::new();
        while let Ok((conn, _)) = l.accept() {
            held.push(conn);
        }
    });
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(200));
        let start = Instant::now();
        let err = http::get(&format!("https://localhost:{port}/"))
            .call()
            .unwrap_err();
        let mine = match &err {
            ureq::Error::Io(e) => t.is_io(e),
            _ => false,
        };
        (mine, start.elapsed(), err.to_string())
    });
    let (mine, took, msg) = finish(&gt).unwrap();
    listener.shutdown();
    eprintln!("a stalled TLS handshake under a 200 ms Timeout returned after {took:?}");
    assert!(mine, "not this Timeout's error: {msg}");
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(1000),
        "cut after {took:?}"
    );
}

/// A CONNECT proxy: answers `CONNECT host:port`, then relays both ways.
fn connect_proxy(tunnels: Arc<AtomicUsize>) -> (SocketAddr, Arc<Listener>) {
    let listener = Arc::new(eventlet::listen("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap().inet().unwrap();
    let l = listener.clone();
    eventlet::spawn_n(move || {
        let _ = eventlet::serve(l, 100, move |client, _| {
            let mut r = BufReader::new(client);
            let mut line = String::new();
            r.read_line(&mut line)?;
            let target = line.split(' ').nth(1).unwrap_or("").to_string();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h)? == 0 || h == "\r\n" {
                    break;
                }
            }
            let mut upstream = eventlet::connect(target.as_str())?;
            tunnels.fetch_add(1, Ordering::SeqCst);
            let mut client = r.into_inner();
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            let (mut c2, mut u2) = (client.try_clone()?, upstream.try_clone()?);
            let up = eventlet::spawn(move || {
                let r = io::copy(&mut c2, &mut u2);
                // Pass the client's EOF on to the server.
                let _ = u2.shutdown(std::net::Shutdown::Write);
                r.map(|_| ())
            });
            let _ = io::copy(&mut upstream, &mut client);
            let _ = up.join();
            Ok(())
        });
    });
    (addr, listener)
}

#[test]
fn fetches_go_through_a_connect_proxy() {
    setup();
    let fx = plain_fixture();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let (proxy_addr, proxy) = connect_proxy(tunnels.clone());
    let url = format!("http://{}/conn", fx.addr);
    let gt = eventlet::spawn(move || {
        let proxy = ureq::Proxy::new(&format!("http://{proxy_addr}")).unwrap();
        let agent =
            http::agent_with_config(ureq::Agent::config_builder().proxy(Some(proxy)).build());
        let a = get_text(&agent, &url);
        let b = get_text(&agent, &url);
        (a, b)
    });
    let (a, b) = finish(&gt).unwrap();
    proxy.shutdown();
    assert_eq!((a.as_str(), b.as_str()), ("1", "1"), "one tunnel, reused");
    assert_eq!(tunnels.load(Ordering::SeqCst), 1);
    assert_eq!(fx.conns.load(Ordering::SeqCst), 1);
}

#[test]
fn agent_shutdown_interrupts_a_fetch_under_way() {
    setup();
    let fx = plain_fixture();
    let url = format!("http://{}/stall", fx.addr);
    let agent = http::agent();
    let a2 = agent.clone();
    let fetch = eventlet::spawn(move || {
        let start = Instant::now();
        let r = a2.get(&url).call();
        (r.is_err(), start.elapsed())
    });
    common::wait_until("the fetch is under way", || {
        fx.conns.load(Ordering::SeqCst) == 1
    });
    eventlet::sleep(Duration::from_millis(50));
    agent.shutdown();
    let (failed, took) = finish(&fetch).unwrap();
    assert!(
        failed,
        "the stalled fetch must fail once the agent shuts down"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
