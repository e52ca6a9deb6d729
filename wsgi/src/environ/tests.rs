//! The lazy environ answers exactly what the fully built variable list
//! answers, and that list is what the server built before the environ was
//! lazy (`golden.txt`, written by the eager implementation of 2039bd8 from
//! the heads below).

use super::*;
use crate::chunked::ChunkedLimits;
use crate::connio::ConnIo;
use crate::head::{self, Limits};
use crate::proxy::TrustedProxies;
use crate::ServerOptions;
use std::cell::RefCell;

/// Varied heads: repeated headers, underscores, bytes ≥ 0x80, absolute,
/// authority and asterisk forms, empty path, queries, percent escapes,
/// Content-Type/Length, HTTP/1.0, leading empty lines, forwarding headers.
const HEADS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nAccept: a\r\nX-Dup: 1\r\nx-dup: 2\r\nCookie: c=1\r\nX-DUP: 3\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX_Under: u\r\nX-Under: d\r\nContent_Type: no\r\nx_under: v\r\n\r\n",
    b"GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: h\r\nX-Latin: \x80\xa0\xff\r\nX-Latin: b\r\nUser-Agent: \xe9t\xe9\r\n\r\n",
    b"GET http://example.com HTTP/1.1\r\nHost: other\r\n\r\n",
    b"GET HTTP://Example.com:8080/p/q?r=s HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a%20b%2Fc%zz%4%e9%C3%A9/end%2 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\ncontent-type: second\r\nCONTENT-LENGTH: 5\r\n\r\n",
    b"GET /old HTTP/1.0\r\nUser-Agent: x\r\nConnection: keep-alive\r\n\r\n",
    b"\r\n\r\nGET /lead HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /? HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Empty: \r\nX-Empty: z\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    b"GET /x?%41=%42 HTTP/1.1\r\nHost: h\r\nX.Custom|Pipe~!#: 1\r\nAccept-Encoding: gzip\r\naccept-encoding: br\r\nAuthorization: Basic x\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: 10.0.0.1\r\nForwarded: for=10.0.0.9;proto=https;host=fwd.example\r\n\r\n",
    b"DELETE /%7Euser/%ff HTTP/1.1\r\nhOsT: h\r\nX-a: 1\r\nX-A: 2\r\nx-a: \xfe\r\n\r\n",
    b"GET /xf HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.7, 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: xf.example:81\r\n\r\n",
];

/// Run `f` on a connection of a server with `opts` whose environ the
/// server's own `build_environ` fills (see [`crate::bench_support`]).
fn with_conn(opts: ServerOptions, f: impl FnOnce(&mut crate::conn::BenchConn<'_, '_>)) {
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().inet().unwrap();
    let _client = std::net::TcpStream::connect(addr).unwrap();
    let (stream, peer) = listener.accept().unwrap();
    let app = |_: &mut Environ<'_>, _: &mut crate::StartResponse<'_>| crate::Body::empty();
    let shared = crate::server::Shared::new(listener, Box::new(app), opts);
    crate::conn::with_bench_conn(stream, peer, &shared, f);
}

/// `vars()`, `headers_raw()` and the request line of every head, as the
/// golden file has them (ports, which change from run to run, masked).
fn dump(opts: ServerOptions, tag: &str, out: &mut Vec<String>) {
    let subset = tag.starts_with("environ:");
    with_conn(opts, |c| {
        for (i, h) in HEADS.iter().enumerate() {
            if subset && ![0, 1, 3, 7, 13].contains(&i) {
                continue;
            }
            c.build_environ(h);
            let env = c.environ();
            let vars: Vec<(String, String)> = env
                .vars()
                .map(|(k, v)| {
                    let port = (k == "REMOTE_PORT" || k == "SERVER_PORT") && !v.is_empty();
                    (k.to_string(), if port { "<port>" } else { v }.to_string())
                })
                .collect();
            out.push(format!("{tag} {i} vars={vars:?}"));
            if tag == "plain" {
                let raw: Vec<(String, String)> = env
                    .headers_raw()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                out.push(format!("{tag} {i} raw={raw:?}"));
                out.push(format!("{tag} {i} line={:?}", env.request_line()));
            }
        }
    });
}

