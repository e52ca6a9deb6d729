//! eventlet's `examples/producer_consumer.py`: a recursive web crawler in
//! "producer/consumer" style. `fetch` produces jobs (URLs found in a page)
//! into a queue, and the `GreenPool` is the consumer, farming them out
//! concurrently. Don't point it at random sites: it ignores robots.txt and
//! fetches as fast as it can.
//!
//! ```text
//! cargo run --example producer_consumer [START_URL [MUST_CONTAIN]]
//! ```
//!
//! Defaults as eventlet: start at `http://eventlet.net` and only follow URLs
//! containing `eventlet.net`. Each fetch is cut after 5 s (eventlet's
//! `with Timeout(5, False)`). One worker thread, as eventlet's hub.

use eventlet::green::http::urlopen;
use eventlet::queue::Queue;
use eventlet::{GreenPool, Timeout};
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// http://daringfireball.net/2009/11/liberal_regex_for_matching_urls
fn url_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b(([\w-]+://?|www[.])[^\s()<>]+(?:\([\w\d]+\)|([^[:punct:]\s]|/)))")
            .expect("the URL regex compiles")
    })
}

/// Fetch a url and push any urls found into a queue.
fn fetch(url: String, outq: Arc<Queue<String>>) {
    println!("fetching {url}");
    let mut data = String::new();
    {
        let _t = Timeout::new(Duration::from_secs(5));
        match urlopen(&url) {
            Ok(body) => data = String::from_utf8_lossy(&body).into_owned(),
            // eventlet: the Timeout passes silently; other errors end this
            // green thread with a traceback.
            Err(e) if eventlet::TimeoutError::from_io(&e).is_some() => {}
            Err(e) => eprintln!("error fetching {url}: {e}"),
        }
    }
    for m in url_regex().find_iter(&data) {
        let _ = outq.put(m.as_str().to_string());
    }
}

/// Recursively crawl starting from `start_url`. Returns the set of urls found.
fn producer(start_url: &str, must_contain: &str) -> BTreeSet<String> {
    let pool = GreenPool::default();
    let mut seen = BTreeSet::new();
    let q = Arc::new(Queue::new());
    let _ = q.put(start_url.to_string());
    // keep looping if there are new urls, or workers that may produce more urls
    loop {
        while !q.empty() {
            let Ok(url) = q.get() else { break };
            // limit requests to one site so we don't crash all over the internet
            if !seen.contains(&url) && url.contains(must_contain) {
                seen.insert(url.clone());
                let q = q.clone();
                let _ = pool.spawn_n(move || fetch(url, q));
            }
        }
        let _ = pool.waitall();
        if q.empty() {
            break;
        }
    }
    seen
}

fn main() -> Result<(), eventlet::ConfigError> {
    eventlet::configure(
        eventlet::Config::default()
            .workers(1)
            .stack_size(256 * 1024),
    )?;
    let mut args = std::env::args().skip(1);
    let start = args.next().unwrap_or_else(|| "http://eventlet.net".into());
    let must_contain = args.next().unwrap_or_else(|| "eventlet.net".into());
    let seen = producer(&start, &must_contain);
    println!("I saw these urls:");
    println!("{}", seen.into_iter().collect::<Vec<_>>().join("\n"));
    Ok(())
}
