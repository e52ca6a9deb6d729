//! The benchmark's server: the seed's hello world (`examples/wsgi.rs`) on an
//! address given on the command line, with the access log off, plus a POST
//! echo (the whole `wsgi.input` is read, then sent back) for the 1 MiB test.
//! `benches/run.sh` drives it; see `benches/README.md`.
//!
//! ```text
//! cargo run --release --example bench_server -- 127.0.0.1:18081
//! ```
//!
//! Environment:
//! - `EVENTLET_BENCH_PIN=1`: `Config::pin_workers(true)` (may pins worker *i*
//!   to core *i*); anything else or unset leaves pinning off (the default).
//! - `EVENTLET_BENCH_WORKERS=N`: worker threads (default: the CPUs the process
//!   may use, so 1 under `taskset -c 0`).
//! - `EVENTLET_BENCH_LOG=1`: the access log on, set up exactly as
//!   `examples/wsgi.rs` does (`eventlet_wsgi::logging::init`), for the log-on
//!   vs log-off cost. For comparison, `EVENTLET_BENCH_LOG=envlogger`: plain
//!   `env_logger` writing to a `BatchWriter` on stderr when stderr is not a
//!   terminal (the example's set-up before `logging::init`), and
//!   `EVENTLET_BENCH_LOG=unbatched`: plain `env_logger` on its own stderr
//!   target (one write per line, from the server's log thread).
//! - `EVENTLET_BENCH_BARE=1`: statistics off (`collect_stats(false)`) and no
//!   `socket_timeout`, to price those two defaults (the peers have neither);
//!   the benchmark itself always runs with our defaults.
use eventlet_wsgi::{Body, Environ, ServerOptions, StartResponse};
use std::io::{self, IsTerminal};

/// Enough for the 10,000-idle-connections memory test: eventlet's default of
/// 1024 would leave the rest waiting in the accept queue.
const MAX_CONNECTIONS: usize = 100_000;

fn hello_world(env: &mut Environ, start_response: &mut StartResponse) -> Body {
    if env.get("REQUEST_METHOD") == Some("POST") {
        return echo(env, start_response);
    }
    start_response.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(["Hello, World!\r\n"])
}

fn echo(env: &mut Environ, start_response: &mut StartResponse) -> Body {
    match env.input().read_all() {
        Ok(body) => {
            start_response.start("200 OK", [("Content-Type", "application/octet-stream")]);
            Body::from(body)
        }
        Err(e) => {
            start_response.start("400 Bad Request", [("Content-Type", "text/plain")]);
            Body::from(format!("cannot read the body: {e}\n"))
        }
    }
}

fn runtime_config() -> Result<eventlet::Config, String> {
    let mut cfg = eventlet::Config::default()
        .pin_workers(std::env::var("EVENTLET_BENCH_PIN").is_ok_and(|v| v == "1"));
    if let Ok(n) = std::env::var("EVENTLET_BENCH_WORKERS") {
        let n = n
            .parse()
            .map_err(|_| format!("EVENTLET_BENCH_WORKERS: not a number: {n}"))?;
        cfg = cfg.workers(n);
    }
    Ok(cfg)
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .ok_or_else(|| io::Error::other("usage: bench_server ADDR (e.g. 127.0.0.1:18081)"))?;
    let cfg = runtime_config().map_err(io::Error::other)?;
    eprintln!(
        "bench_server on {addr}: {} worker(s), pin_workers={}",
        cfg.get_workers(),
        cfg.get_pin_workers()
    );
    eventlet::configure(cfg).map_err(io::Error::other)?;
    // eventlet's default backlog of 50 drops SYNs at c1000; the anchors gave the
    // Python server 1024 as well.
    let listener = eventlet::ListenOptions::new()
        .backlog(1024)
        .listen(addr.as_str())?;
    let log = std::env::var("EVENTLET_BENCH_LOG").unwrap_or_default();
    let filter = "info,may=warn";
    let env_logger =
        || env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter));
    let log_on = match log.as_str() {
        "1" => {
            eventlet_wsgi::logging::init(filter);
            true
        }
        "envlogger" => {
            let mut logger = env_logger();
            if !std::io::stderr().is_terminal() {
                let batched = eventlet_wsgi::BatchWriter::new(std::io::stderr());
                logger.target(env_logger::Target::Pipe(Box::new(batched)));
            }
            logger.init();
            true
        }
        "unbatched" => {
            env_logger().init();
            true
        }
        "" | "0" => false,
        other => {
            return Err(io::Error::other(format!(
                "EVENTLET_BENCH_LOG: unknown value {other}"
            )))
        }
    };
    let opts = ServerOptions::new()
        .log_output(log_on)
        .max_size(MAX_CONNECTIONS);
    let opts = if std::env::var("EVENTLET_BENCH_BARE").is_ok_and(|v| v == "1") {
        opts.collect_stats(false).socket_timeout(None)
    } else {
        opts
    };
    eventlet_wsgi::server_with(listener, hello_world, opts)
}
