//! Differential test: [`super::parse_head`] against [`super::reference`], the parser it replaced. Both
//! must give the same `Ok` head (every field) or the same error (status and detail) on the table heads,
//! every prefix of them, and thousands of deterministic random mutations of valid heads, under several
//! limit settings.

use super::tests::TABLE;
use super::{reference, Head, HeadError, Limits};
use crate::test_rng::Rng;

/// Valid heads that reach the fast paths and the special fields, beyond the table's.
const EXTRA_SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /static/css/app.min.css?v=20261124 HTTP/1.1\r\nHost: www.example.com\r\nConnection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) \
AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,\
application/xml;q=0.9,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nCookie: sessionid=8f2d0c7e6b5a4f3e2d1c; \
csrftoken=Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed\r\n\r\n",
    b"POST /api/v1/items?x=1 HTTP/1.1\r\nHost: api.example.com:8080\r\nContent-Type: application/json\r\n\
Content-Length: 27\r\nAccept: */*\r\nUser-Agent: curl/8.5.0\r\n\r\n",
    b"PUT /upload HTTP/1.1\r\nhOsT: a\r\nTransfer-Encoding: gzip , chunked\r\nExpect: 100-continue\r\n\r\n",
    b"POST /chunk HTTP/1.1\r\nHOST: [2001:db8::1]:8080\r\nTRANSFER-ENCODING: chunked\r\nCONNECTION: close\r\n\r\n",
    b"GET /a%20b?c=d&e=f HTTP/1.0\r\nConnection: Keep-Alive\r\nX-Long-Value: \t0123456789abcdef\t0123456789 \x80\xff tail \t \r\n\r\n",
    b"\r\n\r\nDELETE http://user.example:8080/x/y?z HTTP/1.1\r\nHost: a%2Db.example\r\nContent-Length: 00012\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: \r\nConnection: upgrade, keep-alive, close\r\nExpect: 100-continue, x\r\n\r\n",
    b"CONNECT proxy.example:443 HTTP/1.1\r\nHost: proxy.example:443\r\nProxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET https://a.example HTTP/1.1\r\nHost: b\r\nX-Empty:\r\nX-Spaces:    \r\n\r\n",
    // Host forms around the one-pass Host path: empty port, OWS, tab, sub-delims, bad port, IPv6.
    b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a \r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:\ta\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:  a.b:8080\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:A-B.c_d~e!$&'()*+,;=\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: [::1]\r\nhost: a\r\n\r\n",
];

/// Bytes a mutation inserts or writes: line ends, separators, controls, obs-text, URI delimiters.
const SPECIAL: &[u8] = &[
    b'\r', b'\n', 0, b' ', b'\t', 0x80, 0xff, 0x85, 0x7f, 0x01, 0x0b, b':', b'#', b',', b'/', b'@',
    b'%', b'[', b']', b';', b'=', b'"', b'1', b'a', b'H',
];

fn limit_sets() -> Vec<Limits> {
    vec![
        Limits::default(),
        Limits {
            max_request_line: 24,
            max_header_line: 20,
            max_headers: 2,
            max_head: 64,
            require_host: true,
        },
        Limits {
            max_request_line: 40,
            max_header_line: 48,
            max_headers: 4,
            max_head: 200,
            require_host: false,
        },
    ]
}

fn show(buf: &[u8]) -> String {
    buf.escape_ascii().to_string()
}

fn check(buf: &[u8], limits: &Limits, reject: bool) {
    let mut spare = Vec::with_capacity(3);
    spare.push((0..1, 1..2));
    let new: Result<Option<Head>, HeadError> = super::parse_head(buf, limits, reject, &mut spare);
    let old = reference::parse_head(buf, limits, reject, &mut Vec::new());
    assert_eq!(
        new,
        old,
        "{:?} with {limits:?}, reject_bad_requests {reject}",
        show(buf)
    );
}

fn seeds() -> Vec<Vec<u8>> {
    TABLE
        .iter()
        .map(|(_, input, _)| input.to_vec())
        .chain(EXTRA_SEEDS.iter().map(|s| s.to_vec()))
        .collect()
}

#[test]
fn same_answers_as_the_reference_on_seed_heads_and_all_their_prefixes() {
    for seed in seeds() {
        for limits in limit_sets() {
            for reject in [true, false] {
                for end in 0..=seed.len() {
                    check(&seed[..end], &limits, reject);
                }
            }
        }
    }
}

fn mutate(rng: &mut Rng, buf: &mut Vec<u8>) {
    let at = rng.below(buf.len() + 1);
    match rng.below(7) {
        0 if at < buf.len() => buf[at] ^= 1 << rng.below(8),
        1 if at < buf.len() => buf[at] = rng.pick(SPECIAL),
        2 if at < buf.len() => {
            buf.remove(at);
        }
        3 => {
            // Repeat a line (a duplicate field, or a request line as a field).
            let lines: Vec<usize> = (0..buf.len()).filter(|&i| buf[i] == b'\n').collect();
            if lines.len() >= 2 {
                let k = rng.below(lines.len() - 1);
                let line = buf[lines[k] + 1..=lines[k + 1]].to_vec();
                let to = lines[rng.below(lines.len())] + 1;
                buf.splice(to..to, line);
            }
        }
        4 => {
            // A run of one byte, to cross word boundaries and limits.
            let b = rng.pick(SPECIAL);
            let n = 1 + rng.below(12);
            buf.splice(at..at, std::iter::repeat_n(b, n));
        }
        _ => buf.insert(at, rng.pick(SPECIAL)),
    }
}

#[test]
fn same_answers_as_the_reference_on_mutated_heads() {
    let seeds = seeds();
    let limits = limit_sets();
    let mut rng = Rng(0x5eed_f00d_4ead);
    for _ in 0..60_000 {
        let mut buf = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(3) {
            mutate(&mut rng, &mut buf);
        }
        let limits = &limits[rng.below(limits.len())];
        let reject = rng.below(4) != 0;
        check(&buf, limits, reject);
        for _ in 0..3 {
            check(&buf[..rng.below(buf.len() + 1)], limits, reject);
        }
    }
}
