//! The server's log lines, written in batches off the request path.
//!
//! A connection renders its access-log line straight into a shared buffer
//! (one short lock, no system call) and goes on. One OS thread per running
//! server, the *flusher*, takes the whole buffer at least once a second —
//! sooner once [`URGENT_BYTES`] are pending, at once for an error line and at
//! shutdown — and hands it to the [`LogSink`] in order: a writer sink gets
//! one `write_all` + `flush` per batch; the `log` crate gets one record per
//! line, exactly as before (same target, level and text), from the flusher's
//! thread. The sink's IO thus never runs on a may worker, where a slow pipe or
//! disk would stall every green thread of that worker.
//!
//! Memory is bounded: when `log_buffer_size` bytes are pending (one more line
//! may go over), the next line's green thread **waits** (a green wait: its
//! worker runs others) until the flusher has taken the buffer. A sink slower
//! than the server therefore slows the requests that log, and no line is ever
//! lost — what eventlet users get, whose `log.write()` blocks the whole hub
//! until the line is written; access logs are audit and billing records. How
//! often this happened is counted and reported in one ERROR line at shutdown.
//! At most twice the buffer size is held: the pending lines and the batch
//! being written. A process that ends without `Server::run` returning (a
//! second SIGINT, `process::exit`, an abort) loses at most the last second's
//! lines.
//!
//! [`BatchWriter`] extends the batching to a `log` backend's own writes:
//! given to a logger as its output (e.g. `env_logger`'s `Target::Pipe`), it
//! holds what the logger writes while the flusher emits a batch, and writes
//! it with one system call at the end of the batch; writes from any other
//! thread pass straight through. `crate::logging` (feature `env-logger`)
//! builds on it: `env_logger` whose batched lines skip its formatter.

use crate::options::LogSink;
use eventlet::Event;
use std::cell::Cell;
use std::io::{self, Write};
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

/// Pending lines are written at least this often.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Past this many pending bytes the flusher is woken at once (one wake-up per
/// few hundred lines) instead of at its next tick.
pub(crate) const URGENT_BYTES: usize = 64 * 1024;
/// Default for `ServerOptions::log_buffer_size`.
pub(crate) const DEFAULT_BUFFER: usize = 1024 * 1024;

/// Log levels a server line can have, in the order of `log::Level`.
const LEVELS: [log::Level; 3] = [log::Level::Error, log::Level::Info, log::Level::Debug];

fn level_index(level: log::Level) -> u8 {
    match level {
        log::Level::Error | log::Level::Warn => 0,
        log::Level::Info => 1,
        _ => 2,
    }
}

/// Lines not yet taken by the flusher: the text, and for each line where it
/// ends and its level.
#[derive(Default)]
struct Pending {
    text: String,
    ends: Vec<(usize, u8)>,
}

impl Pending {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// The lines as a writer gets them, each ended by a newline.
    fn joined(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.text.len() + self.ends.len());
        for (_, line) in self.lines() {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        bytes
    }

    fn lines(&self) -> impl Iterator<Item = (log::Level, &str)> {
        let mut start = 0;
        self.ends.iter().map(move |&(end, level)| {
            let line = &self.text[start..end];
            start = end;
            (LEVELS[level as usize], line)
        })
    }
}

struct State {
    pending: Pending,
    /// Wake the flusher now (an error line, shutdown).
    urgent: bool,
    closing: bool,
    /// Sent (and replaced) each time the flusher takes the pending lines:
    /// what a line waiting for room waits on.
    room: Arc<Event<()>>,
}

struct Inner {
    sink: LogSink,
    cap: usize,
    state: Mutex<State>,
    wake: Condvar,
    /// Lines that had to wait for room (the sink was slower than the server).
    waits: AtomicU64,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One server's batching log (see the module docs).
pub(crate) struct AccessLog {
    inner: Arc<Inner>,
    running: AtomicBool,
    /// Sent by the flusher when it has written everything and stopped.
    stopped: Arc<Event<()>>,
}

impl AccessLog {
    /// A log writing to `sink`, holding at most about `cap` pending bytes.
    /// Lines go straight to the sink until [`start`](Self::start).
    pub(crate) fn new(sink: LogSink, cap: usize) -> AccessLog {
        AccessLog {
            inner: Arc::new(Inner {
                sink,
                cap: cap.max(1),
                state: Mutex::new(State {
                    pending: Pending::default(),
                    urgent: false,
                    closing: false,
                    room: Arc::new(Event::new()),
                }),
                wake: Condvar::new(),
                waits: AtomicU64::new(0),
            }),
            running: AtomicBool::new(false),
            stopped: Arc::new(Event::new()),
        }
    }