#[test]
fn built_variables_are_those_of_the_eager_environ() {
    let mut out = Vec::new();
    dump(ServerOptions::new(), "plain", &mut out);
    for (k, v) in [
        ("HTTP_X_DUP", "pre"),
        ("CONTENT_TYPE", "pre/ct"),
        ("CONTENT_LENGTH", "9"),
        ("REQUEST_METHOD", "PRE"),
        ("wsgi.url_scheme", "https"),
        ("HTTP_HOST", "prehost"),
        ("X_EXTRA", "e"),
    ] {
        dump(
            ServerOptions::new().environ([(k, v)]),
            &format!("environ:{k}"),
            &mut out,
        );
    }
    let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
    dump(
        ServerOptions::new().forwarded_allow_ips(trusted),
        "proxy",
        &mut out,
    );
    let golden: Vec<&str> = include_str!("golden.txt").lines().collect();
    for (got, want) in out.iter().zip(&golden) {
        assert_eq!(got, want);
    }
    assert_eq!(out.len(), golden.len());
}

/// An environ of its own over a real socket, loaded directly (TLS too).
struct Fixture {
    io: RefCell<ConnIo>,
    _client: std::net::TcpStream,
}

impl Fixture {
    fn new() -> Fixture {
        let listener = eventlet::listen("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().inet().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().unwrap();
        Fixture {
            io: RefCell::new(ConnIo::new(stream)),
            _client: client,
        }
    }

    fn environ(&self) -> Environ<'_> {
        let mut env = Environ::new(Input::new(&self.io, ChunkedLimits::default()));
        env.set_connection(["10.1.1.1", "8443", "192.0.2.1", "5555"]);
        env
    }
}

/// Load `h` into `env` as the server does (no `environ` option).
fn load(env: &mut Environ<'_>, h: &[u8], tls: bool) {
    env.park_storage();
    let mut headers = Vec::new();
    let mut head = head::parse_head(h, &Limits::default(), true, &mut headers)
        .unwrap()
        .unwrap();
    env.load(h, &mut head, tls, &HashMap::new());
}

/// Every key any head sets, keys near them, and the `HTTP_*` spellings of
/// every header name of `h` (right and wrong).
fn candidate_keys(h: &[u8]) -> Vec<String> {
    let mut keys: Vec<String> = [
        "wsgi.url_scheme",
        "HTTPS",
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "RAW_PATH_INFO",
        "PATH_INFO",
        "QUERY_STRING",
        "REQUEST_URI",
        "SERVER_PROTOCOL",
        "SERVER_NAME",
        "SERVER_PORT",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "GATEWAY_INTERFACE",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_CONTENT_TYPE",
        "HTTP_CONTENT_LENGTH",
        "HTTP_",
        "HTTP",
        "",
        "request_method",
        "CONTENT-TYPE",
        "HTTP_HOST",
        "HTTP_host",
        "HTTP_X_MISSING",
        "wsgi.input",
    ]
    .map(String::from)
    .to_vec();
    let text: String = h.iter().map(|&b| char::from(b)).collect();
    for line in text.split("\r\n").skip_while(|l| l.is_empty()).skip(1) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        keys.push(format!("HTTP_{}", name.to_uppercase().replace('-', "_")));
        keys.push(format!("HTTP_{}", name.to_uppercase()));
        keys.push(format!("HTTP_{name}"));
        keys.push(name.to_uppercase().replace('-', "_"));
    }
    keys
}

