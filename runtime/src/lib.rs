//! # eventlet — green threads for Rust, in eventlet's style
//!
//! A port of Python's [eventlet](https://eventlet.readthedocs.io) green-thread
//! API onto the [`may`] stackful-coroutine scheduler. Code is written in
//! blocking style — no `async`, no `.await` — and a blocked green thread lets the
//! scheduler run another one.
//!
//! ```
//! use std::time::Duration;
//! let pool = eventlet::GreenPool::new(100);
//! for i in 0..1000 {
//!     pool.spawn_n(move || eventlet::sleep(Duration::from_millis(10 + i % 3)))
//!         .unwrap();
//! }
//! pool.waitall().unwrap();
//! assert_eq!(pool.running(), 0);
//! ```
//!
//! | eventlet | here |
//! |---|---|
//! | `spawn`, `spawn_n`, `spawn_after`, `sleep`, `kill` | [`spawn`], [`spawn_n`], [`spawn_after`], [`sleep`], [`kill`] |
//! | `GreenThread` | [`GreenThread`] |
//! | `GreenPool`, `GreenPile` | [`GreenPool`], [`GreenPile`] |
//! | `Event` | [`Event`] |
//! | `Semaphore`, `BoundedSemaphore`, `CappedSemaphore` | [`Semaphore`], [`BoundedSemaphore`], [`CappedSemaphore`] |
//! | `queue.Queue`, `LightQueue`, `PriorityQueue`, `LifoQueue` | [`queue`] |
//! | `Timeout`, `with_timeout` | [`Timeout`], [`with_timeout`] |
//! | `lock.Lock`, a green mutex | [`sync::Lock`], [`sync::Mutex`] |
//! | `corolocal.local` | [`local::Local`] |
//! | `pools.Pool`, `pools.TokenPool` | [`pools::Pool`], [`pools::TokenPool`] |
//! | `debug.hub_blocking_detection` | [`debug::hub_blocking_detection`] |
//! | `listen`, `connect`, `serve`, `StopServe`, `wrap_ssl` | [`listen`], [`connect`], [`serve`], [`StopServe`], [`wrap_ssl`] |
//! | `tpool.execute`, `tpool.Proxy` | [`tpool::execute`], [`tpool::Proxy`] |
//! | `green.socket` DNS, `green.urllib`, `green.subprocess`, UDP | [`green`] |
//!
//! Runtime settings (workers, stack size, pinning) and the rules a green thread
//! must follow are in [`config`].
//!
//! # Start here
//!
//! - [`spawn`] a closure and [`GreenThread::wait`] for its result, or run many
//!   with a bounded [`GreenPool`].
//! - Serve connections with [`listen`] + [`Listener::accept`] (or [`serve`]),
//!   and talk to servers with [`connect`]; a [`Stream`] is `Read + Write`.
//! - Bound any blocking call with a [`Timeout`].
//! - Coordinate green threads with [`Event`], [`Semaphore`] and [`queue`].
//!
//! ```
//! use std::io::{Read, Write};
//! // A one-shot echo server and its client, each in a green thread.
//! let listener = eventlet::listen("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = eventlet::spawn(move || {
//!     let (mut conn, _peer) = listener.accept().unwrap();
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = eventlet::connect(addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut reply = [0; 5];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"hello");
//! server.wait().unwrap();
//! ```
//!
//! # Deviations from eventlet
//!
//! Each is deliberate:
//! - **M:N scheduling.** Green threads run on several worker threads, so a
//!   spawned function may start before the spawner yields, and two green
//!   threads may run at the same time; `Send`/`Sync` keep that safe.
//!   [`configure`] with one worker gives eventlet's one-thread model.
//! - **[`Timeout`] is a deadline, not an exception.** Every blocking call of
//!   this crate returns `Err(`[`TimeoutError`]`)` once the current green
//!   thread's timeout expires; [`Timeout::is`] tells yours from an outer one.
//!   Like eventlet's, it never interrupts a busy loop.
//! - **Blocking calls return `Result`**, so a possible timeout is in the type
//!   ([`sleep`] is the exception: it just ends early).
//! - **[`listen`] does not set `SO_REUSEPORT`** unless asked
//!   ([`ListenOptions::reuse_port`]).
//! - **No monkey-patching.** Use this crate's sockets and primitives in green
//!   threads; std blocking IO blocks a whole worker thread (see [`config`]).
//!
//! # Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `tls` | yes | `tls` (rustls): `wrap_ssl`, `tls::connect`, TLS [`Stream`]s |
//!
//! Without `tls`, [`Stream::is_tls`] and [`Listener::is_tls`] are always false.
//!
//! The minimum supported Rust version is 1.95 (what `generator` 0.8.12, the
//! coroutine-stack crate under `may`, needs); the crate is Linux only.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Links to `tls` items cannot resolve in docs built without the feature.
#![cfg_attr(not(feature = "tls"), allow(rustdoc::broken_intra_doc_links))]

pub mod config;
pub mod debug;
mod event;
pub mod green;
mod greenpool;
mod greenthread;
pub mod local;
pub mod net;
mod nudge;
mod overflow;
pub mod pools;
pub mod queue;
mod semaphore;
pub mod sync;
mod timeout;
mod timer;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;
pub mod tpool;
mod waiter;

pub use config::{configure, Config, ConfigError};
pub use event::{AlreadySent, Event, EventError, NotSent};
pub use greenpool::{GreenPile, GreenPool};
pub use greenthread::{
    kill, sleep, spawn, spawn_after, spawn_n, GreenResult, GreenThread, GreenThreadError, LinkId,
};
pub use net::{connect, listen, serve, ListenOptions, Listener, StopServe, Stream};
pub use semaphore::{
    BoundedSemaphore, CappedSemaphore, CountAboveLimit, ReleasedTooManyTimes, Semaphore,
    SemaphoreGuard,
};
pub use timeout::{with_timeout, Timeout, TimeoutError};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::wrap_ssl;

pub mod hubs;

#[cfg(feature = "zmq")]
#[cfg_attr(docsrs, doc(cfg(feature = "zmq")))]
pub mod zmq;

/// The README's examples are compiled as doc tests, so the crates.io page
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