    /// Start the flusher thread; from now on lines are batched.
    pub(crate) fn start(&self) -> io::Result<()> {
        let inner = self.inner.clone();
        let stopped = self.stopped.clone();
        std::thread::Builder::new()
            .name("eventlet-wsgi-log".into())
            .spawn(move || {
                flusher(&inner);
                let _ = stopped.send(());
            })?;
        self.running.store(true, Ordering::Release);
        Ok(())
    }

    /// Add one line of `level`, built by `render` (which appends the text,
    /// without a newline). Waits (green) while the buffer is full.
    pub(crate) fn line(&self, level: log::Level, render: impl FnOnce(&mut String)) {
        if !self.running.load(Ordering::Acquire) {
            let mut s = String::with_capacity(128);
            render(&mut s);
            self.inner.sink.line(level, &s);
            return;
        }
        let inner = &*self.inner;
        let mut st = inner.state();
        while st.pending.text.len() >= inner.cap && !st.closing {
            inner.waits.fetch_add(1, Ordering::Relaxed);
            st.urgent = true;
            let room = st.room.clone();
            drop(st);
            inner.wake.notify_one();
            // The flusher sends this once it has taken the buffer.
            let _ = room.wait();
            st = inner.state();
        }
        let before = st.pending.text.len();
        render(&mut st.pending.text);
        let end = st.pending.text.len();
        st.pending.ends.push((end, level_index(level)));
        let wake = level <= log::Level::Error
            || (before < URGENT_BYTES && end >= URGENT_BYTES)
            || end >= inner.cap;
        if wake {
            st.urgent = true;
        }
        drop(st);
        if wake {
            inner.wake.notify_one();
        }
    }

    /// Write every pending line and stop the flusher (the server is done);
    /// later lines go straight to the sink. Waits (green) for the sink.
    pub(crate) fn close(&self) {
        if !self.running.swap(false, Ordering::AcqRel) {
            return;
        }
        {
            let mut st = self.inner.state();
            st.closing = true;
            st.urgent = true;
        }
        self.inner.wake.notify_one();
        let _ = self.stopped.wait();
        // Nothing should log while the server closes, but a line that raced
        // the flusher's exit is still written.
        let rest = mem::take(&mut self.inner.state().pending);
        if !rest.ends.is_empty() {
            write_batch(&self.inner.sink, &rest);
        }
        let waits = self.inner.waits.load(Ordering::Relaxed);
        if waits > 0 {
            self.inner.sink.line(
                log::Level::Error,
                &format!(
                    "access log: {waits} line(s) waited for the log sink, which was slower than the server (log_buffer_size {} bytes)",
                    self.inner.cap
                ),
            );
        }
    }
}

/// The flusher thread's loop: take the pending lines at least every
/// [`FLUSH_EVERY`] (at once when urgent) and write them, until closed.
fn flusher(inner: &Inner) {
    let mut batch = Pending::default();
    let mut last = Instant::now();
    loop {
        let closing = {
            let mut st = inner.state();
            loop {
                if st.urgent || st.closing {
                    break;
                }
                let since = last.elapsed();
                if since >= FLUSH_EVERY {
                    break;
                }
                st = inner
                    .wake
                    .wait_timeout(st, FLUSH_EVERY - since)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            st.urgent = false;
            mem::swap(&mut st.pending, &mut batch);
            if !batch.ends.is_empty() {
                let room = mem::replace(&mut st.room, Arc::new(Event::new()));
                let _ = room.send(());
            }
            st.closing
        };
        last = Instant::now();
        if !batch.ends.is_empty() {
            write_batch(&inner.sink, &batch);
            batch.clear();
            if batch.text.capacity() > 2 * inner.cap.max(URGENT_BYTES) {
                batch = Pending::default();
            }
        }
        if closing && inner.state().pending.ends.is_empty() {
            return;
        }
    }
}

fn write_batch(sink: &LogSink, batch: &Pending) {
    if let Some(w) = sink.writer_ref() {
        let bytes = batch.joined();
        let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.write_all(&bytes);
        let _ = w.flush();
        return;
    }
    if sink.to_stderr() {
        // No logger installed: eventlet's stderr, one write per batch.
        let _ = io::stderr().write_all(&batch.joined());
        return;
    }
    emit_batch(|| {
        // `logging::init`'s logger takes the lines without a record each.
        #[cfg(feature = "env-logger")]
        if crate::logging::emit_lines(batch.lines()) {
            return;
        }
        for (level, line) in batch.lines() {
            sink.line(level, line);
        }
    });
}

/// Runs `emit` as a batch: what it logs through the `log` crate from this
/// thread is held by every [`BatchWriter`] and written at the end.
///
/// The batch's lines are stamped with one time, read here: they are
/// formatted and written together, within the same instant as far as a
/// log's seconds go (one clock read per batch rather than per line).
pub(crate) fn emit_batch(emit: impl FnOnce()) {
    IN_BATCH.with(|b| b.set(Some(SystemTime::now())));
    emit();
    IN_BATCH.with(|b| b.set(None));
    BatchWriter::flush_all();
}

/// Whether this thread is emitting a batch (see [`emit_batch`]).
// Never inlined: green threads migrate between worker threads at yields,
// and a caller that yields must not reuse a thread-local's address that
// the compiler computed before the yield (may's TLS hazard). No yield
// happens in here.
#[inline(never)]
pub(crate) fn in_batch() -> bool {
    batch_time().is_some()
}

/// The time of the batch this thread is emitting, if it is emitting one
/// (see [`emit_batch`]; never inlined, as [`in_batch`]).
#[inline(never)]
pub(crate) fn batch_time() -> Option<SystemTime> {
    IN_BATCH.with(Cell::get)
}

thread_local! {
    /// Set while this thread (a flusher) emits a batch through the `log`
    /// crate: the batch's time.
    static IN_BATCH: Cell<Option<SystemTime>> = const { Cell::new(None) };
}

type Registry = Mutex<Vec<Weak<Mutex<Held>>>>;

fn registry() -> &'static Registry {
    static REGISTRY: Registry = Mutex::new(Vec::new());
    &REGISTRY
}

struct Held {
    out: Box<dyn Write + Send>,
    buf: Vec<u8>,
}

impl Held {
    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let r = self.out.write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        self.out.flush()
    }
}