#[test]
fn lazy_answers_equal_the_built_list_for_every_key() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    for tls in [false, true] {
        for h in HEADS {
            let keys = candidate_keys(h);
            // Each key asked of a freshly loaded (lazy) environ.
            let mut lazy = Vec::new();
            for k in &keys {
                load(&mut env, h, tls);
                assert!(!env.is_materialized());
                lazy.push((env.get(k).map(String::from), env.is_materialized()));
            }
            load(&mut env, h, tls);
            let built: Vec<(String, String)> = env
                .vars()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert!(env.is_materialized());
            for (k, (got, materialized)) in keys.iter().zip(&lazy) {
                let want = built.iter().find(|(bk, _)| bk == k).map(|(_, v)| v.clone());
                assert_eq!(got, &want, "{k} of {}", String::from_utf8_lossy(h));
                // Only a header repeated under one key builds the list (to join).
                let lines = built
                    .iter()
                    .find(|(bk, _)| bk == k)
                    .map_or(0, |(_, v)| v.matches(',').count());
                if !k.starts_with("HTTP_") || lines == 0 {
                    assert!(!materialized, "{k} built the list");
                }
                // And the built list answers the same.
                assert_eq!(env.get(k).map(String::from), want, "{k} (built)");
            }
            for (k, _) in &built {
                assert!(keys.contains(k), "{k} is not a candidate key");
            }
        }
    }
}

#[test]
fn repeated_headers_are_joined_when_asked_lazily() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    load(&mut env, HEADS[1], false);
    assert_eq!(env.get("HTTP_ACCEPT"), Some("a"));
    assert!(!env.is_materialized());
    assert_eq!(env.get("HTTP_X_DUP"), Some("1,2,3"));
    assert!(env.is_materialized());
    load(&mut env, HEADS[10], false);
    assert!(!env.is_materialized());
    assert_eq!(env.get("HTTP_X_EMPTY"), Some(",,z"));
    load(&mut env, HEADS[3], false);
    assert_eq!(env.get("HTTP_X_LATIN"), Some("\u{80}\u{a0}\u{ff},b"));
    assert_eq!(env.get("HTTP_USER_AGENT"), Some("\u{e9}t\u{e9}"));
}

#[test]
fn set_and_remove_after_lazy_gets() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    load(&mut env, HEADS[1], true);
    assert_eq!(env.get("PATH_INFO"), Some("/a/b"));
    assert_eq!(env.get("HTTPS"), Some("on"));
    assert_eq!(env.get("REMOTE_ADDR"), Some("192.0.2.1"));
    let before: Vec<(String, String)> = env
        .vars()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&mut env, HEADS[1], true);
    assert_eq!(env.url_scheme(), "https");
    env.set("PATH_INFO", "/new");
    assert!(env.remove("HTTP_ACCEPT"));
    assert!(!env.remove("HTTP_ACCEPT"));
    assert!(!env.remove("HTTP_X_MISSING"));
    env.set("HTTP_NEW", "1");
    env.set("HTTP_X_DUP", "replaced");
    env.set("REMOTE_ADDR", "203.0.113.5");
    assert_eq!(env.get("PATH_INFO"), Some("/new"));
    assert_eq!(env.get("RAW_PATH_INFO"), Some("/a/b"));
    assert_eq!(env.get("HTTP_ACCEPT"), None);
    assert_eq!(env.get("HTTP_NEW"), Some("1"));
    assert_eq!(env.get("HTTP_X_DUP"), Some("replaced"));
    assert_eq!(&env["REMOTE_ADDR"], "203.0.113.5");
    let mut want = before.clone();
    for (k, v) in want.iter_mut() {
        match k.as_str() {
            "PATH_INFO" => *v = "/new".into(),
            "HTTP_X_DUP" => *v = "replaced".into(),
            "REMOTE_ADDR" => *v = "203.0.113.5".into(),
            _ => {}
        }
    }
    want.retain(|(k, _)| k != "HTTP_ACCEPT");
    want.push(("HTTP_NEW".into(), "1".into()));
    let after: Vec<(String, String)> = env
        .vars()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(after, want);
    // The raw lines and the request line are the request's, unchanged.
    let raw: Vec<(&str, &str)> = env.headers_raw().collect();
    assert_eq!(raw[1], ("Accept", "a"));
    assert_eq!(raw.len(), 6);
    assert_eq!(env.request_line(), "GET /a/b?x=1&y=2 HTTP/1.1");
    assert_eq!(format!("{env:?}").matches("HTTP_NEW").count(), 1);
    // The next request starts lazy and clean.
    load(&mut env, HEADS[0], false);
    assert!(!env.is_materialized());
    assert_eq!(env.get("HTTP_NEW"), None);
    assert_eq!(env.get("REMOTE_ADDR"), Some("192.0.2.1"));
    assert_eq!(env.get("HTTPS"), None);
    assert_eq!(env.vars().count(), 13);
}

