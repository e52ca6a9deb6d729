//! Waking may's workers after a socket timeout.
//!
//! may resumes a green thread whose socket operation timed out from inside a
//! worker's IO-timer processing: after that worker has run its ready queue and
//! just before it waits in `epoll_wait` again, for as long as its next IO
//! timer allows. Anything the resumed green thread wakes there goes to that
//! worker's local queue and sits until the next IO event or timer (seen: a
//! freed `max_size` slot admitted the waiting client 30 s late).
//!
//! A nudge makes one descriptor registered with every worker's poller
//! readable, so each worker's next `epoll_wait` returns at once and runs its
//! queue. A hop through another thread (park, get unparked) cannot do this
//! reliably: when the unpark lands before the park, may resumes the green
//! thread inline, still inside the timer processing.
//!
//! may assigns a descriptor to worker `fd % workers`; an eventfd is kept for
//! each residue. Each write to an eventfd is a fresh edge for epoll even while
//! it stays readable, so the counters are never read.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// An eventfd as may wants it: `AsRawFd`, closed on drop.
struct NudgeFd(OwnedFd);

impl AsRawFd for NudgeFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// One registered eventfd per may worker. Lives for the whole process: the
/// pollers hold pointers to the registrations.
pub(crate) struct Nudger {
    fds: Vec<may::io::CoIo<NudgeFd>>,
}

static NUDGER: OnceLock<Option<Nudger>> = OnceLock::new();

/// Make every may worker leave its `epoll_wait` once. Call after seeing one of
/// may's IO timer expiries, before anything that may wake another green
/// thread; cheap (one `write` per worker) and harmless when not needed.
pub(crate) fn nudge_workers() {
    let Some(nudger) = init() else { return };
    let one = 1u64.to_ne_bytes();
    for io in &nudger.fds {
        // SAFETY: the descriptor is open for the life of the process and the
        // buffer is 8 valid bytes, as eventfd requires. The only failure
        // (EAGAIN at a counter of 2^64 - 2) cannot be reached by +1 steps.
        unsafe { libc::write(io.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }
}

/// Open and register the descriptors (once; the workers count must be final).
pub(crate) fn init() -> Option<&'static Nudger> {
    NUDGER
        .get_or_init(|| match Nudger::new() {
            Ok(n) => Some(n),
            Err(e) => {
                log::error!("eventlet: cannot create the worker nudge descriptors: {e}");
                None
            }
        })
        .as_ref()
}

impl Nudger {
    fn new() -> io::Result<Nudger> {
        let workers = may::config().get_workers().max(1);
        let mut slots: Vec<Option<OwnedFd>> = (0..workers).map(|_| None).collect();
        // Held open until every residue is found so that each new eventfd
        // gets a new number.
        let mut spare = Vec::new();
        let mut missing = workers;
        for _ in 0..workers * 4 + 64 {
            if missing == 0 {
                break;
            }
            let fd = new_eventfd()?;
            let slot = &mut slots[fd.as_raw_fd() as usize % workers];
            if slot.is_none() {
                *slot = Some(fd);
                missing -= 1;
            } else {
                spare.push(fd);
            }
        }
        drop(spare);
        let fds = slots
            .into_iter()
            .map(|fd| {
                let fd = fd.ok_or_else(|| io::Error::other("no eventfd for some worker"))?;
                may::io::CoIo::new(NudgeFd(fd)).map_err(io::Error::from)
            })
            .collect::<io::Result<_>>()?;
        Ok(Nudger { fds })
    }
}

fn new_eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant flags.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
