//! eventlet's `examples/feedscraper-testclient.py`: POST a big list of feed
//! URLs to the feedscraper example and print what it answers (the titles).
//!
//! ```text
//! cargo run --example feedscraper-testclient [SCRAPER_URL [FEED_URL ...]]
//! ```
//!
//! Defaults as eventlet: `http://localhost:9010/` and eventlet's 17 feeds.

use eventlet::green::http::urlopen_post;

const BIG_LIST_OF_FEEDS: &str = "
http://blog.eventlet.net/feed/
http://rss.slashdot.org/Slashdot/slashdot
http://feeds.boingboing.net/boingboing/iBag
http://feeds.feedburner.com/RockPaperShotgun
http://feeds.penny-arcade.com/pa-mainsite
http://achewood.com/rss.php
http://raysmuckles.blogspot.com/atom.xml
http://rbeef.blogspot.com/atom.xml
http://journeyintoreason.blogspot.com/atom.xml
http://orezscu.blogspot.com/atom.xml
http://feeds2.feedburner.com/AskMetafilter
http://feeds2.feedburner.com/Metafilter
http://stackoverflow.com/feeds
http://feeds.feedburner.com/codinghorror
http://www.tbray.org/ongoing/ongoing.atom
http://www.zeldman.com/feed/
http://ln.hixie.ch/rss/html
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    eventlet::configure(eventlet::Config::default().stack_size(256 * 1024))?;
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://localhost:9010/".into());
    let feeds: Vec<String> = args.collect();
    let feeds = if feeds.is_empty() {
        BIG_LIST_OF_FEEDS.to_string()
    } else {
        format!("\n{}\n", feeds.join("\n"))
    };
    let result = urlopen_post(&url, feeds.as_bytes())?;
    println!("{}", String::from_utf8_lossy(&result));
    Ok(())
}
