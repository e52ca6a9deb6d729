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
//! | `listen`, `connect`, `serve`, `StopServe`, `wrap_ssl` | [`listen`], [`connect`], [`serve`], [`StopServe`], [`wrap_ssl`] |
//!
//! Runtime settings (workers, stack size, pinning) and the rules a green thread
//! must follow are in [`config`].

#![warn(missing_docs)]

pub mod config;
mod event;
mod greenpool;
mod greenthread;
pub mod net;
mod nudge;
pub mod queue;
mod semaphore;
mod timeout;
mod timer;
pub mod tls;
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
pub use tls::wrap_ssl;

pub mod hubs;

#[cfg(feature = "zmq")]
pub mod zmq;
