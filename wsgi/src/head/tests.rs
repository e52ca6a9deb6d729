use super::*;

fn parse_with(input: &[u8], limits: &Limits, reject: bool) -> Result<Option<Head>, HeadError> {
    parse_head(input, limits, reject, &mut Vec::new())
}

fn parse(input: &[u8]) -> Result<Option<Head>, HeadError> {
    parse_with(input, &Limits::default(), true)
}

fn complete(input: &[u8]) -> Head {
    match parse(input) {
        Ok(Some(head)) => head,
        other => panic!(
            "{:?} should parse, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn status(input: &[u8]) -> u16 {
    match parse(input) {
        Err(e) => e.status(),
        other => panic!(
            "{:?} should be rejected, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

#[derive(Debug, PartialEq)]
pub(super) enum Want {
    Parsed,
    Incomplete,
    Status(u16),
}
use Want::*;

fn outcome(input: &[u8]) -> Want {
    match parse(input) {
        Ok(Some(head)) => {
            assert_eq!(head.len, input.len(), "table inputs are exactly one head");
            Parsed
        }
        Ok(None) => Incomplete,
        Err(e) => Status(e.status()),
    }
}

/// Sources: conformance §1 (gunicorn invalid categories), §3, §5 table (httparse vs us), RFC 9112.
#[rustfmt::skip]
pub(super) const TABLE: &[(&str, &[u8], Want)] = &[
    ("minimal 1.1", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
    ("1.0 needs no Host", b"GET / HTTP/1.0\r\n\r\n", Parsed),
    ("empty buffer", b"", Incomplete),
    ("partial method", b"GE", Incomplete),
    ("partial version", b"GET / HTTP/1.", Incomplete),
    ("CR of request line", b"GET / HTTP/1.1\r", Incomplete),
    ("no final empty line", b"GET / HTTP/1.1\r\nHost: a\r\n", Incomplete),
    ("final CR only", b"GET / HTTP/1.1\r\nHost: a\r\n\r", Incomplete),
    ("partial header name", b"GET / HTTP/1.1\r\nHo", Incomplete),
    ("partial header value", b"GET / HTTP/1.1\r\nHost: ab", Incomplete),
    ("one leading CRLF", b"\r\nGET / HTTP/1.0\r\n\r\n", Parsed),
    ("four leading CRLFs", b"\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n", Parsed),
    ("five leading CRLFs", b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n", Status(400)),
    ("leading bare LF", b"\nGET / HTTP/1.0\r\n\r\n", Status(400)),
    ("leading bare CR", b"\rGET / HTTP/1.0\r\n\r\n", Status(400)),
    // request line shape (gunicorn 002, 003, 016; llhttp)
    ("missing target", b"GET HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("HTTP/0.9", b"GET /\r\n\r\n", Status(400)),
    ("two spaces after method", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("two spaces before version", b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("space after version", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", Status(400)),
    ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("leading space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("bare LF ends request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", Status(400)),
    ("bare CR in request line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", Status(400)),
    ("NUL in target", b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("DEL in target", b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("raw UTF-8 in target tolerated", "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(), Parsed),
    ("quote and braces in target", b"GET /\"{x}\" HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
    ("fragment in target", b"GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("fragment in absolute-form", b"GET http://a/x#f HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("double slash kept", b"GET ///keeping_slashes HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
    // method token (gunicorn 003b, nonascii, prefix_01/02/05)
    ("method with colon", b"bla:rgh / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("non-ASCII method", "GET\u{df} / HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(), Status(400)),
    ("NUL in method", b"GET\0 / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("method ends in colon", b"GET: / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("dash method is a token", b"-BLARGH / HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
    ("lowercase method is a token", b"get! / HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
    // version (gunicorn 004, 018, prefix_06, version_01/02)
    ("HTTP/1.2 is 1.1", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Parsed),
    ("HTTP/1.9 is 1.1", b"GET / HTTP/1.9\r\nHost: a\r\n\r\n", Parsed),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Status(505)),
    ("HTTP/3.0", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", Status(505)),
    ("HTTP/0.9 version", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", Status(505)),
    ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Status(505)),
    ("HTTP/1", b"GET / HTTP/1\r\nHost: a\r\n\r\n", Status(400)),
    ("HTTP/1.1.1", b"GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("lowercase http", b"GET / http/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("HTTP/11", b"GET / HTTP/11\r\nHost: a\r\n\r\n", Status(400)),
    ("HTTP/111", b"GET / HTTP/111\r\nHost: a\r\n\r\n", Status(400)),
    ("HTTP/0.99", b"GET / HTTP/0.99\r\nHost: a\r\n\r\n", Status(400)),
    ("FTP/1.1", b"GET / FTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("long version rejected early", b"GET / HTTP/1111111111", Status(400)),
    // target forms (gunicorn rfc9112_target_*)
    ("absolute-form", b"GET http://a.example/x?y HTTP/1.1\r\nHost: b\r\n\r\n", Parsed),
    ("absolute-form uppercase https", b"GET HTTPS://a.example HTTP/1.1\r\nHost: b\r\n\r\n", Parsed),
    ("absolute-form IPv6", b"GET http://[::1]:8080/x HTTP/1.1\r\nHost: b\r\n\r\n", Parsed),
    ("absolute-form userinfo", b"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("absolute-form empty host", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("absolute-form bad scheme", b"GET s://]ufd/: HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("absolute-form ftp", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("relative target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
    ("GET *", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("CONNECT authority", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", Parsed),
    ("CONNECT without port", b"CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("CONNECT origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    ("authority-form without CONNECT", b"GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
    // line ends and whitespace (CVE-2019-16785, gunicorn invalid_field_value_01, obs_fold_01)
    ("bare LF after header", b"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", Status(400)),
    ("bare LF final line", b"GET / HTTP/1.1\r\nHost: a\r\n\n", Status(400)),
    ("all bare LF", b"GET / HTTP/1.1\nHost: a\n\n", Status(400)),
    ("bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Status(400)),
    ("CR CR LF", b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\r\n\r\n", Status(400)),
    ("bare CR final line", b"GET / HTTP/1.1\r\nHost: a\r\n\rX", Status(400)),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Status(400)),
    ("obs-fold with tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", Status(400)),
    ("whitespace before first field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Status(400)),
    // field names (gunicorn 005, 020, nonascii_03/04; eventlet pitfall 5)
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Status(400)),
    ("tab before colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", Status(400)),
    ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", Status(400)),
    ("space in name", b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", Status(400)),
    ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", Status(400)),
    ("NUL in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n", Status(400)),
    ("non-ASCII name", "GET / HTTP/1.1\r\nHost: a\r\nX\u{e9}: 1\r\n\r\n".as_bytes(), Status(400)),
    ("CTL before name", b"GET / HTTP/1.1\r\nHost: a\r\n\x01X: 1\r\n\r\n", Status(400)),
    ("NEL in name", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length\x85: 1\r\n\r\n", Status(400)),
    ("special tchars in name", b"GET / HTTP/1.1\r\nHost: a\r\nX.Custom|Pipe~!#: 1\r\n\r\n", Parsed),
    // field values (rfc9110_field_value_ctl_*, waitress CVE-2019-16789)
    ("DEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", Status(400)),
    ("BEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x07b\r\n\r\n", Status(400)),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Status(400)),
    ("VT before value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x0bchunked\r\n\r\n", Status(400)),
    ("obs-text in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xa0\xff\r\n\r\n", Parsed),
    ("HTAB inside value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", Parsed),
    ("empty value", b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", Parsed),
    // Content-Length (gunicorn 014, 015, 021-024, prefix_03/04, cl_list_form_01)
    ("CL -1", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Status(400)),
    ("CL word", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: bla-bla-bla\r\n\r\n", Status(400)),
    ("CL -0", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -0\r\n\r\n", Status(400)),
    ("CL underscore", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0_1\r\n\r\n", Status(400)),
    ("CL plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", Status(400)),
    ("CL inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0 1\r\n\r\n", Status(400)),
    ("CL hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Status(400)),
    ("CL empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Status(400)),
    ("CL list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Status(400)),
    ("CL differing lines", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\n", Status(400)),
    ("CL identical lines", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", Status(400)),
    ("CL overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Status(400)),
    ("CL u64::MAX", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", Parsed),
    // Transfer-Encoding (gunicorn chunked_02-08, CVE-2024-1135, CVE-2024-6827, CVE-2019-16786)
    ("TE chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Parsed),
    ("TE mixed case", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n", Parsed),
    ("TE leading empty element", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", Parsed),
    ("TE trailing empty element", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked , \r\n\r\n", Parsed),
    ("TE gzip, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Status(501)),
    ("TE identity, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", Status(501)),
    ("TE gzip then chunked lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", Status(501)),
    ("TE chunked, gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Status(400)),
    ("TE chunked then gzip lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", Status(400)),
    ("TE chunked then identity lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", Status(400)),
    ("TE gzip only", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Status(400)),
    ("TE chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Status(400)),
    ("TE chunked twice over lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Status(400)),
    ("TE identity chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked, identity, chunked\r\n\r\n", Status(400)),
    ("TE chunked, cow", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, cow\r\n\r\n", Status(400)),
    ("TE empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Status(400)),
    ("TE quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", Status(400)),
    ("TE chunked with parameter", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", Status(400)),
    ("TE two words", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n\r\n", Status(400)),
    ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Status(400)),
    ("TE and CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Status(400)),
    ("tab-padded TE and CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\r\nContent-Length: 3\r\n\r\n", Status(400)),
    // Host (RFC 9112 §3.2, gunicorn 042)
    ("1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", Status(400)),
    ("two Host lines", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Status(400)),
    ("Host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Status(400)),
    ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Status(400)),
    ("Host with bad port", b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", Status(400)),
    ("Host without host", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", Status(400)),
    ("Host with unclosed bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Status(400)),
    ("Host empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Parsed),
    ("Host with port", b"GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", Parsed),
    ("Host IPv6", b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", Parsed),
    ("Host pct-encoded", b"GET / HTTP/1.1\r\nHost: a%2Db\r\n\r\n", Parsed),
    ("Host bad pct", b"GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", Status(400)),
    ("invalid Host on 1.0", b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n", Status(400)),
    // Smuggling one-liners (conformance §3 "observed in eventlet")
    (
        "bad header then CL",
        b"POST / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\nContent-Length: 34\r\n\r\n",
        Status(400),
    ),
    ("NEL-prefixed TE", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x85chunked\r\n\r\n", Status(400)),
];

#[test]
fn table_of_valid_invalid_and_incomplete_heads() {
    let mut failures = Vec::new();
    for (name, input, want) in TABLE {
        let got = outcome(input);
        if got != *want {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ranges_of_a_simple_head_point_at_its_parts() {
    let buf = b"\r\nPOST /a?b=1 HTTP/1.1\r\nHost: ex.com\r\nX-Pad: \t v a l \t\r\nContent-Length: 5\r\n\r\nhello";
    let head = complete(buf);
    assert_eq!(&buf[head.method.clone()], b"POST");
    assert_eq!(&buf[head.target.clone()], b"/a?b=1");
    assert_eq!(&buf[head.path.clone()], b"/a?b=1");
    assert_eq!(&buf[head.request_line.clone()], b"POST /a?b=1 HTTP/1.1");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.target_form, TargetForm::Origin);
    assert_eq!(head.authority, None);
    assert_eq!(head.len, buf.len() - 5, "the body is not part of the head");
    assert_eq!(head.framing, BodyFraming::Length(5));
    assert_eq!(&buf[head.host.clone().unwrap()], b"ex.com");
    let fields: Vec<(&[u8], &[u8])> = head
        .headers
        .iter()
        .map(|(n, v)| (&buf[n.clone()], &buf[v.clone()]))
        .collect();
    let want: Vec<(&[u8], &[u8])> = vec![
        (b"Host", b"ex.com"),
        (b"X-Pad", b"v a l"),
        (b"Content-Length", b"5"),
    ];
    assert_eq!(fields, want);
}

#[test]
fn higher_minor_versions_are_processed_as_1_1() {
    for minor in b'2'..=b'9' {
        let buf = [b"GET / HTTP/1.", &[minor][..], b"\r\nHost: a\r\n\r\n"].concat();
        assert_eq!(complete(&buf).version, Version::Http11);
    }
    assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
}

#[test]
fn absolute_form_yields_authority_and_path() {
    let buf = b"GET http://a.example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
    let head = complete(buf);
    assert_eq!(head.target_form, TargetForm::Absolute);
    assert_eq!(&buf[head.authority.clone().unwrap()], b"a.example:81");
    assert_eq!(&buf[head.path.clone()], b"/p?q");
    assert_eq!(
        &buf[head.host.clone().unwrap()],
        b"other",
        "Host is still reported"
    );

    let buf = b"GET http://a.example?q HTTP/1.1\r\nHost: a\r\n\r\n";
    let head = complete(buf);
    assert_eq!(&buf[head.authority.clone().unwrap()], b"a.example");
    assert_eq!(&buf[head.path.clone()], b"?q");
}

#[test]
fn authority_and_asterisk_forms_are_tagged() {
    let buf = b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n";
    let head = complete(buf);
    assert_eq!(head.target_form, TargetForm::Authority);
    assert_eq!(&buf[head.authority.clone().unwrap()], b"[::1]:443");
    assert_eq!(
        complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target_form,
        TargetForm::Asterisk
    );
}

#[test]
fn framing_is_empty_without_cl_or_te() {
    let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(head.framing, BodyFraming::Empty);
    assert!(!head.te_and_cl);
}

#[test]
fn content_length_keeps_leading_zeros_value() {
    let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
    assert_eq!(head.framing, BodyFraming::Length(7));
    let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(head.framing, BodyFraming::Length(0));
}

#[test]
fn chunked_transfer_encoding_wins_framing() {
    let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,, chunked ,\r\n\r\n");
    assert_eq!(head.framing, BodyFraming::Chunked);
}

// Ports eventlet's test_rfc9112_reject_bad_request_escape_hatch: with reject_bad_requests = False the
// TE + CL request is served (chunked) but the connection must not be kept.
#[test]
fn te_and_cl_is_chunked_and_flagged_without_reject_bad_requests() {
    let buf =
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    let head = parse_with(buf, &Limits::default(), false).unwrap().unwrap();
    assert_eq!(head.framing, BodyFraming::Chunked);
    assert!(head.te_and_cl);
    assert!(!head.keep_alive());
    // The escape hatch does not relax the other TE rules.
    let buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    assert_eq!(
        parse_with(buf, &Limits::default(), false)
            .unwrap_err()
            .status(),
        501
    );
    let buf = b"POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        parse_with(buf, &Limits::default(), false)
            .unwrap_err()
            .status(),
        400
    );
}

// Ports eventlet's test_rfc9112_reject_bad_request (CL + TE → 400).
#[test]
fn te_and_cl_is_rejected_with_reject_bad_requests() {
    let buf =
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
    assert_eq!(
        parse(buf).unwrap_err(),
        HeadError::BadRequest("both Transfer-Encoding and Content-Length")
    );
}

#[test]
fn connection_tokens_are_case_insensitive_lists_over_several_lines() {
    let h = complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n");
    assert!(h.conn_close && !h.conn_keep_alive && !h.keep_alive());
    let h = complete(b"GET / HTTP/1.0\r\nConnection: foo\r\nconnection: ,Keep-Alive\r\n\r\n");
    assert!(!h.conn_close && h.conn_keep_alive && h.keep_alive());
    let h = complete(b"GET / HTTP/1.0\r\nConnection: closed, keep-alives\r\n\r\n");
    assert!(!h.conn_close && !h.conn_keep_alive && !h.keep_alive());
    let h = complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(h.keep_alive(), "1.1 is persistent by default");
    let h = complete(b"GET / HTTP/1.0\r\n\r\n");
    assert!(!h.keep_alive(), "1.0 is not persistent by default");
}

#[test]
fn expect_100_continue_is_recognised_case_insensitively() {
    assert!(complete(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").expect_continue);
    assert!(!complete(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n").expect_continue);
    assert!(!complete(b"PUT / HTTP/1.1\r\nHost: a\r\n\r\n").expect_continue);
}

#[test]
fn host_is_optional_when_not_required() {
    let limits = Limits {
        require_host: false,
        ..Limits::default()
    };
    let head = parse_with(b"GET / HTTP/1.1\r\n\r\n", &limits, true)
        .unwrap()
        .unwrap();
    assert_eq!(head.host, None);
    // Two Host lines stay an error.
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    assert_eq!(parse_with(buf, &limits, true).unwrap_err().status(), 400);
}

#[test]
fn empty_host_value_is_an_empty_range() {
    let head = complete(b"GET / HTTP/1.1\r\nHost:  \r\n\r\n");
    let host = head.host.unwrap();
    assert!(host.is_empty());
}

#[test]
fn header_value_lookup_is_case_insensitive_and_keeps_duplicates() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\"\r\nif-match: \"y\"\r\n\r\n";
    let head = complete(buf);
    assert_eq!(header_value(buf, &head, "IF-MATCH"), Some(&b"\"x\""[..]));
    let all: Vec<&[u8]> = header_values(buf, &head, "if-match").collect();
    assert_eq!(all, vec![&b"\"x\""[..], &b"\"y\""[..]]);
    assert_eq!(header_value(buf, &head, "missing"), None);
}

#[test]
fn into_headers_returns_the_allocation_for_reuse() {
    let mut spare = Vec::with_capacity(32);
    let ptr = spare.as_ptr();
    let head = parse_head(
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n",
        &Limits::default(),
        true,
        &mut spare,
    )
    .unwrap()
    .unwrap();
    assert_eq!(head.headers.len(), 2);
    assert_eq!(
        head.headers.as_ptr(),
        ptr,
        "the caller's vector was moved into the head"
    );
    let spare = head.into_headers();
    assert!(spare.is_empty());
    assert_eq!(spare.as_ptr(), ptr);
    assert!(spare.capacity() >= 32);
}

#[test]
fn request_line_at_the_limit_is_414_and_just_below_is_accepted() {
    let limits = Limits::default();
    // "GET " + target + " HTTP/1.1\r\n" = 4 + t + 11 bytes.
    let line = |total: usize| {
        let target = format!("/{}", "a".repeat(total - 16));
        format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n")
    };
    let ok = line(limits.max_request_line - 1);
    assert!(parse(ok.as_bytes()).unwrap().is_some());
    let too_long = line(limits.max_request_line);
    assert_eq!(
        parse(too_long.as_bytes()).unwrap_err(),
        HeadError::UriTooLong
    );
}

#[test]
fn incomplete_request_line_over_the_limit_is_414() {
    let buf = format!("GET /{}", "a".repeat(8192));
    assert_eq!(parse(buf.as_bytes()).unwrap_err(), HeadError::UriTooLong);
    let buf = format!("GET /{}", "a".repeat(8000));
    assert_eq!(parse(buf.as_bytes()).unwrap(), None);
}

#[test]
fn header_line_at_the_limit_is_431_and_just_below_is_accepted() {
    // "X: " + value + "\r\n" = 5 + v bytes.
    let head = |line_len: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(line_len - 5)
        )
    };
    assert!(parse(head(8191).as_bytes()).unwrap().is_some());
    assert_eq!(parse(head(8192).as_bytes()).unwrap_err().status(), 431);
    let partial = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(8200));
    assert_eq!(parse(partial.as_bytes()).unwrap_err().status(), 431);
}

// Ports the intent of eventlet's test_030/031 (long header lines, large headers) with 431 instead of
// eventlet's "400 Header Line Too Long" / "400 Headers Too Large" (conformance §6).
#[test]
fn header_count_and_head_size_limits_are_431() {
    let with_headers = |n: usize| {
        let mut s = String::from("GET / HTTP/1.1\r\n");
        for i in 0..n {
            s.push_str(&format!("X-{i}: v\r\n"));
        }
        s + "\r\n"
    };
    // Host is one of the 100: X-0 plays its part syntactically, so turn Host off.
    let limits = Limits {
        require_host: false,
        ..Limits::default()
    };
    assert!(parse_with(with_headers(100).as_bytes(), &limits, true)
        .unwrap()
        .is_some());
    assert_eq!(
        parse_with(with_headers(101).as_bytes(), &limits, true).unwrap_err(),
        HeadError::FieldsTooLarge("too many headers")
    );

    let mut big = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    while big.len() <= 65536 {
        big.push_str(&format!("X: {}\r\n", "v".repeat(1000)));
    }
    big.push_str("\r\n");
    let limits = Limits {
        max_headers: 1000,
        ..Limits::default()
    };
    assert_eq!(
        parse_with(big.as_bytes(), &limits, true)
            .unwrap_err()
            .status(),
        431
    );
    // Without its end, the same bytes are rejected as soon as they pass max_head.
    assert_eq!(
        parse_with(&big.as_bytes()[..big.len() - 2], &limits, true)
            .unwrap_err()
            .status(),
        431
    );
}

#[test]
fn leading_empty_lines_count_in_len_and_are_outside_the_request_line() {
    let buf = b"\r\n\r\nGET / HTTP/1.0\r\n\r\n";
    let head = complete(buf);
    assert_eq!(head.len, buf.len());
    assert_eq!(head.request_line, 4..18);
    assert_eq!(parse(b"\r\n\r\n").unwrap(), None);
    assert_eq!(parse(b"\r\n\r").unwrap(), None);
}

#[test]
fn errors_are_reported_before_the_head_is_complete() {
    // A bad method, a duplicate Content-Length or a bare LF can never become valid: no need to wait.
    assert_eq!(status(b"G@T / HTTP/1.1\r\n"), 400);
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n"),
        400
    );
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\n"), 400);
    assert_eq!(status(b"GET / HTTP/2.0\r\n"), 505);
}

#[test]
fn status_and_reason_phrases() {
    let cases = [
        (HeadError::BadRequest("x"), 400, "Bad Request"),
        (HeadError::UriTooLong, 414, "URI Too Long"),
        (
            HeadError::FieldsTooLarge("x"),
            431,
            "Request Header Fields Too Large",
        ),
        (HeadError::NotImplemented("x"), 501, "Not Implemented"),
        (
            HeadError::VersionNotSupported,
            505,
            "HTTP Version Not Supported",
        ),
    ];
    for (e, code, reason) in cases {
        assert_eq!((e.status(), e.reason()), (code, reason));
    }
    assert_eq!(
        HeadError::BadRequest("bare LF").to_string(),
        "400 Bad Request: bare LF"
    );
}

#[test]
fn word_scanner_stops_at_the_first_forbidden_byte_anywhere_in_a_word() {
    // Exercise every position of the 8-byte fast path, with HTAB (allowed, slow path) around it.
    for len in 0..40 {
        for bad_at in 0..len {
            for bad in [0u8, b'\n', b'\r', 0x1f, 0x7f] {
                let mut v = vec![b'a'; len];
                v[bad_at] = bad;
                assert_eq!(scan_value(&v, 0), bad_at);
                assert_eq!(scan_target(&v, 0), bad_at);
            }
            let mut v = vec![b'\t'; len];
            v[bad_at] = b'x';
            assert_eq!(scan_value(&v, 0), len, "HTAB and x are value bytes");
            let want = usize::from(bad_at == 0);
            assert_eq!(scan_target(&v, 0), want, "HTAB is not a target byte");
        }
        let v: Vec<u8> = (0..len).map(|i| 0x80 + i as u8).collect();
        assert_eq!(scan_value(&v, 0), len, "obs-text passes");
        assert_eq!(scan_target(&v, 0), len);
        let v = vec![b' '; len];
        assert_eq!(scan_value(&v, 0), len);
        assert_eq!(scan_target(&v, 0), 0);
    }
}

#[test]
fn head_progress_parses_once_per_line_of_a_trickled_head() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: abcdefghijklmnopqrstuvwxyz\r\n\r\n";
    let limits = Limits::default();
    let mut gate = HeadProgress::new();
    let mut parses = 0;
    for end in 1..=buf.len() {
        if gate.should_parse(&buf[..end], &limits) {
            parses += 1;
            let got = parse(&buf[..end]).unwrap();
            assert_eq!(got.is_some(), end == buf.len());
        }
    }
    assert_eq!(parses, 4, "one parse per LF");
}

#[test]
fn head_progress_still_reports_an_overlong_line_without_lf() {
    let limits = Limits::default();
    let buf = format!("GET /{}", "a".repeat(9000));
    let mut gate = HeadProgress::new();
    let first = (1..=buf.len()).find(|&end| gate.should_parse(&buf.as_bytes()[..end], &limits));
    assert_eq!(first, Some(limits.max_request_line));
    assert_eq!(
        parse(&buf.as_bytes()[..limits.max_request_line]).unwrap_err(),
        HeadError::UriTooLong
    );

    let buf = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000));
    let mut gate = HeadProgress::new();
    let parsed: Vec<usize> = (1..=buf.len())
        .filter(|&end| gate.should_parse(&buf.as_bytes()[..end], &limits))
        .take(2)
        .collect();
    assert_eq!(parsed, vec![16, 16 + limits.max_header_line]);
    assert_eq!(
        parse(&buf.as_bytes()[..parsed[1]]).unwrap_err().status(),
        431
    );
}

#[test]
fn head_progress_reset_starts_over() {
    let limits = Limits::default();
    let mut gate = HeadProgress::new();
    assert!(gate.should_parse(b"GET / HTTP/1.0\r\n\r\n", &limits));
    assert!(!gate.should_parse(b"GET / HTTP/1.0\r\n\r\nPO", &limits));
    gate.reset();
    assert!(!gate.should_parse(b"PO", &limits));
    assert!(gate.should_parse(b"POST / HTTP/1.0\r\n", &limits));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Small by default so `cargo test` stays fast; `PROPTEST_CASES` overrides it.
    fn config(default_cases: u32) -> ProptestConfig {
        let mut config = ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = default_cases;
        }
        config
    }

    /// A valid head, built piece by piece so that the expected [`Head`] is known exactly.
    #[derive(Clone, Debug)]
    struct Model {
        bytes: Vec<u8>,
        head: Head,
    }

    fn token(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            proptest::sample::select(
                b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    .to_vec(),
            ),
            1..max,
        )
    }

    fn special(name: &[u8]) -> bool {
        [
            &b"host"[..],
            b"content-length",
            b"transfer-encoding",
            b"connection",
            b"expect",
        ]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s))
    }

    fn value_byte() -> impl Strategy<Value = u8> {
        prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t'), 1 => 0x80u8..=0xff]
    }

    fn ows() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(vec![b' ', b'\t']), 0..3)
    }

    /// Leading OWS, value, trailing OWS.
    type PaddedValue = (Vec<u8>, Vec<u8>, Vec<u8>);

    /// A value that starts and ends with a visible byte, with OWS padding to be trimmed.
    fn padded_value() -> impl Strategy<Value = PaddedValue> {
        let core = proptest::collection::vec(value_byte(), 0..40).prop_map(|mut v| {
            while let Some(b' ' | b'\t') = v.first() {
                v.remove(0);
            }
            while let Some(b' ' | b'\t') = v.last() {
                v.pop();
            }
            v
        });
        (ows(), core, ows())
    }

    fn method() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::sample::select(vec![&b"GET"[..], b"POST", b"PUT", b"DELETE", b"-BLARGH"])
                .prop_map(|m| m.to_vec()),
            // Lowercase tokens can never be CONNECT or OPTIONS.
            proptest::collection::vec(
                proptest::sample::select(b"abcxyz!#$%&'*+-.^_`|~09".to_vec()),
                1..10
            ),
        ]
    }

    fn target() -> impl Strategy<Value = Vec<u8>> {
        let vchar_but_hash = (0x21u8..=0x7e).prop_map(|b| if b == b'#' { b'/' } else { b });
        proptest::collection::vec(prop_oneof![9 => vchar_but_hash, 1 => 0x80u8..=0xff], 0..60)
            .prop_map(|rest| [&b"/"[..], &rest].concat())
    }

    #[derive(Clone, Debug)]
    enum Framing {
        None,
        Length(u64),
        Chunked,
    }

    prop_compose! {
        fn model()(
            empties in 0..=MAX_LEADING_EMPTY_LINES,
            method in method(),
            target in target(),
            minor in 0u8..=9,
            host in proptest::option::of("[a-z0-9.-]{1,20}(:[0-9]{1,5})?"),
            fields in proptest::collection::vec((token(20), padded_value()), 0..12),
            framing in prop_oneof![Just(Framing::None), any::<u64>().prop_map(Framing::Length), Just(Framing::Chunked)],
            connection in proptest::option::of(proptest::sample::select(vec!["close", "Keep-Alive", "Upgrade, keep-alive", "te"])),
            expect in any::<bool>(),
            insert_at in any::<proptest::sample::Index>(),
        ) -> Model {
            let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
            // 1.1 needs a Host; 1.0 must not use TE.
            let host = match (version, host) {
                (Version::Http11, None) => Some("h".to_string()),
                (_, h) => h,
            };
            let framing = match (version, framing) {
                (Version::Http10, Framing::Chunked) => Framing::None,
                (_, f) => f,
            };
            let mut fields: Vec<(Vec<u8>, PaddedValue)> =
                fields.into_iter().filter(|(n, _)| !special(n)).collect();
            let mut extra = Vec::new();
            if let Some(h) = &host {
                extra.push((b"Host".to_vec(), h.as_bytes().to_vec()));
            }
            match framing {
                Framing::None => {}
                Framing::Length(n) => extra.push((b"content-length".to_vec(), n.to_string().into_bytes())),
                Framing::Chunked => extra.push((b"Transfer-Encoding".to_vec(), b"chunked".to_vec())),
            }
            if let Some(c) = connection {
                extra.push((b"Connection".to_vec(), c.as_bytes().to_vec()));
            }
            if expect {
                extra.push((b"Expect".to_vec(), b"100-continue".to_vec()));
            }
            // Put the special fields at one random place among the others.
            let at = insert_at.index(fields.len() + 1);
            for (i, (n, v)) in extra.into_iter().enumerate() {
                fields.insert(at + i, (n, (b" ".to_vec(), v, Vec::new())));
            }

            let mut bytes = b"\r\n".repeat(empties);
            let start = bytes.len();
            bytes.extend_from_slice(&method);
            let method_r = start..bytes.len();
            bytes.push(b' ');
            let t0 = bytes.len();
            bytes.extend_from_slice(&target);
            let target_r = t0..bytes.len();
            bytes.extend_from_slice(format!(" HTTP/1.{minor}").as_bytes());
            let request_line = start..bytes.len();
            bytes.extend_from_slice(b"\r\n");
            let mut headers = Vec::new();
            let mut host_r = None;
            for (name, (pre, value, post)) in &fields {
                let n0 = bytes.len();
                bytes.extend_from_slice(name);
                let name_r = n0..bytes.len();
                bytes.push(b':');
                bytes.extend_from_slice(pre);
                let v0 = bytes.len();
                bytes.extend_from_slice(value);
                let mut value_r = v0..bytes.len();
                bytes.extend_from_slice(post);
                if value.is_empty() {
                    // All the OWS is leading whitespace then: the empty value sits after it.
                    value_r = bytes.len()..bytes.len();
                }
                bytes.extend_from_slice(b"\r\n");
                if name.eq_ignore_ascii_case(b"host") {
                    host_r = Some(value_r.clone());
                }
                headers.push((name_r, value_r));
            }
            bytes.extend_from_slice(b"\r\n");
            let conn = connection.unwrap_or("").to_ascii_lowercase();
            let head = Head {
                method: method_r,
                target: target_r.clone(),
                target_form: TargetForm::Origin,
                path: target_r,
                authority: None,
                version,
                request_line,
                headers,
                len: bytes.len(),
                framing: match framing {
                    Framing::None => BodyFraming::Empty,
                    Framing::Length(n) => BodyFraming::Length(n),
                    Framing::Chunked => BodyFraming::Chunked,
                },
                te_and_cl: false,
                conn_close: conn == "close",
                conn_keep_alive: conn.contains("keep-alive"),
                expect_continue: expect,
                host: host_r,
            };
            Model { bytes, head }
        }
    }

    fn check_invariants(buf: &[u8], head: &Head) {
        let n = head.len;
        assert!(n <= buf.len());
        let mut ranges = vec![&head.method, &head.target, &head.path, &head.request_line];
        ranges.extend(head.authority.iter());
        ranges.extend(head.host.iter());
        for (name, value) in &head.headers {
            ranges.push(name);
            ranges.push(value);
            assert!(!name.is_empty() && buf[name.clone()].iter().all(|&b| TCHAR[b as usize]));
            assert!(buf[value.clone()].iter().all(|&b| is_value_byte(b)));
        }
        for r in ranges {
            assert!(r.start <= r.end && r.end <= n, "{r:?} out of 0..{n}");
        }
        assert!(!buf[head.request_line.clone()]
            .iter()
            .any(|&b| b == b'\r' || b == b'\n'));
        assert!(buf[..n].ends_with(b"\r\n\r\n"));
    }

    proptest! {
        #![proptest_config(config(256))]

        /// (1) Growing prefixes: incomplete until the head is whole, then exactly the modelled head.
        #[test]
        fn prefixes_of_a_valid_head_are_incomplete_then_yield_the_same_head(
            model in model(),
            body in proptest::collection::vec(any::<u8>(), 0..20),
            cuts in (any::<proptest::sample::Index>(), any::<proptest::sample::Index>()),
        ) {
            let buf = [&model.bytes[..], &body].concat();
            let mut cuts = [cuts.0.index(buf.len() + 1), cuts.1.index(buf.len() + 1)];
            cuts.sort_unstable();
            let mut spare = Vec::new();
            for end in [cuts[0], cuts[1], model.head.len - 1, buf.len()] {
                let got = parse_head(&buf[..end], &Limits::default(), true, &mut spare);
                if end < model.head.len {
                    prop_assert_eq!(got, Ok(None), "prefix of {} bytes", end);
                } else {
                    let head = got.unwrap().unwrap();
                    prop_assert_eq!(&head, &model.head);
                    spare = head.into_headers();
                }
            }
        }

        /// (3) Arbitrary bytes never panic, and a head found is consistent with the input.
        #[test]
        fn random_bytes_never_panic_and_heads_are_consistent(
            buf in proptest::collection::vec(any::<u8>(), 0..200),
            cut in any::<proptest::sample::Index>(),
        ) {
            check_consistency(&buf, cut.index(buf.len() + 1));
        }

        /// (3) Valid heads with a few random edits: most stay close to valid, which reaches deep states.
        #[test]
        fn mutated_heads_never_panic_and_heads_are_consistent(
            model in model(),
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut buf = model.bytes.clone();
            for (at, kind, byte) in edits {
                let i = at.index(buf.len() + 1);
                match kind {
                    0 if i < buf.len() => buf[i] = byte,
                    1 if i < buf.len() => { buf.remove(i); }
                    _ => buf.insert(i, byte),
                }
            }
            check_consistency(&buf, cut.index(buf.len() + 1));
        }
    }

    proptest! {
        #![proptest_config(config(256))]

        /// Skipping the parses [`HeadProgress`] advises against never changes an answer; it can only
        /// delay an error until the next line end or limit.
        #[test]
        fn head_progress_only_skips_parses_that_would_not_change_the_answer(
            model in model(),
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, any::<u8>()), 0..3),
            cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 1..12),
        ) {
            let mut buf = model.bytes.clone();
            for (at, kind, byte) in edits {
                let i = at.index(buf.len() + 1);
                match kind {
                    0 if i < buf.len() => buf[i] = byte,
                    1 if i < buf.len() => { buf.remove(i); }
                    _ => buf.insert(i, byte),
                }
            }
            let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(buf.len()) + 1).collect();
            ends.push(buf.len());
            ends.sort_unstable();
            ends.dedup();
            let limits = Limits::default();
            let mut gate = HeadProgress::new();
            let mut last = Ok(None);
            for end in ends {
                let now = parse_head(&buf[..end], &limits, true, &mut Vec::new());
                if gate.should_parse(&buf[..end], &limits) {
                    last = now;
                } else {
                    prop_assert!(now == last || (last == Ok(None) && now.is_err()), "{:?} then {:?}", last, now);
                }
            }
        }
    }

    /// A head is consistent with its input; results are monotone in the input length: an error on a
    /// prefix is an error on the whole, and a head found on a prefix is the head of the whole.
    fn check_consistency(buf: &[u8], cut: usize) {
        let limits = Limits::default();
        let whole = parse_head(buf, &limits, true, &mut Vec::new());
        let prefix = parse_head(&buf[..cut], &limits, true, &mut Vec::new());
        if let Ok(Some(head)) = &whole {
            check_invariants(buf, head);
            let exact = parse_head(&buf[..head.len], &limits, true, &mut Vec::new());
            assert_eq!(exact.as_ref(), Ok(&Some(head.clone())));
            if cut < head.len {
                assert_eq!(prefix, Ok(None));
            }
        }
        match prefix {
            Err(_) => assert!(
                whole.is_err(),
                "{prefix:?} on a prefix but {whole:?} on the whole"
            ),
            Ok(Some(head)) => assert_eq!(whole, Ok(Some(head))),
            Ok(None) => {}
        }
    }
}
