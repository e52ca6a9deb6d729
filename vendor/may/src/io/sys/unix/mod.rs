#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "epoll.rs"]
mod select;

#[cfg(any(
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "ios",
    target_os = "macos",
    target_os = "netbsd",
    target_os = "openbsd"
))]
#[path = "kqueue.rs"]
mod select;

#[cfg(feature = "io_cancel")]
pub mod cancel;
pub mod co_io;
pub mod net;
pub mod wait_io;

#[cfg(feature = "io_timeout")]
use std::cell::RefCell;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::{fmt, io};

use crate::coroutine_impl::{run_coroutine, CoroutineImpl};
use crate::io::thread::ASSOCIATED_IO_RET;
use crate::likely::likely;
use crate::scheduler::get_scheduler;
use crate::sync::AtomicOption;
#[cfg(feature = "io_timeout")]
use crate::timeout_list::{TimeOutList, TimeoutHandle};
use crate::yield_now::get_co_para;
#[cfg(feature = "io_timeout")]
use crate::yield_now::set_co_para;

pub(crate) use self::select::{Selector, SysEvent};

#[inline]
pub fn add_socket<T: AsRawFd + ?Sized>(t: &T) -> io::Result<IoData> {
    get_scheduler().get_selector().add_fd(IoData::new(t))
}

#[inline]
pub fn mod_socket(io: &IoData, is_read: bool) -> io::Result<()> {
    get_scheduler().get_selector().mod_fd(io, is_read)
}

#[inline]
fn del_socket(io: &IoData) {
    // transfer the io to the selector
    get_scheduler().get_selector().del_fd(io);
}

// deal with the io result
#[inline]
fn co_io_result(is_coroutine: bool) -> io::Result<()> {
    if likely(is_coroutine) {
        match get_co_para() {
            None => Ok(()),
            Some(err) => Err(err),
        }
    } else {
        let err = ASSOCIATED_IO_RET.with(|io_ret| io_ret.take());
        match err {
            None => Ok(()),
            Some(err) => Err(*err),
        }
    }
}

#[inline]
fn from_nix_error(err: nix::Error) -> ::std::io::Error {
    std::io::Error::from_raw_os_error(err as i32)
}

/// eventlet-rs patch: `read(2)` without libc's wrapper. glibc's `read` is a
/// thread-cancellation point: in a multi-threaded process it brackets the
/// system call with `__pthread_enable_asynccancel` /
/// `__pthread_disable_asynccancel` (~30 instructions per call). Nothing in
/// a Rust program uses `pthread_cancel` (it would unwind through Rust frames
/// without running their destructors), so the cancellation point is dead
/// weight. On x86-64 Linux the system call is made inline (the kernel's ABI:
/// number and result in rax, arguments in rdi/rsi/rdx; rcx and r11
/// clobbered; -4095..-1 is -errno); elsewhere libc's `read` stays.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
))]
#[inline]
pub(crate) fn raw_read(fd: RawFd, buf: &mut [u8]) -> nix::Result<usize> {
    let r: isize;
    // SAFETY: read(2) writes at most `buf.len()` bytes into `buf`, which
    // is valid for writes for the whole call (the asm may touch memory:
    // no `nomem`); it touches no stack (`nostack`) and restores the flags
    // from r11 on return. A bad `fd` is an error (EBADF), not undefined
    // behaviour.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_read as isize => r,
            in("rdi") fd as isize,
            in("rsi") buf.as_mut_ptr(),
            in("rdx") buf.len(),
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    if r < 0 {
        Err(nix::errno::Errno::from_raw(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// eventlet-rs patch: [`raw_read`] for a socket, as `recvfrom(2)` without
/// flags or address (what `recv(2)` is): the same bytes and errors as
/// `read(2)` on a socket, without the VFS layer `read` goes through first
/// (`fdget_pos`, `vfs_read`, `sock_read_iter`: ~90 ns per call measured
/// with perf on a keep-alive server). Only for a descriptor known to be a
/// socket (`ENOTSOCK` otherwise).
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
))]
#[inline]
pub(crate) fn raw_recv(fd: RawFd, buf: &mut [u8]) -> nix::Result<usize> {
    let r: isize;
    // SAFETY: as in `raw_read`: recvfrom(2) writes at most `buf.len()`
    // bytes into `buf`; null address pointers mean no address is written.
    // r10, r8 and r9 carry the flags (0) and the two null pointers.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_recvfrom as isize => r,
            in("rdi") fd as isize,
            in("rsi") buf.as_mut_ptr(),
            in("rdx") buf.len(),
            in("r10") 0usize,
            in("r8") 0usize,
            in("r9") 0usize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    if r < 0 {
        Err(nix::errno::Errno::from_raw(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// `raw_recv` where the inline system call is not used: `read(2)`.
#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
)))]
#[inline]
pub(crate) fn raw_recv(fd: RawFd, buf: &mut [u8]) -> nix::Result<usize> {
    raw_read(fd, buf)
}

/// `read(2)` through libc where the inline system call is not used.
#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
)))]
#[inline]
pub(crate) fn raw_read(fd: RawFd, buf: &mut [u8]) -> nix::Result<usize> {
    // SAFETY: `fd` is the caller's open descriptor for the whole call.
    nix::unistd::read(unsafe { BorrowedFd::borrow_raw(fd) }, buf)
}

