//! The ported eventlet crawler examples (`webcrawler`, `producer_consumer`,
//! `recursive_crawler`, `feedscraper`, `feedscraper-testclient`) run as the
//! real example binaries against a small site served by our own WSGI server
//! in this process (port 0; no internet): slow pages (500 ms), a crawlable
//! web of text pages with a link off-site, and RSS/Atom feeds.
//!
//! The example binaries are the ones `cargo test` builds; when this test runs
//! alone (`cargo test --test examples_crawlers`) it builds them first.

mod common;

use common::{spawn_server, TestServer};
use eventlet_wsgi::{Body, Environ, ServerOptions, StartResponse};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ===== the example binaries =====

/// Path of the example binary `name`, built on first use if missing.
fn example(name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<this test> → target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples");
    let path = dir.join(name);
    let _one_build_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    assert!(path.exists(), "{} does not exist", path.display());
    path
}

/// Kills the child if the test ends early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run an example to its end (at most 60 s); its output and how long it took.
fn run(name: &str, args: &[String]) -> (Output, Duration) {
    let path = example(name);
    let start = Instant::now();
    let child = Command::new(path)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let mut guard = ChildGuard(child);
    let mut stdout = guard.0.stdout.take().unwrap();
    let mut stderr = guard.0.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = guard.0.try_wait().expect("try_wait") {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{name} did not finish within 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = start.elapsed();
    let out = Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    };
    (out, took)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ===== the local site =====

type Hits = Arc<Mutex<HashMap<String, usize>>>;

/// `/delay/N`: N bytes after 500 ms. `/site/X`: a text page linking to other
/// pages (absolute URLs, as the crawlers' regex finds them in text) and one
/// off-site URL that must never be fetched. `/feed/rss`, `/feed/atom`: feeds
/// after 500 ms; `/feed/broken`: not XML.
fn site() -> (TestServer, Hits) {
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let app = move |env: &mut Environ, sr: &mut StartResponse| -> Body {
        let path = env["PATH_INFO"].to_string();
        let host = env.get("HTTP_HOST").unwrap_or("").to_string();
        *h.lock().unwrap().entry(path.clone()).or_default() += 1;
        let link = |p: &str| format!("http://{host}/site/{p}");
        let body = if let Some(n) = path.strip_prefix("/delay/") {
            eventlet::sleep(Duration::from_millis(500));
            "x".repeat(n.parse().unwrap_or(0))
        } else if let Some(page) = path.strip_prefix("/site/") {
            match page {
                "a" => format!("start here: {} and {}\n", link("b"), link("c")),
                "b" => format!(
                    "see {} or {} or http://elsewhere.invalid/x\n",
                    link("c"),
                    link("d")
                ),
                "c" => format!("back to {}\n", link("a")),
                "d" => "a dead end\n".to_string(),
                _ => {
                    sr.start("404 Not Found", [("Content-Type", "text/plain")]);
                    return Body::from(["not found"]);
                }
            }
        } else if path == "/feed/rss" {
            eventlet::sleep(Duration::from_millis(500));
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Local RSS</title>\
             <item><title>an item</title></item></channel></rss>"
                .to_string()
        } else if path == "/feed/atom" {
            eventlet::sleep(Duration::from_millis(500));
            "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\">\
             <title>Atom &amp; Eve</title><entry><title>e</title></entry></feed>"
                .to_string()
        } else if path == "/feed/broken" {
            "this is not xml".to_string()
        } else {
            sr.start("404 Not Found", [("Content-Type", "text/plain")]);
            return Body::from(["not found"]);
        };
        sr.start("200 OK", [("Content-Type", "text/plain")]);
        Body::from([body])
    };
    (spawn_server(app, ServerOptions::new()), hits)
}

// ===== tests =====

#[test]
fn webcrawler_fetches_eight_slow_urls_at_once_on_one_worker() {
    let (srv, hits) = site();
    let urls: Vec<String> = (0..8)
        .map(|i| format!("http://{}/delay/{}", srv.addr, 100 + i))
        .collect();
    let (out, took) = run("webcrawler", &urls);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    eprintln!("webcrawler, 8 x 500 ms URLs, one worker: {took:?} (whole process)");
    let lines: Vec<&str> = stdout.lines().collect();
    // Every fetch opened before the first one finished: they overlap.
    let first_done = lines
        .iter()
        .position(|l| l.starts_with("done with"))
        .unwrap();
    let opened = lines[..first_done]
        .iter()
        .filter(|l| l.starts_with("opening "))
        .count();
    assert_eq!(opened, 8, "{stdout}");
    // Results in order, with eventlet's line.
    let got: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("got body from"))
        .collect();
    let want: Vec<String> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("got body from {u} of length {}", 100 + i))
        .collect();
    assert_eq!(got, want);
    assert_eq!(hits.lock().unwrap().len(), 8);
    // Serially 4 s; overlapped ~0.5 s plus process start-up.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[test]
