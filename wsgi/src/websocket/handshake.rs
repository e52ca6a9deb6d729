//! The opening handshake (RFC 6455 §4.2), as a pure function over the
//! request's environ values: either the `101` headers to write or the HTTP
//! error to answer.

use super::deflate::{self, DeflateParams};
use base64::Engine;

/// What the handshake looks at, taken from the environ.
#[derive(Debug, Default, Clone)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    pub protocol: &'a str,
    pub host: Option<&'a str>,
    pub upgrade: Option<&'a str>,
    pub connection: Option<&'a str>,
    pub version: Option<&'a str>,
    pub key: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub protocols: Option<&'a str>,
    pub extensions: Option<&'a str>,
}

/// A refused handshake: the HTTP answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: &'static str,
    pub message: &'static str,
    /// `Sec-WebSocket-Version: 13` for a version we do not speak.
    pub version_header: bool,
}

/// An accepted handshake.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub accept: String,
    pub protocol: Option<String>,
    pub deflate: Option<DeflateParams>,
}

/// What the app configured for the handshake.
pub(crate) struct Policy<'a> {
    pub protocols: &'a [String],
    pub origin_ok: &'a dyn Fn(&str, &str) -> bool,
    pub has_origin_checker: bool,
    pub deflate: bool,
}

fn refuse(status: &'static str, message: &'static str) -> Refusal {
    Refusal {
        status,
        message,
        version_header: false,
    }
}

/// Comma-separated list elements, trimmed, empty ones skipped.
pub(crate) fn tokens(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|t| !t.is_empty())
}

fn has_token(v: Option<&str>, want: &str) -> bool {
    v.is_some_and(|v| tokens(v).any(|t| t.eq_ignore_ascii_case(want)))
}

/// `Sec-WebSocket-Key` must be the base64 of 16 bytes (RFC 6455 §4.1).
fn valid_key(key: &str) -> bool {
    key.len() == 24
        && base64::engine::general_purpose::STANDARD
            .decode(key)
            .is_ok_and(|k| k.len() == 16)
}

