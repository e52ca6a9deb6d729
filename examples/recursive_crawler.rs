//! eventlet's `examples/recursive_crawler.py`: a recursive web crawler. `fetch`
//! does all the work: it fetches a page, records the URLs it finds, and
//! dispatches new fetches to the pool, which coordinates the jobs and caps
//! the concurrency. Don't point it at random sites: it ignores robots.txt.
//!
//! ```text
//! cargo run --example recursive_crawler [START_URL [MUST_CONTAIN]]
//! ```
//!
//! Defaults as eventlet: start at `http://eventlet.net`, only follow URLs
//! containing `eventlet.net`, cut each fetch after 5 s. One worker thread.

use eventlet::green::http::urlopen;
use eventlet::{GreenPool, Timeout};
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// http://daringfireball.net/2009/11/liberal_regex_for_matching_urls
fn url_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\b(([\w-]+://?|www[.])[^\s()<>]+(?:\([\w\d]+\)|([^[:punct:]\s]|/)))")
            .expect("the URL regex compiles")
    })
}

type Seen = Arc<Mutex<BTreeSet<String>>>;

/// Fetch a url, stick any found urls into the seen set, and dispatch any new
/// ones to the pool.
fn fetch(url: String, seen: Seen, pool: GreenPool, must_contain: Arc<str>) {
    println!("fetching {url}");
    let mut data = String::new();
    {
        let _t = Timeout::new(Duration::from_secs(5));
        match urlopen(&url) {
            Ok(body) => data = String::from_utf8_lossy(&body).into_owned(),
            Err(e) if eventlet::TimeoutError::from_io(&e).is_some() => {}
            Err(e) => eprintln!("error fetching {url}: {e}"),
        }
    }
    for m in url_regex().find_iter(&data) {
        let new_url = m.as_str().to_string();
        // only send requests to one site so as not to destroy the internet;
        // the lock is held for the check-and-insert only, never across IO.
        let fresh = new_url.contains(&*must_contain)
            && seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(new_url.clone());
        if fresh {
            // while this seems stack-recursive, it's actually not:
            // spawned green threads start their own stacks
            let (seen, p, mc) = (seen.clone(), pool.clone(), must_contain.clone());
            let _ = pool.spawn_n(move || fetch(new_url, seen, p, mc));
        }
    }
}

/// Recursively crawl starting from `start_url`. Returns the set of urls found.
fn crawl(start_url: &str, must_contain: &str) -> BTreeSet<String> {
    let pool = GreenPool::default();
    let seen: Seen = Arc::default();
    fetch(
        start_url.to_string(),
        seen.clone(),
        pool.clone(),
        must_contain.into(),
    );
    let _ = pool.waitall();
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    seen.clone()
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
    // eventlet calls fetch() from the main program; here that runs in a
    // green thread so that its green stack size applies.
    let seen = eventlet::spawn(move || crawl(&start, &must_contain))
        .join()
        .expect("the crawl ran to its end");
    println!("I saw these urls:");
    println!("{}", seen.into_iter().collect::<Vec<_>>().join("\n"));
    Ok(())
}
