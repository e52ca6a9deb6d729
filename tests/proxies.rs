//! The deployment guide's configurations (`docs/deploy/`), loaded from their
//! files and run with the real programs: nginx and HAProxy in front of the
//! `echo` example, systemd socket activation (`systemd-socket-activate`),
//! and the Kubernetes probes / container arguments. Client address and
//! scheme must arrive right, PROXY v2 from HAProxy must work, and restarts
//! under load must lose nothing.
//!
//! A missing program skips its test with a loud message, unless
//! `EVENTLET_REQUIRE_PROXIES=1` (set by `.ci/run`, which installs them).

mod deploy_support;

use deploy_support::*;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn guide(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/deploy")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The guide's file with its placeholders filled; every one must be.
fn render(file: &str, vars: &[(&str, String)]) -> String {
    let mut s = guide(file);
    for (k, v) in vars {
        s = s.replace(&format!("{{{{{k}}}}}"), v);
    }
    let unfilled: Vec<&str> = s
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("{{"))
        .collect();
    assert!(
        unfilled.is_empty(),
        "{file}: unfilled placeholders {unfilled:?}"
    );
    s
}

/// The program's path, or `None` (after a loud message) when not installed.
fn need(prog: &str) -> Option<PathBuf> {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
        "/bin",
    ] {
        let p = Path::new(dir).join(prog);
        if p.exists() {
            return Some(p);
        }
    }
    if std::env::var("EVENTLET_REQUIRE_PROXIES").as_deref() == Ok("1") {
        panic!("{prog} is required here (EVENTLET_REQUIRE_PROXIES=1): apt-get install {prog}");
    }
    eprintln!("\n*** SKIPPED: {prog} is not installed; this test needs the real {prog} (apt-get install {prog}) ***\n");
    None
}

/// A free port on 127.0.0.1 for a program that wants a number in its
/// config (bound to port 0, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(addr: SocketAddr, p: &Proc) {
    let end = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < end,
            "{} never listened on {addr}:\n{}",
            p.name,
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A connection from 127.0.0.2, so that the client differs from the proxy.
fn connect_from_127_0_0_2(to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

fn json_field(body: &str, k: &str) -> String {
    body.split(&format!("\"{k}\":\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no {k} in {body}"))
        .to_string()
}

fn nginx(dir: &Path, bin: &Path, site: String) -> Proc {
    std::fs::write(dir.join("site.conf"), site).unwrap();
    // Test plumbing only: where a non-root nginx keeps its files.
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/site.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    Proc::start(
        "nginx",
        Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf")),
        dir,
    )
}

#[test]
fn nginx_forwards_client_and_scheme_and_restarts_lose_nothing() {
    let Some(bin) = need("nginx") else { return };
    let dir = scratch("nginx");
    let (mut app, backend) = start_echo(
        "app",
        &dir,
        &[
            "--workers",
            "2",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--idle-grace-ms",
            "3000",
        ],
    );
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let (plain, tls) = (free_port(), free_port());
    let site = render(
        "nginx-site.conf",
        &[
            ("BACKEND", backend.to_string()),
            ("LISTEN", format!("127.0.0.1:{plain}")),
            ("TLS_LISTEN", format!("127.0.0.1:{tls}")),
            ("CERT", dir.join("cert.pem").display().to_string()),
            ("KEY", dir.join("key.pem").display().to_string()),
        ],
    );
    let proxy = nginx(&dir, &bin, site);
    let front: SocketAddr = format!("127.0.0.1:{plain}").parse().unwrap();
    wait_port(front, &proxy);

    // Plain HTTP from 127.0.0.2: the app sees that client, not nginx.
    let (status, body) = get_on(
        connect_from_127_0_0_2(front),
        "/who",
        &["X-Forwarded-For: 6.6.6.6"],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_field(&body, "remote_addr"), "127.0.0.2", "{body}");
    assert_eq!(json_field(&body, "url_scheme"), "http");
    assert_eq!(json_field(&body, "HTTP_HOST"), "test");

    // HTTPS terminated by nginx: the app sees https.
    let client_cfg =
        eventlet::tls::TlsClientConfig::with_root_pem(cert.cert.pem().as_bytes()).unwrap();
    let tls_addr: SocketAddr = format!("127.0.0.1:{tls}").parse().unwrap();
    let mut s = eventlet::tls::connect(tls_addr, "localhost", &client_cfg).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /tls HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut BufReader::new(s)).unwrap();
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    assert_eq!(json_field(&body, "url_scheme"), "https", "{body}");
    assert_eq!(json_field(&body, "remote_addr"), "127.0.0.1");

    // HUP and USR2 of the app behind nginx, under load.
    let load = Load::start(front, 6, 4, "/load");
    wait_requests(&load, 300);
    app.signal(libc::SIGHUP);
    app.wait_log("worker 1 stopped", Duration::from_secs(60));
    wait_requests(&load, 300);
    app.signal(libc::SIGUSR2);
    assert!(
        app.wait_exit(Duration::from_secs(90)).is_some(),
        "old master still up"
    );
    let line = app.wait_log("ready: stopping the old master", Duration::from_secs(5));
    let new_master: i32 = line
        .split('(')
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    wait_requests(&load, 300);
    let report = load.finish();
    signal(new_master, libc::SIGTERM);
    eprintln!(
        "nginx: restarts under load: {} ok, {} socket errors, {} failed responses, {} app pids",
        report.ok,
        report.socket_errors,
        report.failed_responses,
        report.pids.len()
    );
    assert_eq!(
        (report.socket_errors, report.failed_responses),
        (0, 0),
        "{:?}",
        &report.errors[..report.errors.len().min(10)]
    );
    // nginx keeps its upstream connections: not every worker gets one, but
    // the ones after HUP and after USR2 must have answered.
    assert!(report.pids.len() >= 3, "{:?}", report.pids);
    let end = Instant::now() + Duration::from_secs(60);
    while alive(new_master) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(proxy);
}