/// A writer for a `log` backend's output that turns the per-line writes of
/// an access-log batch into one write.
///
/// While a server's log flusher emits a batch through the `log` crate, what
/// the logger writes from that thread is held; at the end of the batch it is
/// written with one `write_all`. Writes from any other thread (everything
/// else the program logs) flush what is held, then go straight through, so
/// their order and timing are unchanged. The bytes are the same either way.
///
/// With `env_logger` ([`logging::init`](crate::logging) sets this up, with a
/// cheaper formatter for the batched lines):
///
/// ```text
/// env_logger::Builder::from_default_env()
///     .target(env_logger::Target::Pipe(Box::new(BatchWriter::new(std::io::stderr()))))
///     .init();
/// ```
///
/// Outside a batch it is a plain pass-through writer:
///
/// ```
/// use std::io::Write;
/// let mut w = eventlet_wsgi::BatchWriter::new(Vec::new());
/// w.write_all(b"written at once\n").unwrap();
/// w.flush().unwrap();
/// ```
pub struct BatchWriter {
    held: Arc<Mutex<Held>>,
}

impl BatchWriter {
    /// Wrap `out` (e.g. `std::io::stderr()` or a file).
    pub fn new(out: impl Write + Send + 'static) -> BatchWriter {
        let held = Arc::new(Mutex::new(Held {
            out: Box::new(out),
            buf: Vec::new(),
        }));
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        reg.retain(|w| w.strong_count() > 0);
        reg.push(Arc::downgrade(&held));
        BatchWriter { held }
    }

    /// A handle to append to what this writer holds during a batch.
    #[cfg(feature = "env-logger")]
    pub(crate) fn handle(&self) -> BatchHandle {
        BatchHandle {
            held: self.held.clone(),
        }
    }

    fn held(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write what every `BatchWriter` holds (the end of a batch).
    fn flush_all() {
        let live: Vec<Arc<Mutex<Held>>> = registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for h in live {
            let _ = h.lock().unwrap_or_else(|p| p.into_inner()).flush_buf();
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut h = self.held();
        if in_batch() {
            h.buf.extend_from_slice(data);
            return Ok(data.len());
        }
        h.flush_buf()?;
        h.out.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        if in_batch() {
            return Ok(());
        }
        self.held().flush_buf()
    }
}

/// Appends to a [`BatchWriter`]'s held bytes directly (a logger's fast path;
/// only during a batch, which writes them at its end).
#[cfg(feature = "env-logger")]
pub(crate) struct BatchHandle {
    held: Arc<Mutex<Held>>,
}

#[cfg(feature = "env-logger")]
impl BatchHandle {
    /// Runs `f` on the held bytes, under the writer's lock.
    pub(crate) fn append<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        f(&mut self.held.lock().unwrap_or_else(|p| p.into_inner()).buf)
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        let _ = self.held().flush_buf();
    }
}

impl std::fmt::Debug for BatchWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchWriter")
    }
}
