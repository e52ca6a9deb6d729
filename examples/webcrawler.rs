//! eventlet's `examples/webcrawler.py`: fetch a bunch of URLs with a pool that
//! caps the number of outbound connections; there are as many connections
//! open at once as green threads in the pool. The prints in `fetch` show that
//! the requests really run in parallel.
//!
//! ```text
//! cargo run --example webcrawler [URL ...]
//! ```
//!
//! Without arguments it fetches eventlet's three URLs. Like eventlet (one hub
//! thread), all green threads share ONE worker thread here: the fetches
//! overlap because `green::http::urlopen` parks only its green thread.

use eventlet::green::http::urlopen;
use eventlet::GreenPool;
use std::io;

const URLS: [&str; 3] = [
    "https://www.google.com/intl/en_ALL/images/logo.gif",
    "http://python.org/images/python-logo.gif",
    "http://us.i1.yimg.com/us.yimg.com/i/ww/beta/y3.gif",
];

fn fetch(url: String) -> (String, io::Result<Vec<u8>>) {
    println!("opening {url}");
    let body = urlopen(&url);
    println!("done with {url}");
    (url, body)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One worker as eventlet's hub; ureq + rustls want more than 64 KiB of
    // stack in debug builds.
    eventlet::configure(
        eventlet::Config::default()
            .workers(1)
            .stack_size(256 * 1024),
    )?;
    let mut urls: Vec<String> = std::env::args().skip(1).collect();
    if urls.is_empty() {
        urls = URLS.iter().map(|u| u.to_string()).collect();
    }
    let pool = GreenPool::new(200);
    for result in pool.imap(fetch, urls) {
        let (url, body) = result?;
        // eventlet: an exception in fetch ends the program with a traceback.
        let body = body.map_err(|e| format!("{url}: {e}"))?;
        println!("got body from {url} of length {}", body.len());
    }
    Ok(())
}