fn webcrawler_reports_a_failed_fetch() {
    let (srv, _hits) = site();
    let url = format!("http://{}/missing", srv.addr);
    let (out, _) = run("webcrawler", std::slice::from_ref(&url));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&url) && stderr.contains("404"), "{stderr}");
}

/// The crawlers' final report: the lines after "I saw these urls:".
fn seen_urls(stdout: &str) -> Vec<String> {
    let mut lines = stdout.lines();
    assert!(
        lines.any(|l| l == "I saw these urls:"),
        "no report in {stdout}"
    );
    lines
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn producer_consumer_crawls_the_local_site_once_per_page() {
    let (srv, hits) = site();
    let base = format!("http://{}/site/", srv.addr);
    let (out, _) = run(
        "producer_consumer",
        &[format!("{base}a"), srv.addr.to_string()],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let want: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|p| format!("{base}{p}"))
        .collect();
    assert_eq!(seen_urls(&stdout), want);
    for p in ["a", "b", "c", "d"] {
        assert!(stdout.contains(&format!("fetching {base}{p}\n")));
    }
    let hits = hits.lock().unwrap();
    for p in ["a", "b", "c", "d"] {
        assert_eq!(hits.get(&format!("/site/{p}")), Some(&1), "{hits:?}");
    }
    assert_eq!(hits.len(), 4, "only the site's pages: {hits:?}");
}

#[test]
fn recursive_crawler_crawls_the_local_site() {
    let (srv, hits) = site();
    let base = format!("http://{}/site/", srv.addr);
    let (out, _) = run(
        "recursive_crawler",
        &[format!("{base}a"), srv.addr.to_string()],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    // As in eventlet, the start URL is only "seen" once a page links to it
    // (c links back to a, so a is fetched a second time).
    let want: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|p| format!("{base}{p}"))
        .collect();
    assert_eq!(seen_urls(&stdout), want);
    let hits = hits.lock().unwrap();
    assert_eq!(hits.get("/site/a"), Some(&2), "{hits:?}");
    for p in ["b", "c", "d"] {
        assert_eq!(hits.get(&format!("/site/{p}")), Some(&1), "{hits:?}");
    }
    assert_eq!(hits.len(), 4, "only the site's pages: {hits:?}");
}

/// Start the feedscraper example on a free port; its address from the
/// server's start-up line.
fn start_feedscraper() -> (ChildGuard, String) {
    let child = Command::new(example("feedscraper"))
        .arg("127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start feedscraper");
    let mut guard = ChildGuard(child);
    let stderr = guard.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("wsgi starting up on http://") {
                let addr = line[at + "wsgi starting up on http://".len()..].trim();
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("feedscraper's start-up line");
    (guard, addr)
}

#[test]
fn feedscraper_returns_feed_titles_fetched_concurrently() {
    let (srv, _hits) = site();
    let (_scraper, scraper_addr) = start_feedscraper();
    let feeds: Vec<String> = ["rss", "atom", "broken", "rss", "atom", "rss", "atom"]
        .iter()
        .map(|f| format!("http://{}/feed/{f}", srv.addr))
        .collect();
    let mut args = vec![format!("http://{scraper_addr}/")];
    args.extend(feeds.iter().cloned());
    let (out, took) = run("feedscraper-testclient", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One title per feed, in order; the broken feed has the empty title.
    assert_eq!(
        text(&out.stdout),
        "Local RSS\nAtom & Eve\n\nLocal RSS\nAtom & Eve\nLocal RSS\nAtom & Eve\n"
    );
    // Six 500 ms feeds: fetched at once (serially they take 3 s).
    eprintln!("feedscraper: 6 x 500 ms feeds answered in {took:?} (client process included)");
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}

#[test]
fn feedscraper_forbids_other_methods() {
    let (_scraper, addr) = start_feedscraper();
    let mut s = TcpStream::connect(addr.as_str()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{reply}");
}
