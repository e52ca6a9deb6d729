//! eventlet's `debug` module: who is running, and who holds a worker too long.

/// An id of the running green thread, unique among live green threads (the
/// address of its runtime record, like the address in eventlet's greenlet
/// `repr`); 0 outside a green thread.
///
/// ```
/// assert_eq!(eventlet::debug::current_id(), 0);
/// let id = eventlet::spawn(eventlet::debug::current_id).wait().unwrap();
/// assert_ne!(id, 0);
/// ```
pub fn current_id() -> usize {
    // A thread-local read only: also used from signal handlers.
    generator::get_local_data() as usize
}
