//! A request inspector (like httpbin's `/anything`): the server's
//! conformance target. Every request's whole body is read and the request is
//! answered as JSON:
//! `{"method", "path_info", "query", "protocol", "headers", "body_b64", "raw_uri"}`.
//!
//! `GET /__hdr?<urlsafe-base64 of "Name: value">` answers 200 with that header
//! added as given, to show that the server refuses bad application headers.
//!
//! `cargo run --example echo -- 127.0.0.1:8091`

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
    ] {
        json_str(&mut out, name);
        out.push(':');
        json_str(&mut out, env.get(key).unwrap_or(""));
        out.push(',');
    }
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

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".into());
    let listener = eventlet::listen(addr.as_str())?;
    if let Ok(a) = listener.local_addr() {
        eprintln!("echo listening on {a}");
    }
    eventlet_wsgi::server_with(listener, echo, ServerOptions::new())
}
