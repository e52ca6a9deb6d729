//! The auto traits and standard traits users rely on, checked at compile time
//! (Rust API guidelines C-SEND-SYNC, C-GOOD-ERR, C-DEBUG).

use eventlet_wsgi::chunked::ChunkError;
use eventlet_wsgi::head::HeadError;
use eventlet_wsgi::status::{HeaderError, StatusError};
use eventlet_wsgi::{
    App, Body, BodyTooLarge, ChunkReadError, Environ, ErrorsSink, HeadersAlreadySent, HttpVersion,
    Input, InvalidResponse, Keepalive, LogFormat, LogFormatError, LogSink, Server, ServerHandle,
    ServerOptions, StartResponse,
};
use std::fmt::{Debug, Display};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}
fn debug<T: Debug>() {}
fn good_error<T: std::error::Error + Display + Debug + Send + Sync + 'static>() {}

#[test]
fn server_types_are_send_and_sync() {
    // Built on one thread, run or stopped from another green thread or thread.
    send::<Server>();
    send_sync::<ServerHandle>();
    send_sync::<ServerOptions>();
    send_sync::<LogSink>();
    send_sync::<LogFormat>();
    send_sync::<Keepalive>();
    send_sync::<HttpVersion>();
    send_sync::<ErrorsSink>();
    // An app is shared by every connection's green thread.
    send_sync::<Box<dyn App>>();
    // `Body` is deliberately not `Send`: it lives and dies in the request's
    // own green thread, so an app may return iterators over non-Send state.
}

#[test]
fn errors_are_good_errors() {
    good_error::<ChunkError>();
    good_error::<ChunkReadError>();
    good_error::<BodyTooLarge>();
    good_error::<HeadError>();
    good_error::<LogFormatError>();
    good_error::<InvalidResponse>();
    good_error::<StatusError>();
    good_error::<HeaderError>();
    good_error::<HeadersAlreadySent<std::io::Error>>();
    let e = HeadersAlreadySent(std::io::Error::other("app failed"));
    assert_eq!(
        e.to_string(),
        "start_response: the headers were already sent"
    );
}

#[test]
fn public_types_are_debug() {
    debug::<Server>();
    debug::<ServerHandle>();
    debug::<ServerOptions>();
    debug::<Body>();
    debug::<Environ<'static>>();
    debug::<StartResponse<'static>>();
    debug::<Input<'static>>();
    debug::<LogSink>();
    debug::<LogFormat>();
    let opts = ServerOptions::new().max_size(7);
    assert!(format!("{opts:?}").contains("max_size: 7"), "{opts:?}");
}