/// Check the request and pick the subprotocol and extension parameters.
pub(crate) fn check(req: &Request<'_>, policy: &Policy<'_>) -> Result<Accepted, Refusal> {
    if req.method != "GET" {
        return Err(refuse(
            "400 Bad Request",
            "WebSocket handshake must be a GET",
        ));
    }
    if req.protocol != "HTTP/1.1" {
        return Err(refuse(
            "400 Bad Request",
            "WebSocket handshake needs HTTP/1.1",
        ));
    }
    if !has_token(req.upgrade, "websocket") || !has_token(req.connection, "upgrade") {
        return Err(refuse(
            "400 Bad Request",
            "Expected Upgrade: websocket and Connection: upgrade",
        ));
    }
    if req.version.map(str::trim) != Some("13") {
        return Err(Refusal {
            status: "426 Upgrade Required",
            message: "Unsupported WebSocket version (13 only)",
            version_header: true,
        });
    }
    let key = match req.key.map(str::trim) {
        Some(k) if valid_key(k) => k,
        _ => return Err(refuse("400 Bad Request", "Invalid Sec-WebSocket-Key")),
    };
    if policy.has_origin_checker {
        let host = req.host.unwrap_or("");
        let origin = req.origin.unwrap_or("");
        if !(policy.origin_ok)(host, origin) {
            return Err(refuse("403 Forbidden", "Origin not allowed"));
        }
    }
    let protocol = req.protocols.and_then(|offer| {
        tokens(offer)
            .find(|p| policy.protocols.iter().any(|s| s == p))
            .map(str::to_string)
    });
    let deflate = match (policy.deflate, req.extensions) {
        (true, Some(ext)) => deflate::negotiate(ext),
        _ => None,
    };
    Ok(Accepted {
        accept: tungstenite::handshake::derive_accept_key(key.as_bytes()),
        protocol,
        deflate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn req() -> Request<'static> {
        Request {
            method: "GET",
            protocol: "HTTP/1.1",
            host: Some("example.com"),
            upgrade: Some("websocket"),
            connection: Some("Upgrade"),
            version: Some("13"),
            key: Some(KEY),
            ..Default::default()
        }
    }

    fn policy<'a>(protocols: &'a [String], ok: &'a dyn Fn(&str, &str) -> bool) -> Policy<'a> {
        Policy {
            protocols,
            origin_ok: ok,
            has_origin_checker: true,
            deflate: true,
        }
    }

    fn status(r: Request<'_>) -> &'static str {
        let yes = |_: &str, _: &str| true;
        match check(&r, &policy(&[], &yes)) {
            Ok(_) => "101",
            Err(e) => e.status,
        }
    }

    #[test]
    fn rfc_example_accept_key() {
        let yes = |_: &str, _: &str| true;
        let a = check(&req(), &policy(&[], &yes)).unwrap();
        assert_eq!(a.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(a.protocol, None);
        assert_eq!(a.deflate, None);
    }

    #[test]
    fn strictness_table() {
        let rows: Vec<(Request<'static>, &str)> = vec![
            (req(), "101"),
            (
                Request {
                    method: "POST",
                    ..req()
                },
                "400 Bad Request",
            ),
            (
                Request {
                    protocol: "HTTP/1.0",
                    ..req()
                },
                "400 Bad Request",
            ),
            (
                Request {
                    upgrade: None,
                    ..req()
                },
                "400 Bad Request",
            ),
            (
                Request {
                    upgrade: Some("h2c"),
                    ..req()
                },
                "400 Bad Request",
            ),
            (
                Request {
                    upgrade: Some("foo, WebSocket"),
                    ..req()
                },
                "101",
            ),
            (
                Request {
                    connection: Some("keep-alive"),
                    ..req()
                },
                "400 Bad Request",
            ),
            (
                Request {
                    connection: Some("keep-alive, UPGRADE"),
                    ..req()
                },
                "101",
            ),
            (
                Request {
                    version: Some("8"),
                    ..req()
                },
                "426 Upgrade Required",
            ),
            (
                Request {
                    version: None,
                    ..req()
                },
                "426 Upgrade Required",
            ),
            (Request { key: None, ..req() }, "400 Bad Request"),
            (
                Request {
                    key: Some("short"),
                    ..req()
                },
                "400 Bad Request",
            ),
            // 17 bytes of base64
            (
                Request {
                    key: Some("AAAAAAAAAAAAAAAAAAAAAAA="),
                    ..req()
                },
                "400 Bad Request",
            ),
            (
                Request {
                    key: Some("!!!!!!!!!!!!!!!!!!!!!!=="),
                    ..req()
                },
                "400 Bad Request",
            ),
            // two Key headers joined by the server
            (
                Request {
                    key: Some("dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ=="),
                    ..req()
                },
                "400 Bad Request",
            ),
        ];
        for (r, want) in rows {
            assert_eq!(status(r.clone()), want, "{r:?}");
        }
    }

    #[test]
    fn version_refusal_names_13() {
        let yes = |_: &str, _: &str| true;
        let e = check(
            &Request {
                version: Some("8"),
                ..req()
            },
            &policy(&[], &yes),
        )
        .unwrap_err();
        assert!(e.version_header);
    }

    #[test]
    fn origin_checker_gets_host_and_origin() {
        let only = |host: &str, origin: &str| host == "example.com" && origin == "http://ok";
        let p = policy(&[], &only);
        let r = Request {
            origin: Some("http://ok"),
            ..req()
        };
        assert!(check(&r, &p).is_ok());
        let r = Request {
            origin: Some("http://evil"),
            ..req()
        };
        assert_eq!(check(&r, &p).unwrap_err().status, "403 Forbidden");
    }

    #[test]
    fn first_client_offer_the_app_supports() {
        let yes = |_: &str, _: &str| true;
        let supported = vec!["chat".to_string(), "superchat".to_string()];
        let p = policy(&supported, &yes);
        let r = Request {
            protocols: Some("v10.stomp, superchat, chat"),
            ..req()
        };
        assert_eq!(
            check(&r, &p).unwrap().protocol.as_deref(),
            Some("superchat")
        );
        let r = Request {
            protocols: Some("mqtt"),
            ..req()
        };
        assert_eq!(check(&r, &p).unwrap().protocol, None);
    }
}