#[cfg(feature = "io_timeout")]
fn timeout_handler(data: TimerData) {
    if data.event_data.is_null() {
        return;
    }

    let event_data = unsafe { &mut *data.event_data };
    // remove the event timer
    event_data.timer.borrow_mut().take();

    // get and check the coroutine
    let mut co = match event_data.co.take() {
        Some(co) => co,
        None => return,
    };

    set_co_para(&mut co, io::Error::new(io::ErrorKind::TimedOut, "timeout"));

    // resume the coroutine with timeout error
    run_coroutine(co);
}

// the timeout data
#[cfg(feature = "io_timeout")]
pub struct TimerData {
    event_data: *mut EventData,
}

#[cfg(feature = "io_timeout")]
pub type TimerList = TimeOutList<TimerData>;
#[cfg(feature = "io_timeout")]
pub type TimerHandle = TimeoutHandle<TimerData>;

// event associated io data, must be construct in
// each file handle, the epoll event.data would point to it
pub struct EventData {
    pub fd: RawFd,
    pub io_flag: AtomicUsize,
    #[cfg(feature = "io_timeout")]
    pub timer: RefCell<Option<TimerHandle>>,
    pub co: AtomicOption<CoroutineImpl>,
}

unsafe impl Send for EventData {}
unsafe impl Sync for EventData {}

impl EventData {
    pub fn new(fd: RawFd) -> EventData {
        EventData {
            fd,
            io_flag: AtomicUsize::new(0),
            #[cfg(feature = "io_timeout")]
            timer: RefCell::new(None),
            co: AtomicOption::none(),
        }
    }

    #[cfg(feature = "io_timeout")]
    pub fn timer_data(&self) -> TimerData {
        TimerData {
            event_data: self as *const _ as *mut _,
        }
    }

    #[inline]
    pub fn schedule(&self) {
        let co = match self.co.take() {
            Some(co) => co,
            None => return, // it's already take by selector
        };

        // it's safe to remove the timer since we are running the timer_list in the same thread
        #[cfg(feature = "io_timeout")]
        self.timer.borrow_mut().take().map(|h| {
            unsafe {
                // tell the timer function not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        // schedule the coroutine
        get_scheduler().schedule(co);
    }

    /// used by local re-schedule that in `subscribe`
    #[inline]
    pub fn fast_schedule(&self) {
        let co = match self.co.take() {
            Some(co) => co,
            None => return, // it's already take by selector
        };

        // it's safe to remove the timer since we are running the timer_list in the same thread
        #[cfg(feature = "io_timeout")]
        self.timer.borrow_mut().take().map(|h| {
            unsafe {
                // tell the timer function not to cancel the io
                // it's not always true that you can really remove the timer entry
                h.with_mut_data(|value| value.data.event_data = std::ptr::null_mut());
            }
            h.remove()
        });

        // run the coroutine
        run_coroutine(co);
    }
}

// each file associated data
pub struct IoData(Arc<EventData>);

impl IoData {
    pub fn new<T: AsRawFd + ?Sized>(t: &T) -> Self {
        let fd = t.as_raw_fd();
        let event_data = Arc::new(EventData::new(fd));
        IoData(event_data)
    }

    // clear the io flag
    #[inline]
    pub fn reset(&self) -> usize {
        self.io_flag.swap(0, Ordering::AcqRel)
    }
}

impl Deref for IoData {
    type Target = Arc<EventData>;

    fn deref(&self) -> &Arc<EventData> {
        &self.0
    }
}

impl fmt::Debug for IoData {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "IoData = {{ ... }}")
    }
}

impl Drop for IoData {
    fn drop(&mut self) {
        del_socket(self);
    }
}

impl AsFd for IoData {
    fn as_fd(&self) -> BorrowedFd<'_> {
        unsafe { BorrowedFd::borrow_raw(self.0.fd) }
    }
}

unsafe impl Send for IoData {}