#[test]
fn haproxy_proxy_v2_two_instances_restarted_one_after_the_other() {
    let Some(bin) = need("haproxy") else { return };
    let dir = scratch("haproxy");
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "--proxy-protocol",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--health",
            "/healthz",
            "--drain-delay-ms",
            "1500",
            "--idle-grace-ms",
            "2000",
            "--workers",
            "1",
        ];
        a.extend_from_slice(extra);
        a
    };
    let (mut a, a_addr) = start_echo_proxied("a", &dir, "127.0.0.1:0", &args(&[]));
    let (mut b, b_addr) = start_echo_proxied("b", &dir, "127.0.0.1:0", &args(&[]));
    let port = free_port();
    let cfg = render(
        "haproxy.cfg",
        &[
            ("LISTEN", format!("127.0.0.1:{port}")),
            ("BACKEND1", a_addr.to_string()),
            ("BACKEND2", b_addr.to_string()),
        ],
    );
    std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
    let proxy = Proc::start(
        "haproxy",
        Command::new(&bin)
            .arg("-db")
            .arg("-f")
            .arg(dir.join("haproxy.cfg")),
        &dir,
    );
    let front: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_port(front, &proxy);
    // Both instances up (health checks need `rise 2`).
    let end = Instant::now() + Duration::from_secs(30);
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 2 {
        assert!(
            Instant::now() < end,
            "HAProxy never used both instances:\n{}",
            proxy.log_text()
        );
        if let Ok((200, body)) = get_on(connect_from_127_0_0_2(front), "/who", &[]) {
            // PROXY v2: the app sees the client behind HAProxy.
            assert_eq!(json_field(&body, "remote_addr"), "127.0.0.2", "{body}");
            assert_eq!(json_field(&body, "url_scheme"), "http");
            seen.insert(json_field(&body, "pid"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let load = Load::start(front, 6, 4, "/load");
    wait_requests(&load, 300);
    // Instance a: USR2 (new binary on the same socket, old master drains).
    a.signal(libc::SIGUSR2);
    assert!(
        a.wait_exit(Duration::from_secs(90)).is_some(),
        "a's old master still up"
    );
    let line = a.wait_log("ready: stopping the old master", Duration::from_secs(5));
    let a_new: i32 = line
        .split('(')
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    wait_requests(&load, 300);
    // Instance b: stopped for good (TERM: readiness 503, HAProxy takes it
    // out, then it drains), then started again on the same port.
    b.signal(libc::SIGTERM);
    assert!(
        b.wait_exit(Duration::from_secs(60))
            .is_some_and(|s| s.success()),
        "b did not stop"
    );
    wait_requests(&load, 300);
    let (b2, _) = start_echo_proxied("b2", &dir, &b_addr.to_string(), &args(&[]));
    // Wait until HAProxy sends to the new b again.
    b2.wait_log("\"GET /load HTTP/1.1\" 200", Duration::from_secs(60));
    wait_requests(&load, 300);
    let report = load.finish();
    eprintln!(
        "haproxy: two instances restarted under load: {} ok, {} socket errors, {} failed responses, {} app pids",
        report.ok, report.socket_errors, report.failed_responses, report.pids.len()
    );
    signal(a_new, libc::SIGTERM);
    drop(b2);
    assert_eq!(
        (report.socket_errors, report.failed_responses),
        (0, 0),
        "{:?}",
        &report.errors[..report.errors.len().min(10)]
    );
    assert!(report.pids.len() >= 4, "{:?}", report.pids);
    let end = Instant::now() + Duration::from_secs(60);
    while alive(a_new) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(proxy);
}

/// `echo ADDR args`: its address from the log (PROXY protocol on, so no
/// plain readiness request can be made).
fn start_echo_proxied(name: &str, dir: &Path, addr: &str, args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(echo_bin());
    cmd.arg(addr).args(args).env("RUST_LOG", "info,may=warn");
    let p = Proc::start(name, &mut cmd, dir);
    let line = p.wait_log("echo listening on ", Duration::from_secs(30));
    let a: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    p.wait_log("wsgi starting up", Duration::from_secs(30));
    (p, a)
}

#[test]
fn systemd_units_with_socket_activation() {
    let Some(bin) = need("systemd-socket-activate") else {
        return;
    };
    let dir = scratch("systemd");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let socket_unit = render("eventlet-app.socket", &[("LISTEN", listen.clone())]);
    let service_unit = render(
        "eventlet-app.service",
        &[("BIN", echo_bin().display().to_string())],
    );
    let value = |unit: &str, key: &str| -> String {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in\n{unit}"))
            .to_string()
    };
    let exec: Vec<String> = value(&service_unit, "ExecStart")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--listen={}", value(&socket_unit, "ListenStream")))
        .arg(format!(
            "--fdname={}",
            value(&socket_unit, "FileDescriptorName")
        ))
        .arg("-E")
        .arg("RUST_LOG=info,may=warn")
        .args(&exec);
    let mut p = Proc::start("activate", &mut cmd, &dir);
    let addr: SocketAddr = listen.parse().unwrap();
    wait_port(addr, &p);
    // The first connection starts the service; it waits in the socket's backlog.
    let (status, body) = get(addr, "/first").unwrap();
    assert_eq!(status, 200, "{body}");
    p.wait_log("master: starting 2 workers", Duration::from_secs(30));
    let health = get(addr, "/healthz").unwrap();
    assert_eq!(health, (200, "ok\n".to_string()));
    let (_, metrics) = get(addr, "/metrics").unwrap();
    assert!(
        metrics.contains("eventlet_wsgi_requests_total{code=\"2xx\"}"),
        "{metrics}"
    );
    // ExecReload: HUP replaces the workers; the socket never stops answering.
    let load = Load::start(addr, 2, 2, "/load");
    wait_requests(&load, 200);
    let reload = value(&service_unit, "ExecReload");
    assert!(reload.contains("-HUP"), "{reload}");
    p.signal(libc::SIGHUP);
    p.wait_log("worker 1 stopped", Duration::from_secs(60));
    wait_requests(&load, 200);
    let report = load.finish();
    eprintln!(
        "systemd socket activation, reload under load: {} ok, {} socket errors, {} failed responses",
        report.ok, report.socket_errors, report.failed_responses
    );
    assert_eq!(
        (report.socket_errors, report.failed_responses),
        (0, 0),
        "{:?}",
        report.errors
    );
    // KillSignal=SIGTERM stops it.
    assert_eq!(value(&service_unit, "KillSignal"), "SIGTERM");
    p.signal(libc::SIGTERM);
    assert!(
        p.wait_exit(Duration::from_secs(40))
            .is_some_and(|s| s.success()),
        "{}",
        p.log_text()
    );
}

/// One process (no master) on the socket unit's socket: `systemd` as the
/// address takes `LISTEN_FDS` through `listeners::systemd_listeners`.
#[test]
fn systemd_socket_activation_single_process() {
    let Some(bin) = need("systemd-socket-activate") else {
        return;
    };
    let dir = scratch("systemd-single");
    let listen = format!("127.0.0.1:{}", free_port());
    let unit = render("eventlet-app.socket", &[("LISTEN", listen.clone())]);
    let stream = unit
        .lines()
        .find_map(|l| l.strip_prefix("ListenStream="))
        .unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--listen={stream}"))
        .arg("-E")
        .arg("RUST_LOG=info,may=warn")
        .arg(echo_bin())
        .args(["systemd", "--health", "/healthz"]);
    let mut p = Proc::start("activate", &mut cmd, &dir);
    let addr: SocketAddr = listen.parse().unwrap();
    wait_port(addr, &p);
    let (status, body) = get(addr, "/one").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_field(&body, "remote_addr"), "127.0.0.1");
    p.wait_log("echo listening on 127.0.0.1:", Duration::from_secs(10));
    assert!(!p.log_text().contains("master:"), "no master expected");
    p.signal(libc::SIGTERM);
    assert!(
        p.wait_exit(Duration::from_secs(30))
            .is_some_and(|s| s.success()),
        "{}",
        p.log_text()
    );
}

/// The container arguments and the Kubernetes probes: the paths answer, and
/// on TERM readiness turns 503 while liveness stays 200, then the process
/// exits within the grace period.
#[test]
fn kubernetes_probes_and_container_arguments() {
    let dir = scratch("k8s");
    let yaml = guide("k8s.yaml");
    let args_line = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .expect("args in k8s.yaml");
    let args: Vec<String> = args_line
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .map(|a| a.trim().trim_matches('"').to_string())
        .collect();
    let path_of = |probe: &str| -> String {
        let i = yaml.find(probe).unwrap_or_else(|| panic!("no {probe}"));
        yaml[i..]
            .split("path: ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .trim()
            .to_string()
    };
    let (ready, live) = (path_of("readinessProbe"), path_of("livenessProbe"));
    let grace: u64 = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix("terminationGracePeriodSeconds: "))
        .unwrap()
        .parse()
        .unwrap();
    // The container's own arguments must be the same flags.
    let containerfile = guide("Containerfile");
    for a in &args[1..] {
        assert!(
            containerfile.contains(&format!("\"{a}\"")),
            "Containerfile lacks {a}"
        );
    }
    assert_eq!(args[0], "0.0.0.0:8000");
    let rest: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    let (mut p, addr) = start_echo("pod", &dir, &rest);
    p.wait_log("wsgi starting up", Duration::from_secs(30));
    assert_eq!(get(addr, &ready).unwrap().0, 200);
    assert_eq!(get(addr, &live).unwrap().0, 200);
    let stopped_at = Instant::now();
    p.signal(libc::SIGTERM);
    let end = Instant::now() + Duration::from_secs(10);
    let mut saw_503 = false;
    while Instant::now() < end && !saw_503 {
        if let Ok((code, _)) = get(addr, &ready) {
            saw_503 = code == 503;
            if saw_503 {
                assert_eq!(
                    get(addr, &live).unwrap().0,
                    200,
                    "liveness must hold while draining"
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        saw_503,
        "readiness never answered 503 after TERM:\n{}",
        p.log_text()
    );
    assert!(
        p.wait_exit(Duration::from_secs(grace))
            .is_some_and(|s| s.success()),
        "{}",
        p.log_text()
    );
    assert!(
        stopped_at.elapsed() >= Duration::from_millis(4500),
        "stopped before the drain delay"
    );
}
