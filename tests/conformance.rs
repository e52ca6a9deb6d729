//! Raw-socket HTTP/1.x conformance suite: a table of requests, each with its expected outcome, replayed
//! against the request inspector of `examples/echo.rs` running in-process.
//!
//! The cases follow `/work/shared/reference/http_conformance.md`: §1 (gunicorn fixture categories), §3
//! (advisories, HTTP Garden payload classes, smuggler's Transfer-Encoding gadgets), §5 (the RFC 9112 / 9110
//! checklist, each with the status to send) and §6 (the recommended decisions). They were written from the
//! RFC rules and the advisories; the byte-variant families are generated.
//!
//! Every case runs on its own connection. Rejections must come back as exactly one response with
//! `Connection: close` followed by the server closing (gracefully: the client reads it), and nothing sent
//! after a rejected or smuggled request is ever answered. A group collects all its failures before it
//! asserts, so one bad case does not hide the others.

mod common;

#[path = "../examples/echo.rs"]
#[allow(dead_code)]
mod echo_app;

use base64::Engine;
use common::{spawn_server, TestServer};
use eventlet_wsgi::ServerOptions;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------------------------------------------
// Expectations
// ------------------------------------------------------------------------------------------------------

/// What the echo app must report about a request.
#[derive(Clone, Debug)]
struct Echo {
    method: String,
    path_info: String,
    query: String,
    protocol: &'static str,
    raw_uri: Option<String>,
    /// Environ variables (`HTTP_*`, `CONTENT_TYPE`, `CONTENT_LENGTH`) that must be present with this value.
    headers: Vec<(String, String)>,
    /// Environ variables that must be absent.
    absent: Vec<String>,
    body: Vec<u8>,
}

/// An HTTP/1.1 request the echo app answers with `method` and `path_info`, an empty query and body.
fn echo(method: &str, path_info: &str) -> Echo {
    Echo {
        method: method.into(),
        path_info: path_info.into(),
        query: String::new(),
        protocol: "HTTP/1.1",
        raw_uri: None,
        headers: Vec::new(),
        absent: Vec::new(),
        body: Vec::new(),
    }
}

impl Echo {
    fn query(mut self, q: &str) -> Self {
        self.query = q.into();
        self
    }
    fn http10(mut self) -> Self {
        self.protocol = "HTTP/1.0";
        self
    }
    fn raw_uri(mut self, u: &str) -> Self {
        self.raw_uri = Some(u.into());
        self
    }
    fn hdr(mut self, key: &str, value: &str) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }
    fn no_hdr(mut self, key: &str) -> Self {
        self.absent.push(key.into());
        self
    }
    fn body(mut self, b: &[u8]) -> Self {
        self.body = b.to_vec();
        self
    }
    /// The only response, after which the server closes the connection by itself.
    fn closes(self) -> Expect {
        seq_closing(vec![R::Echo(self)])
    }
}

/// One expected response.
#[derive(Clone, Debug)]
enum R {
    /// 200 from the echo app with this JSON.
    Echo(Echo),
    /// Any response with this status (its body is not inspected).
    Code(u16),
    /// A response with this status that has no body (HEAD, 2xx to CONNECT).
    Bodyless(u16),
    /// `HTTP/1.1 100 Continue`.
    Continue,
    /// A rejection: this status with `Connection: close`; nothing may follow it.
    Reject(u16),
}

impl From<Echo> for R {
    fn from(e: Echo) -> R {
        R::Echo(e)
    }
}

#[derive(Clone, Debug)]
enum Expect {
    /// Exactly these responses, in this order. With `server_closes` the server must close the connection by
    /// itself after the last one; otherwise the connection stays usable and the client ends it.
    Responses { items: Vec<R>, server_closes: bool },
    /// No response at all, then the connection closes (e.g. a head cut short by the client's EOF).
    Close,
}

/// Exactly one response with `code`, `Connection: close`, then the server closes.
fn status(code: u16) -> Expect {
    seq(vec![R::Reject(code)])
}

/// These responses in order; the server closes by itself when the last one is a rejection.
fn seq(items: Vec<R>) -> Expect {
    let server_closes = matches!(items.last(), Some(R::Reject(_)));
    Expect::Responses {
        items,
        server_closes,
    }
}

/// These responses in order, the last with `Connection: close`, then the server closes.
fn seq_closing(items: Vec<R>) -> Expect {
    Expect::Responses {
        items,
        server_closes: true,
    }
}

impl From<Echo> for Expect {
    fn from(e: Echo) -> Expect {
        seq(vec![R::Echo(e)])
    }
}

/// One request (or pipelined sequence) and its expected outcome.
struct Case {
    name: String,
    raw: Vec<u8>,
    expect: Expect,
    /// The client half-closes right after sending. Needed whenever the server would otherwise wait for
    /// more input: a keep-alive connection, a truncated request.
    half_close: bool,
    /// Byte strings that must appear in the response bytes.
    wire_has: Vec<Vec<u8>>,
    /// Byte strings that must not appear in the response bytes (ASCII case-insensitive).
    wire_lacks: Vec<Vec<u8>>,
}

fn case(name: impl Into<String>, raw: impl Into<Vec<u8>>, expect: impl Into<Expect>) -> Case {
    let expect = expect.into();
    let half_close = match &expect {
        Expect::Close => true,
        Expect::Responses { server_closes, .. } => !server_closes,
    };
    Case {
        name: name.into(),
        raw: raw.into(),
        expect,
        half_close,
        wire_has: Vec::new(),
        wire_lacks: Vec::new(),
    }
}

impl Case {
    /// The client sends EOF after the request (a truncated body), so the server cannot wait for more.
    fn eof(mut self) -> Self {
        self.half_close = true;
        self
    }
    fn wire_has(mut self, b: &[u8]) -> Self {
        self.wire_has.push(b.to_vec());
        self
    }
    fn wire_lacks(mut self, b: &[u8]) -> Self {
        self.wire_lacks.push(b.to_vec());
        self
    }
}

// ------------------------------------------------------------------------------------------------------
// Request builders
// ------------------------------------------------------------------------------------------------------

/// Latin-1: every char up to U+00FF becomes one byte, so a case can spell any byte inside a `&str`.
fn lat(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(c).expect("test strings are latin-1"))
        .collect()
}

/// The lines (request line, field lines), each CRLF-terminated, the empty line, then `rest`.
fn msg(lines: &[&str], rest: &str) -> Vec<u8> {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.push_str(rest);
    lat(&s)
}

fn get(target: &str) -> Vec<u8> {
    msg(&[&format!("GET {target} HTTP/1.1"), "Host: a"], "")
}