#[test]
fn set_on_a_fresh_request_builds_the_list_first() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    load(&mut env, HEADS[7], false);
    env.set("X_NEW", "n");
    assert!(env.is_materialized());
    let keys: Vec<&str> = env.vars().map(|(k, _)| k).collect();
    assert_eq!(keys.first(), Some(&"wsgi.url_scheme"));
    assert_eq!(keys.last(), Some(&"X_NEW"));
    assert_eq!(env.get("CONTENT_TYPE"), Some("text/plain"));
    assert_eq!(env.get("CONTENT_LENGTH"), Some("5"));
    assert_eq!(keys.len(), 16);
}

#[test]
fn an_idle_connection_frees_a_big_request() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "b".repeat(3000)
    );
    load(&mut env, big.as_bytes(), false);
    env.set("X", &"y".repeat(3000));
    assert!(env.req.text.capacity() > IDLE_KEEP_BYTES);
    env.park_storage();
    assert!(env.req.text.capacity() <= IDLE_KEEP_BYTES);
    assert!(!env.is_materialized());
    assert_eq!(env.spare_vars.get_mut().capacity(), 0);
    assert_eq!(env.get("HTTP_X_BIG"), None);
    load(&mut env, HEADS[0], false);
    assert_eq!(env.get("HTTP_HOST"), Some("127.0.0.1"));
    assert_eq!(env.get("HTTP_X_BIG"), None);
}

#[test]
fn forwarded_for_answers_as_get_does() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    let mut heads: Vec<Vec<u8>> = HEADS.iter().map(|h| h.to_vec()).collect();
    heads.extend([
        b"GET / HTTP/1.1\r\nHost: h\r\nx-FORWARDED-for: 1.2.3.4\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a\r\nX-Other: b\r\nx-forwarded-for: c\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: under\r\nX-Forwarded-Fo: short\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: caf\xe9\r\n\r\n".to_vec(),
    ]);
    for h in &heads {
        load(&mut env, h, false);
        let fast = env.forwarded_for().map(String::from);
        load(&mut env, h, false);
        let want = env.get("HTTP_X_FORWARDED_FOR").map(String::from);
        assert_eq!(fast, want, "{}", String::from_utf8_lossy(h));
        // With the list built (and changed by middleware), the list answers.
        env.set("HTTP_X_FORWARDED_FOR", "set by middleware");
        assert_eq!(env.forwarded_for(), Some("set by middleware"));
    }
}

#[test]
fn what_an_app_added_is_seen_then_gone_after_parking() {
    let fx = Fixture::new();
    let mut env = fx.environ();
    load(&mut env, HEADS[0], false);
    assert!(!env.has_posthooks());
    env.posthooks().push(Box::new(|_| {}));
    assert!(env.has_posthooks());
    load(&mut env, HEADS[1], false);
    assert!(!env.has_posthooks());
    env.add_posthook(|_| {});
    env.insert_ext("k", 7u32);
    env.set_minimum_write_chunk_size(1);
    env.set("PATH_INFO", "/rewritten");
    assert!(env.has_posthooks());
    assert_eq!(env.ext::<u32>("k"), Some(&7));
    assert_eq!(env.min_chunk, Some(1));
    assert_eq!(env.get("PATH_INFO"), Some("/rewritten"));
    load(&mut env, HEADS[1], false);
    assert!(!env.has_posthooks() && env.take_posthooks().is_empty());
    assert_eq!(env.ext::<u32>("k"), None);
    assert_eq!(env.min_chunk, None);
    assert!(!env.is_materialized());
    assert_eq!(env.get("PATH_INFO"), Some("/a/b"));
    // A middleware value reached through `ext_mut` alone is also parked.
    env.insert_ext("n", 1u8);
    load(&mut env, HEADS[0], false);
    assert_eq!(env.ext_mut::<u8>("n"), None);
    load(&mut env, HEADS[0], false);
    assert_eq!(env.ext::<u8>("n"), None);
}
