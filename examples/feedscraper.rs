//! eventlet's `examples/feedscraper.py`: a web server that accepts POSTs
//! containing a list of feed URLs (one per line) and returns the titles of
//! those feeds, fetched concurrently.
//!
//! ```text
//! cargo run --example feedscraper [ADDR]      # default localhost:9010
//! cargo run --example feedscraper-testclient  # in another terminal
//! ```
//!
//! eventlet's version parses feeds with `feedparser` (through
//! `import_patched`); here the feed comes through the green HTTP client and
//! its title is read with `quick-xml` (RSS 0.9x/1.0/2.0 `channel/title`,
//! Atom `feed/title`). A feed that cannot be fetched or parsed has the empty
//! title, as with feedparser.

use eventlet::green::http::urlopen;
use eventlet::{GreenPile, GreenPool};
use eventlet_wsgi::{self as wsgi, Body, Environ, StartResponse};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use quick_xml::XmlVersion;
use std::sync::OnceLock;

/// The pool provides a safety limit on our concurrency (eventlet's
/// `GreenPool()`: 1000).
fn pool() -> &'static GreenPool {
    static POOL: OnceLock<GreenPool> = OnceLock::new();
    POOL.get_or_init(GreenPool::default)
}

/// The feed's own title: the first `<title>` directly inside `<channel>`
/// (RSS) or the root `<feed>` (Atom).
fn feed_title(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut path: Vec<String> = Vec::new();
    let mut title: Option<String> = None;
    loop {
        let in_title = title.is_some();
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                let parent = path.last().map(String::as_str);
                if name == "title" && matches!(parent, Some("channel") | Some("feed")) {
                    title = Some(String::new());
                }
                path.push(name);
            }
            Event::End(_) => {
                if in_title {
                    return title.map(|t| t.trim().to_string());
                }
                path.pop();
            }
            Event::Text(t) if in_title => {
                title
                    .as_mut()?
                    .push_str(&t.xml_content(XmlVersion::Implicit1_0));
            }
            Event::CData(t) if in_title => title.as_mut()?.push_str(t.as_ref()),
            Event::GeneralRef(r) if in_title => {
                let text = match r.resolve_char_ref().ok()? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(r.as_ref())?.to_string(),
                };
                title.as_mut()?.push_str(&text);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

fn fetch_title(url: String) -> String {
    match urlopen(&url) {
        Ok(body) => feed_title(&body).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn app(env: &mut Environ, start_response: &mut StartResponse) -> Body {
    if env["REQUEST_METHOD"] != *"POST" {
        start_response.start("403 Forbidden", [] as [(&str, &str); 0]);
        return Body::empty();
    }
    // the pile collects the result of a concurrent operation -- in this
    // case, the collection of feed titles
    let mut pile = GreenPile::with_pool(pool().clone());
    let lines = env.input().readlines(None).unwrap_or_default();
    for line in lines {
        let url = String::from_utf8_lossy(&line).trim().to_string();
        if !url.is_empty() {
            let _ = pile.spawn(move || fetch_title(url));
        }
    }
    // since the pile is an iterator over the results, it joins like any other
    let titles: Vec<String> = pile.map(|r| r.unwrap_or_default()).collect();
    start_response.start("200 OK", [("Content-type", "text/plain")]);
    Body::from([titles.join("\n")])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
    // ureq + rustls want more than 64 KiB of stack in debug builds.
    eventlet::configure(eventlet::Config::default().stack_size(256 * 1024))?;
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "localhost:9010".into());
    wsgi::server(eventlet::listen(addr.as_str())?, app)?;
    Ok(())
}
