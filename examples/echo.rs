//! A request inspector (like httpbin's `/anything`): the server's
//! conformance target. Every request's whole body is read and the request is
//! answered as JSON:
//! `{"method", "path_info", "query", "protocol", "headers", "body_b64", "raw_uri"}`.
//!
//! `GET /__hdr?<urlsafe-base64 of "Name: value">` answers 200 with that header
//! added as given, to show that the server refuses bad application headers.
//!
//! `cargo run --example echo -- 127.0.0.1:8091 [flags]`
//!
//! The address (first argument) is `host:port`, `unix:/path`, `fd://N` (an
//! inherited listening socket) or `systemd` (socket activation). Flags:
//! - `--listen ADDR` (repeatable): more listeners in the same server;
//! - `--forwarded-allow-ips LIST`: trusted proxies (addresses, CIDRs, `unix`, `*`);
//! - `--proxy-protocol`: every connection starts with a PROXY v1/v2 header;
//! - `--workers N`: N worker processes under a master (signals: TERM, INT,
//!   QUIT, HUP, USR2, TTIN, TTOU as gunicorn);
//! - `--metrics PATH`: the Prometheus text at PATH; `--health PATH`: 200 while
//!   ready, 503 while draining;
//! - `--max-requests N`, `--max-requests-jitter N`, `--max-memory-mb N`:
//!   worker recycling; `--graceful-timeout-s N`;
//! - `--drain-delay-ms N`: on TERM, answer the health check with 503 this
//!   long before stopping; `--idle-grace-ms N`: keep idle connections this
//!   long on stop (see `ServerOptions::idle_grace`).
//!
//! The JSON also carries `remote_addr`, `remote_port`, `url_scheme` and
//! `pid` (which process answered).

use base64::Engine;
use eventlet_wsgi::{Body, BodyTooLarge, Environ, ServerOptions, StartResponse};

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The request inspector app; `tests/conformance.rs` replays its cases against it.
pub fn echo(env: &mut Environ, sr: &mut StartResponse) -> Body {
    if env.get("PATH_INFO") == Some("/__hdr") {
        return add_header(env, sr);
    }
    let body = match env.input().read_all() {
        Ok(b) => b,
        Err(e) => {
            // The status the server itself gives these errors: 413 over
            // `max_body_size`, 400 for a malformed or truncated body.
            let too_large = e.get_ref().is_some_and(|e| e.is::<BodyTooLarge>());
            sr.start(
                if too_large {
                    "413 Content Too Large"
                } else {
                    "400 Bad Request"
                },
                [("Content-Type", "text/plain"), ("Connection", "close")],
            );
            return Body::from(format!("cannot read the body: {e}\n"));
        }
    };
    let mut out = String::from("{");
    for (key, name) in [
        ("REQUEST_METHOD", "method"),
        ("PATH_INFO", "path_info"),
        ("QUERY_STRING", "query"),
        ("SERVER_PROTOCOL", "protocol"),
        ("REQUEST_URI", "raw_uri"),
        ("REMOTE_ADDR", "remote_addr"),
        ("REMOTE_PORT", "remote_port"),
        ("wsgi.url_scheme", "url_scheme"),
    ] {
        json_str(&mut out, name);
        out.push(':');
        json_str(&mut out, env.get(key).unwrap_or(""));
        out.push(',');
    }
    // A string: the conformance test's JSON reader knows strings and objects.
    out.push_str(&format!("\"pid\":\"{}\",", std::process::id()));
    out.push_str("\"headers\":{");
    let mut first = true;
    for (k, v) in env.vars() {
        if k.starts_with("HTTP_") || k == "CONTENT_TYPE" || k == "CONTENT_LENGTH" {
            if !first {
                out.push(',');
            }
            first = false;
            json_str(&mut out, k);
            out.push(':');
            json_str(&mut out, v);
        }
    }
    out.push_str("},\"body_b64\":");
    json_str(
        &mut out,
        &base64::engine::general_purpose::STANDARD.encode(&body),
    );
    out.push_str("}\n");
    sr.start("200 OK", [("Content-Type", "application/json")]);
    Body::from(out)
}

fn add_header(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let q = env.get("QUERY_STRING").unwrap_or("");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(q.trim_end_matches('='))
        .unwrap_or_default();
    // Bytes become chars one to one, so that any byte can be tried.
    let line: String = raw.iter().map(|&b| b as char).collect();
    let (name, value) = line.split_once(':').unwrap_or((&line, ""));
    sr.start(
        "200 OK",
        [
            ("Content-Type", "text/plain"),
            (name, value.trim_start_matches(' ')),
        ],
    );
    Body::from("header added\n")
}

/// The command line: the address, then flags.
#[derive(Default)]
#[allow(dead_code)] // also compiled into tests/conformance.rs, which uses only `echo`
struct Args {
    addr: String,
    listen: Vec<String>,
    forwarded_allow_ips: Option<String>,
    proxy_protocol: bool,
    workers: Option<usize>,
    metrics: Option<String>,
    health: Option<String>,
    max_requests: Option<u64>,
    max_requests_jitter: u64,
    max_memory_mb: Option<u64>,
    graceful_timeout_s: Option<u64>,
    drain_delay_ms: u64,
    idle_grace_ms: Option<u64>,
}