/// `POST / HTTP/1.1` with Host, the given extra field lines, and `rest` after the head.
fn post(fields: &[&str], rest: &str) -> Vec<u8> {
    let mut lines = vec!["POST / HTTP/1.1", "Host: a"];
    lines.extend_from_slice(fields);
    msg(&lines, rest)
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A request pipelined after the one under test: answered only when the one before was accepted and
/// framed correctly.
const AFTER: &str = "GET /after HTTP/1.1\r\nHost: a\r\n\r\n";

fn after() -> R {
    R::Echo(echo("GET", "/after"))
}

/// Bytes that smuggling gadgets put around `Transfer-Encoding` (smuggler's byte list, condensed): every
/// control byte, SP, DEL, and the obs-text bytes other parsers took for whitespace.
fn odd_bytes() -> Vec<u8> {
    (0u8..=0x20).chain([0x7f, 0x80, 0x85, 0xa0, 0xff]).collect()
}

/// RFC 9110 §5.6.3 OWS: the only bytes that may pad a field value.
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn b64url(s: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

// ------------------------------------------------------------------------------------------------------
// Running a case
// ------------------------------------------------------------------------------------------------------

const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything the server sent on one connection.
struct Transcript {
    bytes: Vec<u8>,
    /// The server closed (EOF or reset) rather than the read timing out.
    closed: bool,
}

fn exchange(addr: SocketAddr, raw: &[u8], half_close: bool) -> Transcript {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    // A server that rejects early may stop reading (then reset); what it sent is still read below.
    let _ = s.write_all(raw);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + READ_TIMEOUT;
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                break true
            }
            Err(_) => break false,
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    Transcript { bytes, closed }
}

/// A response as read from the wire.
#[derive(Debug)]
struct Resp {
    status_line: String,
    code: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }
    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits the transcript into responses. `items` says which responses have no body (HEAD, CONNECT).
fn parse_responses(mut data: &[u8], items: &[R]) -> Result<Vec<Resp>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let end = find(data, b"\r\n\r\n")
            .ok_or_else(|| format!("incomplete response head {}", show(data)))?;
        let head: String = data[..end].iter().map(|&b| b as char).collect();
        data = &data[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let code = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let headers = lines
            .map(|l| {
                l.split_once(':')
                    .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                    .ok_or_else(|| format!("bad response header line {l:?}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut resp = Resp {
            status_line,
            code,
            headers,
            body: Vec::new(),
        };
        let bodyless = matches!(items.get(out.len()), Some(R::Bodyless(_) | R::Continue))
            || (100..200).contains(&code)
            || code == 204
            || code == 304;
        if bodyless {
            out.push(resp);
            continue;
        }
        if let Some(cl) = resp.header("content-length") {
            let n: usize = cl
                .parse()
                .map_err(|_| format!("bad response Content-Length {cl:?}"))?;
            if data.len() < n {
                return Err(format!(
                    "response body cut short: {} of {n} bytes",
                    data.len()
                ));
            }
            resp.body = data[..n].to_vec();
            data = &data[n..];
        } else if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            let (body, used) = dechunk(data)?;
            resp.body = body;
            data = &data[used..];
        } else {
            resp.body = data.to_vec();
            data = &[];
        }
        out.push(resp);
    }
    Ok(out)
}

/// Decodes a chunked response body; returns it and the bytes used.
fn dechunk(data: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut body = Vec::new();
    let mut i = 0;
    loop {
        let eol = find(&data[i..], b"\r\n").ok_or("chunked response cut short")? + i;
        let line = std::str::from_utf8(&data[i..eol]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or(""), 16)
            .map_err(|_| format!("bad response chunk size {line:?}"))?;
        i = eol + 2;
        if size == 0 {
            let end = find(&data[i..], b"\r\n").ok_or("chunked response cut short")?;
            return Ok((body, i + end + 2));
        }
        if data.len() < i + size + 2 {
            return Err("chunked response cut short".into());
        }
        body.extend_from_slice(&data[i..i + size]);
        i += size + 2;
    }
}

/// Printable form of bytes, cut to a readable length.
fn show(b: &[u8]) -> String {
    let s: String = b
        .iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect();
    if s.len() > 240 {
        format!("\"{}...\" ({} bytes)", &s[..240], b.len())
    } else {
        format!("\"{s}\"")
    }
}

fn describe(t: &Transcript) -> String {
    let state = if t.closed {
        "then closed"
    } else {
        "connection left open"
    };
    match parse_responses(&t.bytes, &[]) {
        Ok(rs) if rs.is_empty() => format!("no response, {state}"),
        Ok(rs) => {
            let lines: Vec<_> = rs.iter().map(|r| r.status_line.clone()).collect();
            format!("{lines:?}, {state}")
        }
        Err(_) => format!("{} {state}", show(&t.bytes)),
    }
}

fn describe_expect(e: &Expect) -> String {
    match e {
        Expect::Close => "no response, then close".into(),
        Expect::Responses {
            items,
            server_closes,
        } => {
            let v: Vec<String> = items
                .iter()
                .map(|r| match r {
                    R::Echo(e) => format!("200 echo {} {}", e.method, e.path_info),
                    R::Code(c) => format!("{c}"),
                    R::Bodyless(c) => format!("{c} (no body)"),
                    R::Continue => "100 Continue".into(),
                    R::Reject(c) => format!("{c} + close"),
                })
                .collect();
            let end = if *server_closes {
                "server closes"
            } else {
                "kept alive"
            };
            format!("{v:?}, {end}")
        }
    }
}

fn run_case(addr: SocketAddr, c: &Case) -> Result<(), String> {
    let t = exchange(addr, &c.raw, c.half_close);
    check(c, &t).map_err(|e| {
        format!(
            "{e}\n      expected: {}\n      got: {}",
            describe_expect(&c.expect),
            describe(&t)
        )
    })
}

fn check(c: &Case, t: &Transcript) -> Result<(), String> {
    for w in &c.wire_has {
        if find(&t.bytes, w).is_none() {
            return Err(format!("{} is missing from the response", show(w)));
        }
    }
    let lower = t.bytes.to_ascii_lowercase();
    for w in &c.wire_lacks {
        if find(&lower, &w.to_ascii_lowercase()).is_some() {
            return Err(format!("{} appears in the response", show(w)));
        }
    }
    let (items, server_closes) = match &c.expect {
        Expect::Close if t.bytes.is_empty() => (&[][..], false),
        Expect::Close => return Err("expected no response".into()),
        Expect::Responses {
            items,
            server_closes,
        } => (&items[..], *server_closes),
    };
    let got = parse_responses(&t.bytes, items)?;
    if got.len() != items.len() {
        return Err(format!(
            "{} responses instead of {}",
            got.len(),
            items.len()
        ));
    }
    for (i, (want, r)) in items.iter().zip(&got).enumerate() {
        check_response(want, r).map_err(|e| format!("response {}: {e}", i + 1))?;
    }
    if server_closes && !got.last().is_some_and(Resp::closes) {
        return Err("the last response lacks Connection: close".into());
    }
    if !t.closed {
        return Err("the server did not close the connection".into());
    }
    Ok(())
}

fn check_response(want: &R, r: &Resp) -> Result<(), String> {
    if !r.status_line.starts_with("HTTP/1.1 ") {
        return Err(format!("status line {:?}", r.status_line));
    }
    if r.code >= 200 && r.count("date") != 1 {
        return Err("no single Date header".into());
    }
    let code = match want {
        R::Echo(e) => return check_echo(e, r),
        R::Continue if r.status_line == "HTTP/1.1 100 Continue" && r.headers.is_empty() => {
            return Ok(())
        }
        R::Continue => return Err(format!("{:?} is not a bare 100 Continue", r.status_line)),
        R::Code(c) | R::Bodyless(c) | R::Reject(c) => *c,
    };
    if r.code != code {
        return Err(format!("status {} instead of {code}", r.code));
    }
    if matches!(want, R::Reject(_)) && !r.closes() {
        return Err(format!("{code} without Connection: close"));
    }
    Ok(())
}

fn check_echo(e: &Echo, r: &Resp) -> Result<(), String> {
    if r.code != 200 {
        return Err(format!(
            "status {} instead of 200 (body {})",
            r.code,
            show(&r.body)
        ));
    }
    let text = std::str::from_utf8(&r.body).map_err(|e| format!("echo body: {e}"))?;
    let json = Json::parse(text.trim_end())?;
    let field = |k: &str| json.str(k).ok_or_else(|| format!("echo JSON lacks {k:?}"));
    let want = [
        ("method", e.method.as_str()),
        ("path_info", &e.path_info),
        ("query", &e.query),
        ("protocol", e.protocol),
    ];
    for (k, v) in want {
        if field(k)? != v {
            return Err(format!("{k} = {:?}, expected {v:?}", field(k)?));
        }
    }
    if let Some(u) = &e.raw_uri {
        if field("raw_uri")? != u {
            return Err(format!("raw_uri = {:?}, expected {u:?}", field("raw_uri")?));
        }
    }
    let Some(Json::Obj(headers)) = json.get("headers") else {
        return Err("echo JSON lacks headers".into());
    };
    for (k, v) in &e.headers {
        match headers.get(k) {
            Some(Json::Str(got)) if got == v => {}
            other => return Err(format!("{k} = {other:?}, expected {v:?}")),
        }
    }
    for k in &e.absent {
        if let Some(v) = headers.get(k) {
            return Err(format!("{k} = {v:?} should be absent"));
        }
    }
    let body = base64::engine::general_purpose::STANDARD
        .decode(field("body_b64")?)
        .map_err(|e| e.to_string())?;
    if body != e.body {
        return Err(format!("body {} instead of {}", show(&body), show(&e.body)));
    }
    Ok(())
}

/// Runs every case on its own connection and fails with the list of all failing cases.
fn run_cases(group: &str, srv: &TestServer, cases: Vec<Case>) {
    let n = cases.len();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            run_case(srv.addr, c)
                .err()
                .map(|e| format!("[{group}/{}] {e}\n      sent: {}", c.name, show(&c.raw)))
        })
        .collect();
    eprintln!("{group}: {n} cases, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {n} {group} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn opts() -> ServerOptions {
    ServerOptions::new().debug(false)
}

fn echo_server(opts: ServerOptions) -> TestServer {
    spawn_server(echo_app::echo, opts)
}

// ------------------------------------------------------------------------------------------------------
// A minimal JSON reader for the echo app's output (strings and objects only).
// ------------------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Json {
    Str(String),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(s: &str) -> Result<Json, String> {
        let chars: Vec<char> = s.chars().collect();
        let mut p = JsonParser { s: &chars, i: 0 };
        let v = p.value()?;
        if p.i != chars.len() {
            return Err(format!("trailing JSON at {}", p.i));
        }
        Ok(v)
    }
    fn get(&self, k: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(k),
            Json::Str(_) => None,
        }
    }
    fn str(&self, k: &str) -> Option<&str> {
        match self.get(k) {
            Some(Json::Str(s)) => Some(s),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [char],
    i: usize,
}

impl JsonParser<'_> {
    fn next(&mut self) -> Result<char, String> {
        let c = *self.s.get(self.i).ok_or("JSON cut short")?;
        self.i += 1;
        Ok(c)
    }
    fn expect(&mut self, want: char) -> Result<(), String> {
        match self.next()? {
            c if c == want => Ok(()),
            c => Err(format!("JSON: {c:?} instead of {want:?} at {}", self.i)),
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        match self.s.get(self.i) {
            Some('"') => self.string().map(Json::Str),
            Some('{') => self.object(),
            other => Err(format!("JSON: unexpected {other:?}")),
        }
    }
    fn object(&mut self) -> Result<Json, String> {
        self.expect('{')?;
        let mut m = BTreeMap::new();
        if self.s.get(self.i) == Some(&'}') {
            self.i += 1;
            return Ok(Json::Obj(m));
        }
        loop {
            let k = self.string()?;
            self.expect(':')?;
            let v = self.value()?;
            m.insert(k, v);
            match self.next()? {
                ',' => {}
                '}' => return Ok(Json::Obj(m)),
                c => return Err(format!("JSON: unexpected {c:?}")),
            }
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.next()? {
                '"' => return Ok(out),
                '\\' => match self.next()? {
                    'u' => {
                        let hex: String = (0..4).map(|_| self.next()).collect::<Result<_, _>>()?;
                        let n = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                        out.push(char::from_u32(n).ok_or("JSON: bad \\u escape")?);
                    }
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    c => out.push(c),
                },
                c => out.push(c),
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------------
// §5 items 1-3, 10; gunicorn request-line, method and target categories
// ------------------------------------------------------------------------------------------------------

fn request_line_cases() -> Vec<Case> {
    let e = echo;
    vec![
        case("origin-root", get("/"), e("GET", "/").raw_uri("/")),
        case(
            "origin-path-query",
            get("/a/b?x=1&y=2"),
            e("GET", "/a/b").query("x=1&y=2"),
        ),
        case("origin-empty-query", get("/a?"), e("GET", "/a")),
        case(
            "slashes-kept",
            get("///keeping_slashes"),
            e("GET", "///keeping_slashes"),
        ),
        case(
            "percent-decoded",
            get("/%7Efoo%20bar"),
            e("GET", "/~foo bar").raw_uri("/%7Efoo%20bar"),
        ),
        case(
            "percent-decoded-latin1",
            get("/caf%E9"),
            e("GET", "/caf\u{e9}"),
        ),
        case(
            "percent-malformed-kept",
            get("/a%zz%4"),
            e("GET", "/a%zz%4"),
        ),
        case(
            "raw-utf8-target-tolerated",
            get("/caf\u{c3}\u{a9}"),
            e("GET", "/caf\u{c3}\u{a9}"),
        ),
        case(
            "quote-and-brace-target-tolerated",
            get("/a\"b{c}"),
            e("GET", "/a\"b{c}"),
        ),
        case(
            "escape-sequence-in-path",
            get("/%1b[31mred"),
            e("GET", "/\u{1b}[31mred"),
        ),
        case(
            "method-extension-token",
            msg(&["-BLARGH / HTTP/1.1", "Host: a"], ""),
            e("-BLARGH", "/"),
        ),
        case(
            "method-unknown",
            msg(&["MKCOLA / HTTP/1.1", "Host: a"], ""),
            e("MKCOLA", "/"),
        ),
        case(
            "method-case-sensitive",
            msg(&["get / HTTP/1.1", "Host: a"], ""),
            e("get", "/"),
        ),
        case(
            "method-tchars",
            msg(&["GET!#$%&'*+.^_`|~ / HTTP/1.1", "Host: a"], ""),
            e("GET!#$%&'*+.^_`|~", "/"),
        ),
        case(
            "absolute-form",
            msg(&["GET http://a.example/x?y=1 HTTP/1.1", "Host: a"], ""),
            e("GET", "/x")
                .query("y=1")
                .raw_uri("http://a.example/x?y=1"),
        ),
        case(
            "absolute-form-no-path",
            msg(&["GET http://a.example HTTP/1.1", "Host: a"], ""),
            e("GET", "/"),
        ),
        case(
            "absolute-form-query-no-path",
            msg(&["GET http://a.example?q=1 HTTP/1.1", "Host: a"], ""),
            e("GET", "/").query("q=1"),
        ),
        case(
            "absolute-form-scheme-case",
            msg(&["GET HTTP://A.Example/x HTTP/1.1", "Host: a"], ""),
            e("GET", "/x"),
        ),
        case(
            "absolute-form-https-ipv6-port",
            msg(&["GET https://[::1]:8443/v6 HTTP/1.1", "Host: a"], ""),
            e("GET", "/v6"),
        ),
        case(
            "absolute-form-other-host",
            msg(&["GET http://b.example/x HTTP/1.1", "Host: a"], ""),
            e("GET", "/x"),
        ),
        case(
            "absolute-form-userinfo",
            msg(&["GET http://user:pw@a.example/ HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "absolute-form-empty-host",
            msg(&["GET http:///x HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "absolute-form-other-scheme",
            msg(&["GET ftp://a.example/x HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "absolute-form-bad-port",
            msg(&["GET http://a.example:8x/ HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "gunicorn-016-garbage-target",
            msg(&["GET s://]ufd/: HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "asterisk-options",
            msg(&["OPTIONS * HTTP/1.1", "Host: a"], ""),
            e("OPTIONS", "*"),
        ),
        case(
            "asterisk-get",
            msg(&["GET * HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "asterisk-with-suffix",
            msg(&["OPTIONS *x HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "connect-authority",
            msg(
                &["CONNECT a.example:443 HTTP/1.1", "Host: a.example:443"],
                "",
            ),
            seq(vec![R::Bodyless(200)]),
        ),
        case(
            "connect-ipv6",
            msg(&["CONNECT [::1]:443 HTTP/1.1", "Host: a"], ""),
            seq(vec![R::Bodyless(200)]),
        ),
        case(
            "connect-without-port",
            msg(&["CONNECT a.example HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "connect-origin-form",
            msg(&["CONNECT / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "authority-form-without-connect",
            msg(&["GET a.example:443 HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "relative-target",
            msg(&["GET x/y HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case("fragment-in-target", get("/x#frag"), status(400)),
        case(
            "empty-target",
            msg(&["GET  HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "gunicorn-002-missing-target",
            msg(&["GET HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case("http09-request", lat("GET /\r\n\r\n"), status(400)),
        case(
            "two-spaces-after-method",
            msg(&["GET  / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "two-spaces-after-target",
            msg(&["GET /  HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "space-after-version",
            msg(&["GET / HTTP/1.1 ", "Host: a"], ""),
            status(400),
        ),
        case(
            "tab-separator",
            msg(&["GET\t/ HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "leading-space",
            msg(&[" GET / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "vertical-tab-separator",
            msg(&["GET\x0b/ HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "bare-lf-after-request-line",
            lat("GET / HTTP/1.1\nHost: a\r\n\r\n"),
            status(400),
        ),
        case(
            "gunicorn-003-bare-lf-everywhere",
            lat("GET / HTTP/1.1\nHost: a\n\n"),
            status(400),
        ),
        case(
            "bare-cr-after-request-line",
            lat("GET / HTTP/1.1\rHost: a\r\n\r\n"),
            status(400),
        ),
        case(
            "nul-in-method",
            msg(&["GET\0 / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "nul-before-method",
            msg(&["\0GET / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "gunicorn-003b-colon-in-method",
            msg(&["bla:rgh / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "method-trailing-colon",
            msg(&["GET: / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "nonascii-method",
            msg(&["GET\u{df} / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case(
            "method-with-slash",
            msg(&["GE/T / HTTP/1.1", "Host: a"], ""),
            status(400),
        ),
        case("del-in-target", get("/a\x7fb"), status(400)),
        case("ctl-in-target", get("/a\x01b"), status(400)),
        case("nul-in-target", get("/a\0b"), status(400)),
        case("tab-in-target", get("/a\tb"), status(400)),
        case(
            "leading-empty-line",
            lat("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            e("GET", "/"),
        ),
        case(
            "four-leading-empty-lines",
            lat("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            e("GET", "/"),
        ),
        case(
            "five-leading-empty-lines",
            lat("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            status(400),
        ),
        case(
            "leading-bare-lf",
            lat("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            status(400),
        ),
        case(
            "leading-whitespace-line",
            lat(" \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            status(400),
        ),
        case("only-empty-line-then-eof", lat("\r\n"), Expect::Close),
        case("truncated-request-line", lat("GET /"), Expect::Close),
        case(
            "gunicorn-001-truncated-head",
            lat("GET /foo HTTP/1.0\r\nbaz"),
            Expect::Close,
        ),
        case(
            "truncated-before-final-crlf",
            lat("GET / HTTP/1.1\r\nHost: a\r\n"),
            Expect::Close,
        ),
        case("nothing-then-eof", Vec::<u8>::new(), Expect::Close),
        case(
            "gunicorn-pp-proxy-protocol-line",
            lat("PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            status(400),
        ),
    ]
}

#[test]
fn request_line_and_target_forms() {
    let srv = echo_server(opts());
    run_cases("request-line", &srv, request_line_cases());
    // CVE-2020-7694 class: the decoded ESC of `/%1b[31mred` must not reach the access log raw.
    assert!(
        !srv.log.text().contains('\u{1b}'),
        "raw ESC in the access log"
    );
}

// ------------------------------------------------------------------------------------------------------
// §5 item 2: versions
// ------------------------------------------------------------------------------------------------------

fn version_line(v: &str) -> Vec<u8> {
    msg(&[&format!("GET / {v}"), "Host: a"], "")
}

#[test]
fn http_versions() {
    let srv = echo_server(opts());
    let e = || echo("GET", "/");
    let mut cases = vec![
        case(
            "http10-without-host",
            lat("GET / HTTP/1.0\r\n\r\n"),
            e().http10().closes(),
        ),
        case(
            "http10-with-host",
            version_line("HTTP/1.0"),
            e().http10().hdr("HTTP_HOST", "a").closes(),
        ),
        case("http11", version_line("HTTP/1.1"), e()),
        case("http12-processed-as-11", version_line("HTTP/1.2"), e()),
        case("http19-processed-as-11", version_line("HTTP/1.9"), e()),
        case(
            "http12-requires-host",
            lat("GET / HTTP/1.2\r\n\r\n"),
            status(400),
        ),
        case(
            "http12-keeps-alive",
            [version_line("HTTP/1.2"), get("/2")].concat(),
            seq(vec![e().into(), echo("GET", "/2").into()]),
        ),
        case(
            "http10-keep-alive-pipelined",
            lat("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n"),
            seq_closing(vec![
                echo("GET", "/1").http10().into(),
                echo("GET", "/2").http10().into(),
            ]),
        ),
        case(
            "pri-http2-preface",
            lat("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            status(505),
        ),
    ];
    for v in ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9", "HTTP/2.1"] {
        cases.push(case(format!("major-{v}"), version_line(v), status(505)));
    }
    for v in [
        "HTTP/0.99",
        "HTTP/111",
        "HTTP/1.11",
        "http/1.1",
        "Http/1.1",
        "FTP/1.1",
        "HTTP/1.",
        "HTTP/1",
        "HTTP/2",
        "HTTP/a.b",
        "HTTP/1.1.1",
        "HTTP /1.1",
        "HTTP/1111111111111111111.1",
        "HTTP/1,1",
        "HTTP/\u{b9}.1",
        "HTTP",
    ] {
        cases.push(case(format!("malformed-{v}"), version_line(v), status(400)));
    }
    run_cases("versions", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 item 4: Host
// ------------------------------------------------------------------------------------------------------

#[test]
fn host_rules() {
    let srv = echo_server(opts());
    let with_host = |h: &str| msg(&["GET / HTTP/1.1", h], "");
    let e = || echo("GET", "/");
    let cases = vec![
        case(
            "http11-missing-host",
            lat("GET / HTTP/1.1\r\n\r\n"),
            status(400),
        ),
        case(
            "http11-missing-host-with-fields",
            msg(&["GET / HTTP/1.1", "X-A: 1"], ""),
            status(400),
        ),
        case(
            "http10-missing-host-accepted",
            lat("GET / HTTP/1.0\r\n\r\n"),
            e().http10().no_hdr("HTTP_HOST").closes(),
        ),
        case(
            "duplicate-host-identical",
            msg(&["GET / HTTP/1.1", "Host: a", "Host: a"], ""),
            status(400),
        ),
        case(
            "gunicorn-042-duplicate-host",
            msg(&["GET / HTTP/1.1", "Host: a", "Host: b"], ""),
            status(400),
        ),
        case(
            "duplicate-host-http10",
            msg(&["GET / HTTP/1.0", "Host: a", "Host: b"], ""),
            status(400),
        ),
        case(
            "duplicate-host-case",
            msg(&["GET / HTTP/1.1", "Host: a", "HOST: b"], ""),
            status(400),
        ),
        case(
            "host-name-lowercase",
            with_host("host: a"),
            e().hdr("HTTP_HOST", "a"),
        ),
        case(
            "host-port",
            with_host("Host: a.example:8080"),
            e().hdr("HTTP_HOST", "a.example:8080"),
        ),
        case(
            "host-ipv4",
            with_host("Host: 127.0.0.1:80"),
            e().hdr("HTTP_HOST", "127.0.0.1:80"),
        ),
        case(
            "host-ipv6",
            with_host("Host: [::1]:80"),
            e().hdr("HTTP_HOST", "[::1]:80"),
        ),
        case(
            "host-pct-encoded",
            with_host("Host: a%41b"),
            e().hdr("HTTP_HOST", "a%41b"),
        ),
        case("host-empty", with_host("Host:"), e().hdr("HTTP_HOST", "")),
        case(
            "host-ows-trimmed",
            with_host("Host: \t a \t"),
            e().hdr("HTTP_HOST", "a"),
        ),
        case("host-ipv6-unclosed", with_host("Host: [::1"), status(400)),
        case("host-bad-port", with_host("Host: a:b"), status(400)),
        case("host-space-inside", with_host("Host: a b"), status(400)),
        case("host-userinfo", with_host("Host: u@a"), status(400)),
        case("host-slash", with_host("Host: a/b"), status(400)),
        case("host-bad-pct", with_host("Host: a%zz"), status(400)),
        case("host-ctl", with_host("Host: a\x01"), status(400)),
        case("host-nonascii", with_host("Host: caf\u{e9}"), status(400)),
        case(
            "host-space-before-colon",
            with_host("Host : a"),
            status(400),
        ),
        case(
            "absolute-form-still-needs-host",
            lat("GET http://a.example/x HTTP/1.1\r\n\r\n"),
            status(400),
        ),
    ];
    run_cases("host", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 items 5-9: field lines
// ------------------------------------------------------------------------------------------------------

fn with_fields(fields: &[&str]) -> Vec<u8> {
    let mut lines = vec!["GET / HTTP/1.1", "Host: a"];
    lines.extend_from_slice(fields);
    msg(&lines, "")
}

#[test]
fn header_fields() {
    let srv = echo_server(opts());
    let e = || echo("GET", "/");
    let obs_text: String = (0x80u8..=0xff).map(char::from).collect();
    let vchar: String = (0x21u8..=0x7e).map(char::from).collect();
    let long_ctl = format!("Bad-Header: {}\x10", "x".repeat(8000));
    let cases = vec![
        // eventlet 0.41.3 observed #1: a bad name ended the head silently and the body ran as a request.
        case(
            "name-with-space-then-cl-smuggle",
            post(
                &["Bad Header: x", "Content-Length: 34"],
                "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
            status(400),
        ),
        case(
            "gunicorn-005-nul-in-name",
            with_fields(&["X\0A: 1"]),
            status(400),
        ),
        case(
            "gunicorn-020-space-before-colon",
            post(&["Content-Length : 3"], "abc"),
            status(400),
        ),
        case("tab-before-colon", with_fields(&["X-A\t: 1"]), status(400)),
        case("empty-name", with_fields(&[": v"]), status(400)),
        case(
            "gunicorn-nonascii-name",
            with_fields(&["X-\u{e9}: 1"]),
            status(400),
        ),
        case(
            "garden-cl-with-85-in-name",
            post(&["Content-Length\u{85}: 5"], "hello"),
            status(400),
        ),
        case("no-colon", with_fields(&["NoColon"]), status(400)),
        case(
            "tchar-name",
            with_fields(&["X.Custom|Pipe~!#$%&'*+^`: v"]),
            e().hdr("HTTP_X.CUSTOM|PIPE~!#$%&'*+^`", "v"),
        ),
        case(
            "value-htab-inside",
            with_fields(&["X-A: a\tb"]),
            e().hdr("HTTP_X_A", "a\tb"),
        ),
        case(
            "value-ows-trimmed",
            with_fields(&["X-A: \t padded \t "]),
            e().hdr("HTTP_X_A", "padded"),
        ),
        case(
            "value-empty",
            with_fields(&["X-Empty:"]),
            e().hdr("HTTP_X_EMPTY", ""),
        ),
        case(
            "value-inner-spaces-kept",
            with_fields(&["X-A: a  b"]),
            e().hdr("HTTP_X_A", "a  b"),
        ),
        case(
            "value-all-vchar",
            with_fields(&[&format!("X-A: {vchar}")]),
            e().hdr("HTTP_X_A", &vchar),
        ),
        case(
            "value-obs-text-latin1",
            with_fields(&["X-A: caf\u{e9}"]),
            e().hdr("HTTP_X_A", "caf\u{e9}"),
        ),
        case(
            "value-every-obs-text-byte",
            with_fields(&[&format!("X-A: {obs_text}")]),
            e().hdr("HTTP_X_A", &obs_text),
        ),
        case(
            "cve-2019-16789-85-a0-not-stripped",
            with_fields(&["X-A: \u{85}v\u{a0}"]),
            e().hdr("HTTP_X_A", "\u{85}v\u{a0}"),
        ),
        case(
            "gunicorn-obs-fold-space",
            with_fields(&["X-A: a", " b"]),
            status(400),
        ),
        case("obs-fold-tab", with_fields(&["X-A: a", "\tb"]), status(400)),
        case(
            "obs-fold-before-first-field",
            msg(&["GET / HTTP/1.1", " X-A: 1", "Host: a"], ""),
            status(400),
        ),
        case(
            "whitespace-line-after-request-line",
            msg(&["GET / HTTP/1.1", " ", "Host: a"], ""),
            status(400),
        ),
        case("bare-cr-in-value", with_fields(&["X-A: a\rb"]), status(400)),
        case(
            "bare-cr-as-terminator",
            with_fields(&["X-A: a\rX-B: b"]),
            status(400),
        ),
        case(
            "bare-cr-before-crlf",
            with_fields(&["X-A: a\r"]),
            status(400),
        ),
        case(
            "cve-2019-16785-bare-lf-terminator",
            lat("GET / HTTP/1.1\r\nHost: a\r\nX-Header: x\nContent-Length: 0\r\n\r\n"),
            status(400),
        ),
        case(
            "bare-lf-end-of-head",
            lat("GET / HTTP/1.1\r\nHost: a\r\n\n"),
            status(400),
        ),
        case(
            "garden-useless-bare-lf",
            lat("GET / HTTP/1.1\r\nHost: a\r\nUseless:\n\n"),
            status(400),
        ),
        case(
            "bare-cr-end-of-head",
            lat("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"),
            status(400),
        ),
        case(
            "gunicorn-invalid-field-value-lf",
            with_fields(&["X-A: a\nb"]),
            status(400),
        ),
        case(
            "gunicorn-ctl-bel",
            with_fields(&["X-A: a\x07"]),
            status(400),
        ),
        case(
            "gunicorn-ctl-del",
            with_fields(&["X-A: a\x7f"]),
            status(400),
        ),
        case(
            "pysec-2020-155-long-value-ending-in-ctl",
            with_fields(&[&long_ctl]),
            status(400),
        ),
        // eventlet 0.37 (PR #959): underscore names collide with dashes in the environ and are dropped.
        case(
            "underscore-name-dropped",
            with_fields(&["X_Foo: evil"]),
            e().no_hdr("HTTP_X_FOO"),
        ),
        case(
            "underscore-does-not-override-dash",
            with_fields(&["X_Forwarded_For: evil", "X-Forwarded-For: good"]),
            e().hdr("HTTP_X_FORWARDED_FOR", "good"),
        ),
        case(
            "gunicorn-017-duplicates-joined",
            with_fields(&["If-Match: a", "If-Match: b"]),
            e().hdr("HTTP_IF_MATCH", "a,b"),
        ),
        case(
            "duplicates-joined-among-many-fields",
            with_fields(&[
                "If-Match: a",
                "X-Aa: 1",
                "X-Ab: 2",
                "Accept: */*",
                "if-match: b",
                "X-Ab: 3",
                "IF-MATCH: c",
            ]),
            e().hdr("HTTP_IF_MATCH", "a,b,c")
                .hdr("HTTP_X_AA", "1")
                .hdr("HTTP_X_AB", "2,3"),
        ),
        case(
            "duplicate-content-type-first-wins",
            with_fields(&["Content-Type: x/a", "Content-Type: x/b"]),
            e().hdr("CONTENT_TYPE", "x/a"),
        ),
        case(
            "no-default-content-type",
            get("/"),
            e().no_hdr("CONTENT_TYPE").no_hdr("CONTENT_LENGTH"),
        ),
        case(
            "name-case-insensitive",
            with_fields(&["x-mIxEd: v"]),
            e().hdr("HTTP_X_MIXED", "v"),
        ),
    ];
    run_cases("fields", &srv, cases);
}

/// Every control byte inside a value, and every non-token byte inside a name.
#[test]
fn header_field_byte_families() {
    let srv = echo_server(opts());
    let mut cases = Vec::new();
    for b in (0u8..0x20).chain([0x7f]) {
        let raw = with_fields(&[&format!("X-A: a{}b", char::from(b))]);
        let expect = if b == b'\t' {
            echo("GET", "/").hdr("HTTP_X_A", "a\tb").into()
        } else {
            status(400)
        };
        cases.push(case(format!("value-byte-{b:02x}"), raw, expect));
    }
    for b in odd_bytes()
        .into_iter()
        .chain(b"\"(),/;<=>?@[\\]{}".iter().copied())
    {
        let raw = with_fields(&[&format!("X{}A: 1", char::from(b))]);
        cases.push(case(format!("name-byte-{b:02x}"), raw, status(400)));
    }
    run_cases("field-bytes", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 items 14-15: Content-Length
// ------------------------------------------------------------------------------------------------------

#[test]
fn content_length() {
    let srv = echo_server(opts());
    let e = |body: &[u8]| echo("POST", "/").body(body);
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut cases = vec![
        case(
            "cl-body",
            post(&["Content-Length: 5"], "hello"),
            e(b"hello").hdr("CONTENT_LENGTH", "5"),
        ),
        case(
            "cl-leading-zeros",
            post(&["Content-Length: 0005"], "hello"),
            e(b"hello"),
        ),
        case("cl-zero", post(&["Content-Length: 0"], ""), e(b"")),
        case(
            "cl-ows",
            post(&["Content-Length: \t5 \t"], "hello"),
            e(b"hello"),
        ),
        case(
            "gunicorn-cl-on-get",
            msg(&["GET / HTTP/1.1", "Host: a", "Content-Length: 5"], "hello"),
            echo("GET", "/").body(b"hello"),
        ),
        case(
            "cl-body-holds-a-request",
            post(&[&format!("Content-Length: {}", smuggled.len())], smuggled),
            e(smuggled.as_bytes()),
        ),
        case(
            "cl-body-then-pipelined",
            post(&["Content-Length: 5"], &format!("hello{AFTER}")),
            seq(vec![e(b"hello").into(), after()]),
        ),
        case(
            "no-framing-means-empty-body",
            post(&[], AFTER),
            seq(vec![e(b"").into(), after()]),
        ),
        case(
            "cl-truncated-body",
            post(&["Content-Length: 10"], "hello"),
            status(400),
        )
        .eof(),
        case(
            "cl-max-u64-truncated",
            post(&["Content-Length: 18446744073709551615"], "hello"),
            status(400),
        )
        .eof(),
        case(
            "ghsa-4ppp-duplicate-identical-lines",
            post(&["Content-Length: 5", "Content-Length: 5"], "hello"),
            status(400),
        ),
        case(
            "gunicorn-021-duplicate-different",
            post(&["Content-Length: 3", "Content-Length: 2"], "abc"),
            status(400),
        ),
        case(
            "duplicate-zero",
            post(&["Content-Length: 0", "Content-Length: 0"], ""),
            status(400),
        ),
        case(
            "duplicate-case-variant",
            post(&["Content-Length: 5", "content-length: 5"], "hello"),
            status(400),
        ),
    ];
    for v in [
        "-1",
        "+1",
        "-0",
        "+0",
        "0_1",
        "1_0",
        "+1_0",
        "+3",
        "bla-bla-bla",
        "0x5",
        "5 5",
        "0 1",
        "3 1",
        "",
        "5,5",
        "5, 5",
        "1e1",
        "5.0",
        "5;",
        "\"5\"",
        "\u{b9}",
        "\u{bd}",
        "18446744073709551616",
        "99999999999999999999999",
        "\x0b5",
    ] {
        let raw = post(
            &[&format!("Content-Length: {v}")],
            &format!("hello{smuggled}"),
        );
        cases.push(case(
            format!("cl-invalid-{}", show(&lat(v))),
            raw,
            status(400),
        ));
    }
    run_cases("content-length", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 items 11-13: Transfer-Encoding
// ------------------------------------------------------------------------------------------------------

fn te_request(te_lines: &[&str], extra: &[&str]) -> Vec<u8> {
    let mut fields: Vec<&str> = te_lines.to_vec();
    fields.extend_from_slice(extra);
    post(&fields, &format!("5\r\nhello\r\n0\r\n\r\n{AFTER}"))
}

#[test]
fn transfer_encoding() {
    let srv = echo_server(opts());
    let ok = || seq(vec![echo("POST", "/").body(b"hello").into(), after()]);
    let mut cases = Vec::new();
    let accepted = [
        "chunked",
        "Chunked",
        "CHUNKED",
        "chunked \t",
        "\tchunked",
        ",chunked",
        "chunked,",
        " , ,chunked",
        "chunked , ",
    ];
    for v in accepted {
        let line = format!("Transfer-Encoding: {v}");
        cases.push(case(
            format!("te-accepted-{v:?}"),
            te_request(&[&line], &[]),
            ok(),
        ));
    }
    cases.push(case(
        "te-empty-element-line-then-chunked",
        te_request(&["Transfer-Encoding: ,", "Transfer-Encoding: chunked"], &[]),
        ok(),
    ));
    cases.push(case(
        "te-name-lowercase",
        te_request(&["transfer-encoding: chunked"], &[]),
        ok(),
    ));
    // RFC 9110 §6.1 SHOULD: a coding the server does not understand → 501.
    for v in [
        "gzip, chunked",
        "identity, chunked",
        "deflate, chunked",
        "cow, chunked",
        "gzip;q=1, chunked",
        "x-custom , chunked",
    ] {
        let line = format!("Transfer-Encoding: {v}");
        cases.push(case(
            format!("te-unknown-coding-{v:?}"),
            te_request(&[&line], &[]),
            status(501),
        ));
    }
    cases.push(case(
        "te-unknown-coding-on-an-earlier-line",
        te_request(
            &["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"],
            &[],
        ),
        status(501),
    ));
    // RFC 9112 §6.3 rule 4 / §6.1: chunked missing, not final, or applied twice → 400.
    for v in [
        "gzip",
        "identity",
        "chunked, gzip",
        "chunked, identity",
        "chunked, chunked",
        "identity, chunked, identity, chunked",
        "chunked;q=1",
        "chunked, cow",
        "xchunked",
        "chunked-false",
        "\"chunked\"",
        "chunk",
        "",
        ",",
        "chunked\0",
        "\x0bchunked",
        "\u{85}chunked",
        "\u{a0}chunked",
        "chunked\u{85}",
        "ch unked",
        "chunked\r",
        "chunked;",
    ] {
        let line = format!("Transfer-Encoding: {v}");
        cases.push(case(
            format!("te-invalid-{}", show(&lat(v))),
            te_request(&[&line], &[]),
            status(400),
        ));
    }
    cases.extend([
        case("gunicorn-chunked-04-repeated-lines",
            te_request(&["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], &[]), status(400)),
        case("cve-2024-1135-chunked-then-gzip-lines",
            te_request(&["Transfer-Encoding: chunked", "Transfer-Encoding: gzip"], &[]), status(400)),
        case("gunicorn-chunked-08-chunked-then-identity-lines",
            te_request(&["Transfer-Encoding: chunked", "Transfer-Encoding: identity"], &[]), status(400)),
        case("gunicorn-chunked-05-http10",
            lat(&format!("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{AFTER}")), status(400)),
        case("http10-te-keep-alive",
            lat("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), status(400)),
        case("http10-te-unknown-coding",
            lat("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n"), status(400)),
        // eventlet 0.34.3 (PR #826): TE + CL → 400 and close, whatever the order.
        case("te-then-cl", te_request(&["Transfer-Encoding: chunked"], &["Content-Length: 5"]), status(400)),
        case("cl-then-te", te_request(&["Content-Length: 5", "Transfer-Encoding: chunked"], &[]), status(400)),
        case("gunicorn-chunked-02-tab-chunked-with-cl",
            te_request(&["Transfer-Encoding: \tchunked"], &["Content-Length: 5"]), status(400)),
        case("cve-2024-6827-comma-chunked-with-cl",
            te_request(&["Transfer-Encoding: ,chunked"], &["Content-Length: 5"]), status(400)),
        case("te-cl-zero", te_request(&["Transfer-Encoding: chunked"], &["Content-Length: 0"]), status(400)),
        case("te-cl-invalid-cl", te_request(&["Transfer-Encoding: chunked"], &["Content-Length: x"]), status(400)),
        // Both rules apply; 501 is checked first. Either status rejects the request.
        case("te-unknown-coding-with-cl", te_request(&["Transfer-Encoding: gzip, chunked"], &["Content-Length: 5"]), status(501)),
    ]);
    run_cases("transfer-encoding", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §3: smuggling gadgets (smuggler's list, regenerated) and their byte-variant families
// ------------------------------------------------------------------------------------------------------

/// The smuggler probe body: 11 bytes by Content-Length, one byte `Z` by chunked framing.
const GADGET_BODY: &str = "1\r\nZ\r\n0\r\n\r\n";

/// `gadget` + `Content-Length: 11`, the probe body, then a pipelined request that must only be answered
/// if the body was framed by Content-Length.
fn cl_gadget(gadget: &[u8]) -> Vec<u8> {
    cat(&[
        b"POST / HTTP/1.1\r\nHost: a\r\n",
        gadget,
        b"\r\nContent-Length: 11\r\n\r\n",
        GADGET_BODY.as_bytes(),
        AFTER.as_bytes(),
    ])
}

/// `gadget` alone (no Content-Length), a chunked body, then a pipelined request.
fn te_gadget(gadget: &[u8]) -> Vec<u8> {
    cat(&[
        b"POST / HTTP/1.1\r\nHost: a\r\n",
        gadget,
        b"\r\n\r\n",
        GADGET_BODY.as_bytes(),
        AFTER.as_bytes(),
    ])
}

#[test]
fn smuggling_gadgets() {
    let srv = echo_server(opts());
    let cl_framed = || {
        seq(vec![
            echo("POST", "/")
                .body(GADGET_BODY.as_bytes())
                .no_hdr("HTTP_TRANSFER_ENCODING")
                .into(),
            after(),
        ])
    };
    let mut cases = Vec::new();
    for g in [
        "Transfer-Encoding: chunked",
        "Transfer-Encoding : chunked",
        "Transfer-Encoding:chunked",
        "Transfer-Encoding:\tchunked",
        " Transfer-Encoding: chunked",
        "\tTransfer-Encoding: chunked",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked-false",
        "Transfer-Encoding: 'chunked'",
        "Transfer-Encoding: \"chunked\"",
        "Transfer-Encoding: chunk",
        "Transfer-encoding: chunked",
        "TRANSFER-ENCODING: CHUNKED",
        "Transfer-Encoding: chunked, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: x",
        "X: X\nTransfer-Encoding: chunked",
        "X: X\rTransfer-Encoding: chunked",
        "Transfer-Encoding\n : chunked",
        "Transfer-Encoding: chunked;foo=bar",
        "Transfer-Encoding: \x0bchunked",
        "Transfer-Encoding: chunked\0",
        "Transfer-Encoding: ,chunked",
        "Transfer-Encoding\0: chunked",
        "Transfer-Encoding: chunked\r\n\tx",
        "Transfer-Encoding: \u{85}chunked",
        "Transfer-Encoding: \u{a0}chunked",
        "Transfer-Encoding: chunked\u{a0}",
        "Transfer-Encoding:\r\n chunked",
        "Transfer-Encoding: chunked\r\nX: \u{0}",
    ] {
        cases.push(case(
            format!("named-{}", show(&lat(g))),
            cl_gadget(&lat(g)),
            status(400),
        ));
    }
    for g in [
        "Transfer-Encoding: x\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: cow, chunked",
    ] {
        cases.push(case(
            format!("named-{}", show(&lat(g))),
            cl_gadget(&lat(g)),
            status(501),
        ));
    }
    // Not a Transfer-Encoding field at all: Content-Length frames the body, the next request is genuine.
    for g in [
        "Transfer_Encoding: chunked",
        "Content-Encoding: chunked",
        "X-Transfer-Encoding: chunked",
    ] {
        cases.push(case(
            format!("named-{}", show(&lat(g))),
            cl_gadget(&lat(g)),
            cl_framed(),
        ));
    }
    // With Content-Length every variant must be refused: as an invalid line or as TE + CL.
    let te = b"Transfer-Encoding";
    for b in odd_bytes() {
        let x = [b];
        let families: [(&str, Vec<u8>); 6] = [
            ("line-prefix", cat(&[&x, te, b": chunked"])),
            ("name-suffix", cat(&[te, &x, b": chunked"])),
            ("value-prefix", cat(&[te, b":", &x, b"chunked"])),
            ("value-suffix", cat(&[te, b": chunked", &x])),
            ("value-middle", cat(&[te, b": chun", &x, b"ked"])),
            (
                "next-line-prefix",
                cat(&[te, b": chunked\r\n", &x, b"X: y"]),
            ),
        ];
        for (family, gadget) in families {
            cases.push(case(
                format!("cl-te-{family}-{b:02x}"),
                cl_gadget(&gadget),
                status(400),
            ));
        }
    }
    // Without Content-Length, only OWS (SP, HTAB) may pad the value (RFC 9110 §5.5); anything else is
    // refused rather than read as chunked (waitress CVE-2019-16789) or ignored.
    let chunked = || seq(vec![echo("POST", "/").body(b"Z").into(), after()]);
    let sized = || seq(vec![echo("POST", "/").body(b"hello").into(), after()]);
    for b in odd_bytes() {
        let x = [b];
        let rule = |ok: Expect| if is_ows(b) { ok } else { status(400) };
        cases.push(case(
            format!("te-value-prefix-{b:02x}"),
            te_gadget(&cat(&[te, b":", &x, b"chunked"])),
            rule(chunked()),
        ));
        cases.push(case(
            format!("te-value-suffix-{b:02x}"),
            te_gadget(&cat(&[te, b": chunked", &x])),
            rule(chunked()),
        ));
        cases.push(case(
            format!("te-name-suffix-{b:02x}"),
            te_gadget(&cat(&[te, &x, b": chunked"])),
            status(400),
        ));
        let cl = |v: &[u8]| {
            cat(&[
                b"POST / HTTP/1.1\r\nHost: a\r\n",
                v,
                b"\r\n\r\nhello",
                AFTER.as_bytes(),
            ])
        };
        cases.push(case(
            format!("cl-value-prefix-{b:02x}"),
            cl(&cat(&[b"Content-Length:", &x, b"5"])),
            rule(sized()),
        ));
        cases.push(case(
            format!("cl-value-suffix-{b:02x}"),
            cl(&cat(&[b"Content-Length: 5", &x])),
            rule(sized()),
        ));
    }
    run_cases("smuggling", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 item 16: chunked bodies (errors surface when the app reads: the echo app answers 400 and closes)
// ------------------------------------------------------------------------------------------------------

fn chunked(body: &str) -> Vec<u8> {
    post(&["Transfer-Encoding: chunked"], body)
}

#[test]
fn chunked_bodies() {
    let srv = echo_server(opts());
    let ok = |body: &[u8]| seq(vec![echo("POST", "/").body(body).into(), after()]);
    let in_data = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    let big = "x".repeat(0x1000);
    let mut cases = vec![
        case(
            "single-chunk",
            chunked(&format!("5\r\nhello\r\n0\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
        case(
            "several-chunks",
            chunked(&format!("1\r\na\r\n2\r\nbc\r\n0\r\n\r\n{AFTER}")),
            ok(b"abc"),
        ),
        case(
            "hex-uppercase",
            chunked(&format!("A\r\n0123456789\r\n0\r\n\r\n{AFTER}")),
            ok(b"0123456789"),
        ),
        case(
            "hex-lowercase",
            chunked(&format!("a\r\n0123456789\r\n0\r\n\r\n{AFTER}")),
            ok(b"0123456789"),
        ),
        case(
            "gunicorn-leading-zeros-and-000-last",
            chunked(&format!("0005\r\nhello\r\n000\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
        case("empty-body", chunked(&format!("0\r\n\r\n{AFTER}")), ok(b"")),
        case(
            "big-chunk",
            chunked(&format!("1000\r\n{big}\r\n0\r\n\r\n{AFTER}")),
            ok(big.as_bytes()),
        ),
        case(
            "crlf-inside-data",
            chunked(&format!("4\r\n\r\n\r\n\r\n0\r\n\r\n{AFTER}")),
            ok(b"\r\n\r\n"),
        ),
        case(
            "request-inside-data",
            chunked(&format!(
                "{:x}\r\n{in_data}\r\n0\r\n\r\n{AFTER}",
                in_data.len()
            )),
            ok(in_data.as_bytes()),
        ),
        case(
            "ext-token-value",
            chunked(&format!("5;foo=bar\r\nhello\r\n0\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
        case(
            "ext-name-only",
            chunked(&format!("5;foo\r\nhello\r\n0\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
        case(
            "ext-several",
            chunked(&format!("5;a=1;b;c=\"x\"\r\nhello\r\n0\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
        case(
            "gunicorn-ext-quoted-with-escapes",
            chunked(&format!(
                "5;a=\"q;\\\"x\\\" \"\r\nhello\r\n0\r\n\r\n{AFTER}"
            )),
            ok(b"hello"),
        ),
        case(
            "ext-bws-around-semicolon-and-equals",
            chunked(&format!("5 ;a = b\r\nhello\r\n0\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
        case(
            "ext-on-last-chunk",
            chunked(&format!("5\r\nhello\r\n0;done\r\n\r\n{AFTER}")),
            ok(b"hello"),
        ),
    ];
    let bad = [
        (
            "gunicorn-chunked-01-underscore",
            "6_0\r\nhello world!\r\n0\r\n\r\n",
        ),
        ("garden-underscore-0_2e", "0_2e\r\nhello\r\n0\r\n\r\n"),
        (
            "gunicorn-chunked-09-ows-without-ext",
            "5 \r\nhello\r\n0\r\n\r\n",
        ),
        (
            "gunicorn-chunked-09-last-chunk-ows",
            "5\r\nhello\r\n0 \r\n\r\n",
        ),
        (
            "gunicorn-chunked-10-leading-space",
            " 5\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "gunicorn-chunked-11-lf-after-size",
            "5\n;\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "gunicorn-chunked-12-no-size-before-ext",
            " ;foo=bar\r\nhello\r\n0\r\n\r\n",
        ),
        ("garden-17-gunicorn-13-empty-size", "\r\nhello\r\n0\r\n\r\n"),
        ("garden-17-empty-size-lines", "\r\n\r\n"),
        ("gunicorn-size-minus-sign", "-5\r\nhello\r\n0\r\n\r\n"),
        ("gunicorn-size-plus-sign", "+5\r\nhello\r\n0\r\n\r\n"),
        ("cve-2022-24761-hex-prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
        ("cve-2022-24761-plus-01", "+01\r\nh\r\n0\r\n\r\n"),
        ("non-hex-size", "g\r\nhello\r\n0\r\n\r\n"),
        ("non-hex-after-digits", "5g\r\nhello\r\n0\r\n\r\n"),
        (
            "cve-2021-32714-17-digit-size",
            "10000000000000000\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "cve-2021-32714-17-f-size",
            "fffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        ),
        ("size-bare-cr", "5\r\r\nhello\r\n0\r\n\r\n"),
        ("cve-2025-55315-lf-in-ext", "5;a\nb\r\nhello\r\n0\r\n\r\n"),
        (
            "gunicorn-chunked-14-cr-in-ext",
            "5;a\rb\r\nhello\r\n0\r\n\r\n",
        ),
        ("ext-name-quoted", "5;\"q\"\r\nhello\r\n0\r\n\r\n"),
        ("ext-empty-name", "5;=v\r\nhello\r\n0\r\n\r\n"),
        ("ext-empty-value", "5;a=\r\nhello\r\n0\r\n\r\n"),
        ("ext-unterminated-quote", "5;a=\"open\r\nhello\r\n0\r\n\r\n"),
        ("ext-space-inside-name", "5;a b\r\nhello\r\n0\r\n\r\n"),
        ("ext-nul", "5;a=\0\r\nhello\r\n0\r\n\r\n"),
        ("ext-trailing-semicolon", "5;\r\nhello\r\n0\r\n\r\n"),
        (
            "cve-2025-43859-data-not-followed-by-crlf",
            "3\r\nxxx__1a\r\n0\r\n\r\n",
        ),
        ("data-longer-than-size", "5\r\nhelloX\r\n0\r\n\r\n"),
        ("data-then-bare-lf", "5\r\nhello\n0\r\n\r\n"),
        ("data-then-bare-cr", "5\r\nhello\r0\r\n\r\n"),
        ("data-then-nothing-but-next-size", "5\r\nhello0\r\n\r\n"),
        ("last-chunk-then-bare-lf", "0\r\n\n"),
        ("last-chunk-then-bare-cr", "0\r\n\r\r\n"),
    ];
    for (name, body) in bad {
        cases.push(case(name, chunked(&format!("{body}{AFTER}")), status(400)));
    }
    let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(5000));
    cases.push(case("size-line-over-4k", chunked(&long_ext), status(400)));
    let many_ext: String = (0..5)
        .map(|_| format!("1;{}\r\nx\r\n", "a".repeat(4000)))
        .collect();
    cases.push(case(
        "extensions-over-16k-in-total",
        chunked(&format!("{many_ext}0\r\n\r\n")),
        status(400),
    ));
    // Truncated bodies: the client sends EOF; the echo app cannot read the body and answers 400.
    for (name, body) in [
        ("truncated-in-data", "5\r\nhel"),
        ("truncated-before-last-chunk", "5\r\nhello\r\n"),
        ("gunicorn-missing-final-crlf", "5\r\nhello\r\n0\r\n"),
        ("truncated-in-final-crlf", "5\r\nhello\r\n0\r\n\r"),
        ("truncated-in-size-line", "5"),
    ] {
        cases.push(case(name, chunked(body), status(400)).eof());
    }
    run_cases("chunked", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 item 17: trailers (parsed with the field rules, then discarded); CVE-2025-58068
// ------------------------------------------------------------------------------------------------------

#[test]
fn trailers() {
    let srv = echo_server(opts());
    let ok = || {
        seq(vec![
            echo("POST", "/")
                .body(b"hello")
                .no_hdr("HTTP_X_TRAILER")
                .into(),
            after(),
        ])
    };
    let with_trailers = |t: &str| chunked(&format!("5\r\nhello\r\n0\r\n{t}\r\n{AFTER}"));
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let huge: String = (0..9)
        .map(|i| format!("X-{i}: {}\r\n", "v".repeat(8000)))
        .collect();
    let cases = vec![
        case(
            "gunicorn-012-trailer-discarded",
            with_trailers("X-Trailer: v\r\n"),
            ok(),
        ),
        case(
            "several-trailers-discarded",
            with_trailers("X-Trailer: v\r\nX-Other: w\r\n"),
            ok(),
        ),
        case(
            "framing-fields-in-trailers-discarded",
            with_trailers("Content-Length: 50\r\nHost: evil\r\nTransfer-Encoding: chunked\r\n"),
            seq(vec![
                echo("POST", "/")
                    .body(b"hello")
                    .hdr("HTTP_HOST", "a")
                    .hdr("HTTP_TRANSFER_ENCODING", "chunked")
                    .into(),
                after(),
            ]),
        ),
        case(
            "trailer-value-looks-like-a-request",
            with_trailers("X-Trailer: GET /admin HTTP/1.1\r\n"),
            ok(),
        ),
        case(
            "trailer-obs-text",
            with_trailers("X-Trailer: caf\u{e9}\r\n"),
            ok(),
        ),
        case("trailer-empty-value", with_trailers("X-Trailer:\r\n"), ok()),
        case("trailers-then-pipelined", with_trailers("X-T: 1\r\n"), ok()),
        case(
            "cve-2025-58068-trailer-smuggle",
            chunked("5\r\nhello\r\n0\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"),
            status(400),
        )
        .wire_lacks(b"/admin"),
        case(
            "cve-2025-58068-trailer-smuggle-after-field",
            chunked("5\r\nhello\r\n0\r\nX-T: 1\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n"),
            status(400),
        )
        .wire_lacks(b"/admin"),
        case(
            "cve-2023-41419-trailer-space-before-colon",
            with_trailers("X-Trailer : v\r\n"),
            status(400),
        ),
        case(
            "trailer-obs-fold",
            with_trailers("X-Trailer: v\r\n folded\r\n"),
            status(400),
        ),
        case(
            "trailer-nul",
            with_trailers("X-Trailer: a\0b\r\n"),
            status(400),
        ),
        case(
            "trailer-ctl",
            with_trailers("X-Trailer: a\x01b\r\n"),
            status(400),
        ),
        case(
            "trailer-bare-lf",
            with_trailers("X-Trailer: v\n"),
            status(400),
        ),
        case(
            "trailer-bare-cr",
            with_trailers("X-Trailer: v\rX-B: w\r\n"),
            status(400),
        ),
        case("trailer-empty-name", with_trailers(": v\r\n"), status(400)),
        case(
            "trailer-no-colon",
            with_trailers("NoColon\r\n"),
            status(400),
        ),
        case(
            "trailer-line-too-long",
            with_trailers(&format!("X-Trailer: {}\r\n", "v".repeat(8200))),
            status(400),
        ),
        case(
            "trailers-over-the-header-count",
            with_trailers(&many),
            status(400),
        ),
        case(
            "trailer-section-over-64k",
            with_trailers(&huge),
            status(400),
        ),
    ];
    run_cases("trailers", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 items 18-20: pipelining and connection management
// ------------------------------------------------------------------------------------------------------

#[test]
fn pipelining_and_connection_management() {
    let srv = echo_server(opts());
    let e = |p: &str| R::Echo(echo("GET", p));
    let twenty: Vec<u8> = (0..20).flat_map(|i| get(&format!("/{i}"))).collect();
    let bad_line = lat("GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
    let cases = vec![
        case(
            "two-gets-in-order",
            [get("/1"), get("/2")].concat(),
            seq(vec![e("/1"), e("/2")]),
        ),
        case(
            "twenty-gets-in-order",
            twenty,
            seq((0..20).map(|i| e(&format!("/{i}"))).collect()),
        ),
        case(
            "get-post-get",
            [get("/1"), post(&["Content-Length: 5"], "hello"), get("/3")].concat(),
            seq(vec![
                e("/1"),
                echo("POST", "/").body(b"hello").into(),
                e("/3"),
            ]),
        ),
        case(
            "chunked-then-get",
            [chunked("5\r\nhello\r\n0\r\n\r\n"), get("/2")].concat(),
            seq(vec![echo("POST", "/").body(b"hello").into(), e("/2")]),
        ),
        case(
            "head-then-get",
            [msg(&["HEAD / HTTP/1.1", "Host: a"], ""), get("/2")].concat(),
            seq(vec![R::Bodyless(200), e("/2")]),
        ),
        case(
            "crlf-between-requests",
            [post(&["Content-Length: 5"], "hello\r\n"), get("/2")].concat(),
            seq(vec![echo("POST", "/").body(b"hello").into(), e("/2")]),
        ),
        case(
            "valid-then-invalid-then-valid",
            [get("/1"), bad_line.clone(), get("/3")].concat(),
            seq(vec![e("/1"), R::Reject(400)]),
        ),
        case(
            "cve-2024-49768-invalid-then-valid",
            [bad_line.clone(), get("/2")].concat(),
            status(400),
        ),
        case(
            "valid-then-nul",
            [get("/1"), b"\0".to_vec()].concat(),
            seq(vec![e("/1"), R::Reject(400)]),
        ),
        case(
            "valid-then-bare-lf",
            [get("/1"), b"\n".to_vec(), get("/2")].concat(),
            seq(vec![e("/1"), R::Reject(400)]),
        ),
        case(
            "valid-then-version-505",
            [get("/1"), version_line("HTTP/2.0"), get("/3")].concat(),
            seq(vec![e("/1"), R::Reject(505)]),
        ),
        case(
            "valid-then-bad-cl",
            [get("/1"), post(&["Content-Length: +5"], "hello"), get("/3")].concat(),
            seq(vec![e("/1"), R::Reject(400)]),
        ),
        case(
            "valid-then-bad-chunk",
            [get("/1"), chunked("5 \r\nhello\r\n0\r\n\r\n"), get("/3")].concat(),
            seq(vec![e("/1"), R::Reject(400)]),
        ),
        case(
            "garden-45-close-then-garbage",
            [
                msg(&["GET / HTTP/1.1", "Host: a", "Connection: close"], ""),
                b"garbage\r\n\r\n".to_vec(),
            ]
            .concat(),
            echo("GET", "/").closes(),
        ),
        case(
            "connection-close-then-valid",
            [
                msg(&["GET /1 HTTP/1.1", "Host: a", "Connection: close"], ""),
                get("/2"),
            ]
            .concat(),
            seq_closing(vec![e("/1")]),
        ),
        case(
            "connection-close-in-list",
            [
                msg(
                    &[
                        "GET /1 HTTP/1.1",
                        "Host: a",
                        "Connection: keep-alive, CLOSE",
                    ],
                    "",
                ),
                get("/2"),
            ]
            .concat(),
            seq_closing(vec![e("/1")]),
        ),
        case(
            "http10-closes-without-keep-alive",
            [lat("GET /1 HTTP/1.0\r\n\r\n"), get("/2")].concat(),
            seq_closing(vec![echo("GET", "/1").http10().into()]),
        ),
        case(
            "http10-keep-alive-then-http11",
            [
                lat("GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
                get("/2"),
            ]
            .concat(),
            seq(vec![echo("GET", "/1").http10().into(), e("/2")]),
        ),
        // §5 item 20: the 400 survives 100 KB of unread request bytes behind it (no reset).
        case(
            "rejection-readable-despite-unread-bytes",
            [bad_line, vec![b'x'; 100 * 1024]].concat(),
            status(400),
        ),
    ];
    run_cases("pipelining", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §4 limits with the defaults: request line 8192 → 414, header line 8192 / 100 fields / 64 KiB head → 431
// ------------------------------------------------------------------------------------------------------

/// A GET whose request line is `total` bytes, CRLF included.
fn request_line_of(total: usize) -> Vec<u8> {
    get(&format!(
        "/{}",
        "a".repeat(total - "GET / HTTP/1.1\r\n".len())
    ))
}

/// Field lines `X-<i>: vvv` of at most 8000 bytes each that add up to exactly `total` bytes.
fn filler_fields(total: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let prefix = format!("X-{i}: ");
        // Leave enough for one more minimal line, or take everything.
        let len = if left <= 8000 {
            left
        } else {
            8000.min(left - 64)
        };
        out.push(format!("{prefix}{}", "v".repeat(len - prefix.len() - 2)));
        left -= len;
        i += 1;
    }
    out
}

/// A GET with Host whose whole head is `total` bytes.
fn head_of(total: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nHost: a\r\n\r\n".len();
    let fields = filler_fields(total - fixed);
    let mut lines = vec!["GET / HTTP/1.1", "Host: a"];
    lines.extend(fields.iter().map(String::as_str));
    let raw = msg(&lines, "");
    assert_eq!(raw.len(), total);
    raw
}

fn n_fields(n: usize) -> Vec<u8> {
    let fields: Vec<String> = (1..n).map(|i| format!("X-{i}: v")).collect();
    let mut lines = vec!["GET / HTTP/1.1", "Host: a"];
    lines.extend(fields.iter().map(String::as_str));
    msg(&lines, "")
}

#[test]
fn default_limits() {
    let srv = echo_server(opts());
    let long_value = |total: usize| {
        with_fields(&[&format!(
            "X-Long: {}",
            "v".repeat(total - "X-Long: \r\n".len())
        )])
    };
    // Nine long lines, no empty line: over 64 KiB with fewer than 100 fields.
    let unterminated = lat(&format!(
        "GET / HTTP/1.1\r\nHost: a\r\n{}",
        filler_fields(72_000).join("\r\n")
    ));
    let cases = vec![
        case(
            "request-line-8191",
            request_line_of(8191),
            echo("GET", &format!("/{}", "a".repeat(8175))),
        ),
        case(
            "gunicorn-006-request-line-4112",
            request_line_of(4112),
            echo("GET", &format!("/{}", "a".repeat(4096))),
        ),
        case("request-line-8192", request_line_of(8192), status(414)),
        case(
            "request-line-9000-unterminated",
            lat(&format!("GET /{}", "a".repeat(9000))),
            status(414),
        ),
        case(
            "header-line-8191",
            long_value(8191),
            echo("GET", "/").hdr("HTTP_X_LONG", &"v".repeat(8181)),
        ),
        case("header-line-8192", long_value(8192), status(431)),
        case(
            "header-line-9000-unterminated",
            lat(&format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX: {}",
                "v".repeat(9000)
            )),
            status(431),
        ),
        case(
            "100-fields",
            n_fields(100),
            echo("GET", "/").hdr("HTTP_X_99", "v"),
        ),
        case("gunicorn-009-101-fields", n_fields(101), status(431)),
        case(
            "head-65536",
            head_of(65536),
            echo("GET", "/").hdr("HTTP_X_0", &"v".repeat(7993)),
        ),
        case("head-65537", head_of(65537), status(431)),
        case("head-72k-unterminated", unterminated, status(431)),
    ];
    run_cases("limits", &srv, cases);
}

#[test]
fn configured_limits() {
    let srv = echo_server(
        opts()
            .max_body_size(Some(16))
            .url_length_limit(64)
            .max_header_line(64)
            .max_headers(8)
            .max_head_size(256),
    );
    let sixteen = "0123456789abcdef";
    let e = || echo("POST", "/");
    let value =
        |total: usize| with_fields(&[&format!("X-L: {}", "v".repeat(total - "X-L: \r\n".len()))]);
    let chunks16 = format!("10\r\n{sixteen}\r\n0\r\n\r\n");
    let chunks17 = format!("10\r\n{sixteen}\r\n1\r\nX\r\n0\r\n\r\n");
    let cases = vec![
        case(
            "cl-at-max-body",
            post(&["Content-Length: 16"], sixteen),
            e().body(sixteen.as_bytes()),
        ),
        case(
            "cl-over-max-body",
            post(&["Content-Length: 17"], &format!("{sixteen}X")),
            status(413),
        ),
        case(
            "cl-over-max-body-no-100",
            post(&["Content-Length: 17", "Expect: 100-continue"], ""),
            status(413),
        )
        .wire_lacks(b"100 Continue"),
        case(
            "chunked-at-max-body",
            chunked(&chunks16),
            e().body(sixteen.as_bytes()),
        ),
        case(
            "chunked-over-max-body",
            chunked(&format!("{chunks17}{AFTER}")),
            status(413),
        ),
        case(
            "request-line-63",
            request_line_of(63),
            echo("GET", &format!("/{}", "a".repeat(47))),
        ),
        case("request-line-64", request_line_of(64), status(414)),
        case(
            "header-line-63",
            value(63),
            echo("GET", "/").hdr("HTTP_X_L", &"v".repeat(56)),
        ),
        case("header-line-64", value(64), status(431)),
        case(
            "8-fields",
            n_fields(8),
            echo("GET", "/").hdr("HTTP_X_7", "v"),
        ),
        case("9-fields", n_fields(9), status(431)),
        case("head-256", small_head(256), echo("GET", "/")),
        case("head-257", small_head(257), status(431)),
    ];
    run_cases("configured-limits", &srv, cases);
}

/// A GET with Host and up to 8 field lines of at most 63 bytes whose head is `total` bytes.
fn small_head(total: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nHost: a\r\n\r\n".len();
    let mut left = total - fixed;
    let mut fields = Vec::new();
    while left > 0 {
        let len = if left <= 63 { left } else { 63.min(left - 10) };
        fields.push(format!("X: {}", "v".repeat(len - 5)));
        left -= len;
    }
    let mut lines = vec!["GET / HTTP/1.1", "Host: a"];
    lines.extend(fields.iter().map(String::as_str));
    let raw = msg(&lines, "");
    assert_eq!(raw.len(), total);
    raw
}

// ------------------------------------------------------------------------------------------------------
// §5 item 21: Expect: 100-continue
// ------------------------------------------------------------------------------------------------------

#[test]
fn expect_100_continue_table() {
    let srv = echo_server(opts());
    let e = |b: &[u8]| R::Echo(echo("POST", "/").body(b));
    let hdr_path = format!("POST /__hdr?{} HTTP/1.1", b64url(b"X-A: 1"));
    let cases = vec![
        case(
            "http11-cl",
            post(&["Expect: 100-continue", "Content-Length: 5"], "hello"),
            seq(vec![R::Continue, e(b"hello")]),
        ),
        case(
            "http11-chunked",
            post(
                &["Expect: 100-continue", "Transfer-Encoding: chunked"],
                "5\r\nhello\r\n0\r\n\r\n",
            ),
            seq(vec![R::Continue, e(b"hello")]),
        ),
        case(
            "token-case-insensitive",
            post(&["Expect: 100-Continue", "Content-Length: 5"], "hello"),
            seq(vec![R::Continue, e(b"hello")]),
        ),
        case(
            "then-pipelined",
            post(
                &["Expect: 100-continue", "Content-Length: 5"],
                &format!("hello{AFTER}"),
            ),
            seq(vec![R::Continue, e(b"hello"), after()]),
        ),
        case(
            "http10-ignored",
            lat("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"),
            echo("POST", "/").http10().body(b"hello").closes(),
        )
        .wire_lacks(b" 100 "),
        case(
            "no-body-no-100",
            msg(&["GET / HTTP/1.1", "Host: a", "Expect: 100-continue"], ""),
            echo("GET", "/"),
        )
        .wire_lacks(b" 100 "),
        case(
            "cl-zero-no-100",
            post(&["Expect: 100-continue", "Content-Length: 0"], ""),
            seq(vec![e(b"")]),
        )
        .wire_lacks(b" 100 "),
        case(
            "other-expectation-left-to-the-app",
            post(&["Expect: something", "Content-Length: 5"], "hello"),
            seq(vec![e(b"hello")]),
        )
        .wire_lacks(b" 100 "),
        case(
            "app-does-not-read-no-100-and-close",
            msg(
                &[
                    &hdr_path,
                    "Host: a",
                    "Expect: 100-continue",
                    "Content-Length: 5",
                ],
                "",
            ),
            seq_closing(vec![R::Code(200)]),
        )
        .wire_lacks(b" 100 ")
        .wire_has(b"X-A: 1\r\n"),
    ];
    run_cases("expect", &srv, cases);
}

/// Reads from `s` up to and including the first empty line.
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => out.push(b[0]),
            _ => break,
        }
    }
    out
}

fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn expect_100_continue_is_sent_before_the_client_sends_the_body() {
    let srv = echo_server(opts());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut s), b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let rest = read_to_close(&mut s);
    let got = parse_responses(&rest, &[]).unwrap();
    assert_eq!(got.len(), 1, "{}", show(&rest));
    check_echo(&echo("POST", "/").body(b"hello"), &got[0]).unwrap();
}

#[test]
fn expect_100_continue_is_never_sent_to_an_http10_client() {
    let srv = echo_server(opts());
    let mut s = srv.connect();
    s.write_all(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    // The app is blocked reading the body: nothing may arrive before the client sends it.
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        other => panic!(
            "the server sent something before the body: {other:?} {}",
            show(&b)
        ),
    }
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s.write_all(b"hello").unwrap();
    let rest = read_to_close(&mut s);
    let got = parse_responses(&rest, &[]).unwrap();
    assert_eq!(got.len(), 1, "{}", show(&rest));
    check_echo(&echo("POST", "/").http10().body(b"hello"), &got[0]).unwrap();
}

// ------------------------------------------------------------------------------------------------------
// Response side: app-supplied header names and values are validated (CVE-2020-7695 class)
// ------------------------------------------------------------------------------------------------------

fn hdr_request(line: &[u8]) -> Vec<u8> {
    get(&format!("/__hdr?{}", b64url(line)))
}

#[test]
fn response_splitting_is_refused() {
    let srv = echo_server(opts());
    let mut cases = vec![
        case(
            "valid-header",
            hdr_request(b"X-A: fine"),
            seq(vec![R::Code(200)]),
        )
        .wire_has(b"\r\nX-A: fine\r\n"),
        case(
            "htab-in-value",
            hdr_request(b"X-A: a\tb"),
            seq(vec![R::Code(200)]),
        )
        .wire_has(b"\r\nX-A: a\tb\r\n"),
        case(
            "latin1-value",
            hdr_request(b"X-A: caf\xe9"),
            seq(vec![R::Code(200)]),
        )
        .wire_has(b"\r\nX-A: caf\xe9\r\n"),
        case(
            "set-cookie-injection",
            hdr_request(b"X-A: a\r\nSet-Cookie: pwned=1"),
            status(500),
        )
        .wire_lacks(b"pwned"),
        case(
            "response-injection",
            hdr_request(b"X-A: a\r\n\r\nHTTP/1.1 200 OK\r\nInjected: 1"),
            status(500),
        )
        .wire_lacks(b"injected"),
        case("space-in-name", hdr_request(b"X Injected: 1"), status(500)).wire_lacks(b"injected"),
        case(
            "nonascii-name",
            hdr_request(b"X-\xe9Injected: 1"),
            status(500),
        )
        .wire_lacks(b"injected"),
        case("empty-name", hdr_request(b": Injected"), status(500)).wire_lacks(b"injected"),
    ];
    for b in (0u8..0x20).filter(|&b| b != b'\t').chain([0x7f]) {
        let value = cat(&[b"X-A: a", &[b], b"Injected: 1"]);
        cases.push(
            case(
                format!("value-byte-{b:02x}"),
                hdr_request(&value),
                status(500),
            )
            .wire_lacks(b"injected"),
        );
        let name = cat(&[b"X-A", &[b], b"Injected: 1"]);
        cases.push(
            case(
                format!("name-byte-{b:02x}"),
                hdr_request(&name),
                status(500),
            )
            .wire_lacks(b"injected"),
        );
    }
    run_cases("response-splitting", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §6: reject_bad_requests(false) — TE + CL is read as chunked and the connection closes (RFC 9112 §6.1)
// ------------------------------------------------------------------------------------------------------

#[test]
fn te_cl_escape_hatch_reads_chunked_and_closes() {
    let srv = echo_server(opts().reject_bad_requests(false));
    let hello = || echo("POST", "/").body(b"hello");
    let cases = vec![
        case("te-cl-chunked-wins", te_request(&["Transfer-Encoding: chunked"], &["Content-Length: 3"]), hello().closes()),
        case("cl-te-chunked-wins", te_request(&["Content-Length: 30", "Transfer-Encoding: chunked"], &[]), hello().closes()),
        case("te-cl-unknown-coding-still-501", te_request(&["Transfer-Encoding: gzip, chunked"], &["Content-Length: 5"]), status(501)),
        case("te-cl-not-final-still-400", te_request(&["Transfer-Encoding: chunked, gzip"], &["Content-Length: 5"]), status(400)),
        case("te-cl-http10-still-400",
            lat("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"), status(400)),
        case("te-cl-duplicate-cl-still-400",
            te_request(&["Transfer-Encoding: chunked"], &["Content-Length: 5", "Content-Length: 5"]), status(400)),
        case("plain-requests-keep-alive", [get("/1"), get("/2")].concat(),
            seq(vec![echo("GET", "/1").into(), echo("GET", "/2").into()])),
    ];
    run_cases("escape-hatch", &srv, cases);
}

// ------------------------------------------------------------------------------------------------------
// §5 item 22 and the head deadline: 408 for a started head, silent close for an idle connection
// ------------------------------------------------------------------------------------------------------

#[test]
fn head_deadline_answers_408_and_idle_connections_close_silently() {
    let srv = echo_server(opts().head_timeout(Duration::from_secs(1)));
    let mut partial = srv.connect();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let mut idle = srv.connect();
    let mut kept = srv.connect();
    kept.write_all(&get("/")).unwrap();

    let got = read_to_close(&mut partial);
    let rs = parse_responses(&got, &[]).unwrap();
    assert_eq!(rs.len(), 1, "{}", show(&got));
    check_response(&R::Reject(408), &rs[0]).unwrap();

    assert_eq!(
        read_to_close(&mut idle),
        b"",
        "an idle connection closes without a response"
    );

    let got = read_to_close(&mut kept);
    let rs = parse_responses(&got, &[]).unwrap();
    assert_eq!(
        rs.len(),
        1,
        "one response, then a silent close: {}",
        show(&got)
    );
    check_echo(&echo("GET", "/"), &rs[0]).unwrap();
}

// ------------------------------------------------------------------------------------------------------
// CVE-2024-49769 class: clients that vanish do not hurt the accept loop
// ------------------------------------------------------------------------------------------------------

#[test]
fn vanishing_clients_do_not_stop_the_server() {
    let srv = echo_server(opts());
    for i in 0..60 {
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        if i % 2 == 0 {
            let _ = s.write_all(b"GET / HTT");
        }
        drop(s);
    }
    run_cases(
        "vanishing",
        &srv,
        vec![case("still-serving", get("/"), echo("GET", "/"))],
    );
}
