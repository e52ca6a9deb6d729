//! The auto traits and standard traits users rely on, checked at compile time
//! (Rust API guidelines C-SEND-SYNC, C-GOOD-ERR, C-DEBUG). A type that loses
//! `Send`/`Sync` by accident (a new `Rc` or `Cell` field) fails this build.

use eventlet::queue::TaskDoneTooManyTimes;
use eventlet::queue::{
    Empty, Full, GetError, LifoQueue, LightQueue, PriorityQueue, PutError, Queue,
};
use eventlet::{
    AlreadySent, BoundedSemaphore, CappedSemaphore, Config, ConfigError, CountAboveLimit, Event,
    EventError, GreenPile, GreenPool, GreenThread, GreenThreadError, ListenOptions, Listener,
    NotSent, ReleasedTooManyTimes, Semaphore, SemaphoreGuard, StopServe, Stream, Timeout,
    TimeoutError,
};
use std::fmt::{Debug, Display};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}
fn debug<T: Debug>() {}
/// What `?` into `Box<dyn Error + Send + Sync>` (and `anyhow`) needs.
fn good_error<T: std::error::Error + Display + Debug + Send + Sync + 'static>() {}

/// Compiles only when `T` is *not* `Send`: with a `Send` type both impls
/// apply and the call is ambiguous (the `static_assertions` technique).
trait AmbiguousIfSend<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}
/// The same for `Sync`.
trait AmbiguousIfSync<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<u8> for T {}

#[test]
fn shared_primitives_are_send_and_sync() {
    // Shared between green threads (usually in an Arc).
    send_sync::<GreenPool>();
    send_sync::<GreenThread<u32>>();
    send_sync::<Event<String>>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<CappedSemaphore>();
    send_sync::<Queue<String>>();
    send_sync::<LightQueue<String>>();
    send_sync::<PriorityQueue<u32>>();
    send_sync::<LifoQueue<String>>();
    send_sync::<Listener>();
    send_sync::<Config>();
    send_sync::<ListenOptions>();
    send_sync::<eventlet::net::Addr>();
    // Moved into the green thread that serves the connection.
    send::<Stream>();
    send::<GreenPile<u32>>();
}

#[test]
fn timeout_stays_with_its_green_thread() {
    // A Timeout lives on its own green thread's deadline stack: moving it to
    // another green thread would be a bug, so it must stay !Send and !Sync.
    <Timeout as AmbiguousIfSend<_>>::check();
    <Timeout as AmbiguousIfSync<_>>::check();
}

#[test]
fn errors_are_good_errors() {
    good_error::<TimeoutError>();
    good_error::<GreenThreadError>();
    good_error::<ConfigError>();
    good_error::<AlreadySent>();
    good_error::<NotSent>();
    good_error::<EventError>();
    good_error::<StopServe>();
    good_error::<Full<String>>();
    good_error::<Empty>();
    good_error::<PutError<String>>();
    good_error::<GetError>();
    good_error::<TaskDoneTooManyTimes>();
    good_error::<ReleasedTooManyTimes>();
    good_error::<CountAboveLimit>();
    // A timeout converts into the io::Error a socket call returns, and back.
    let t = Timeout::new(std::time::Duration::from_secs(60));
    let e: std::io::Error = t.error().into();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(TimeoutError::from_io(&e), Some(t.error()));
    assert!(t.is_io(&e));
}

#[test]
fn public_types_are_debug() {
    debug::<GreenPool>();
    debug::<GreenThread<u32>>();
    debug::<GreenPile<u32>>();
    debug::<Event<u32>>();
    debug::<Semaphore>();
    debug::<SemaphoreGuard<'static>>();
    debug::<Queue<u32>>();
    debug::<Listener>();
    debug::<Stream>();
    debug::<Timeout>();
    debug::<Config>();
    debug::<ListenOptions>();
}

#[cfg(feature = "tls")]
#[test]
fn tls_configs_are_shareable() {
    use eventlet::tls::{TlsClientConfig, TlsServerConfig};
    send_sync::<TlsServerConfig>();
    send_sync::<TlsClientConfig>();
    debug::<TlsServerConfig>();
    debug::<TlsClientConfig>();
}