#[allow(dead_code)]
fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        addr: "127.0.0.1:8091".into(),
        ..Args::default()
    };
    let mut first = true;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--listen" => a.listen.push(value("--listen")?),
            "--forwarded-allow-ips" => a.forwarded_allow_ips = Some(value(&arg)?),
            "--proxy-protocol" => a.proxy_protocol = true,
            "--workers" => a.workers = Some(num(&arg, value(&arg)?)? as usize),
            "--metrics" => a.metrics = Some(value(&arg)?),
            "--health" => a.health = Some(value(&arg)?),
            "--max-requests" => a.max_requests = Some(num(&arg, value(&arg)?)?),
            "--max-requests-jitter" => a.max_requests_jitter = num(&arg, value(&arg)?)?,
            "--max-memory-mb" => a.max_memory_mb = Some(num(&arg, value(&arg)?)?),
            "--graceful-timeout-s" => a.graceful_timeout_s = Some(num(&arg, value(&arg)?)?),
            "--drain-delay-ms" => a.drain_delay_ms = num(&arg, value(&arg)?)?,
            "--idle-grace-ms" => a.idle_grace_ms = Some(num(&arg, value(&arg)?)?),
            other if first && !other.starts_with("--") => a.addr = other.to_string(),
            other => return Err(format!("unknown argument {other:?}")),
        }
        first = false;
    }
    Ok(a)
}

/// The listening sockets of a single process or of a worker-less start.
#[allow(dead_code)]
fn listeners(a: &Args) -> std::io::Result<Vec<eventlet::net::Listener>> {
    let mut out = Vec::new();
    for addr in std::iter::once(&a.addr).chain(&a.listen) {
        if addr == "systemd" {
            let sd = eventlet_wsgi::listeners::systemd_listeners()?;
            if sd.is_empty() {
                return Err(std::io::Error::other(
                    "`systemd` given but no sockets were passed",
                ));
            }
            out.extend(sd.into_iter().map(|(_, l)| l));
        } else if let Some(n) = addr.strip_prefix("fd://") {
            let fd = n
                .parse()
                .map_err(|_| std::io::Error::other(format!("bad {addr}")))?;
            // SAFETY: the user passed this inherited descriptor to us for this.
            out.push(unsafe { eventlet_wsgi::listeners::listener_from_raw_fd(fd) }?);
        } else {
            out.push(eventlet::listen(addr.as_str())?);
        }
    }
    Ok(out)
}

#[allow(dead_code)]
fn options(
    a: &Args,
) -> Result<(ServerOptions, std::sync::Arc<eventlet_wsgi::stats::Stats>), String> {
    let stats = eventlet_wsgi::stats::Stats::new();
    let mut opts = ServerOptions::new()
        .stats(stats.clone())
        .proxy_protocol(a.proxy_protocol);
    if let Some(list) = &a.forwarded_allow_ips {
        let t = eventlet_wsgi::proxy::TrustedProxies::parse(list).map_err(|e| e.to_string())?;
        opts = opts.forwarded_allow_ips(t);
    }
    if let Some(ms) = a.idle_grace_ms {
        opts = opts.idle_grace(std::time::Duration::from_millis(ms));
    }
    Ok((opts, stats))
}

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
    let args = parse_args().map_err(std::io::Error::other)?;
    let (opts, stats) = options(&args).map_err(std::io::Error::other)?;
    let site = eventlet_wsgi::metrics::Metrics::new(echo, stats);
    let site = match &args.metrics {
        Some(p) => site.metrics_path(p),
        None => site,
    };
    let site = match &args.health {
        Some(p) => site.health_path(p),
        None => site,
    };
    let drain = std::time::Duration::from_millis(args.drain_delay_ms);
    let Some(n) = args.workers else {
        let ls = listeners(&args)?;
        for l in &ls {
            if let Ok(a) = l.local_addr() {
                eprintln!("echo listening on {a}");
            }
        }
        return eventlet_wsgi::workers::Worker::standalone(ls)
            .drain_delay(drain)
            .serve(site, opts);
    };
    use eventlet_wsgi::workers;
    if let Some(w) = workers::worker()? {
        return w.drain_delay(drain).serve(site, opts);
    }
    // The master: never starts the runtime (workers are exec'd, not forked).
    let sockets = match workers::Master::inherited()? {
        Some(s) => s,
        None => {
            let mut s = Vec::new();
            for addr in std::iter::once(&args.addr).chain(&args.listen) {
                s.push(workers::bind(addr)?);
            }
            s
        }
    };
    for fd in &sockets {
        if let Ok(a) = socket_name(fd) {
            eprintln!("echo listening on {a}");
        }
    }
    let mut wo = workers::WorkerOptions::new()
        .workers(n)
        .max_requests(args.max_requests)
        .max_requests_jitter(args.max_requests_jitter)
        .max_memory(args.max_memory_mb.map(|m| m << 20));
    if let Some(s) = args.graceful_timeout_s {
        wo = wo.graceful_timeout(std::time::Duration::from_secs(s));
    }
    workers::Master::new(sockets, wo).run()
}

/// The address a socket listens on, without starting the runtime.
#[allow(dead_code)]
fn socket_name(fd: &std::os::fd::OwnedFd) -> std::io::Result<String> {
    let dup = fd.try_clone()?;
    match std::net::TcpListener::from(dup).local_addr() {
        Ok(a) => Ok(a.to_string()),
        Err(_) => Ok("a unix socket".into()),
    }
}
