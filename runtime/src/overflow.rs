//! A green thread that overflows its stack aborts the process at once, with a
//! message that says which green thread, the stack size and how to raise it.
//!
//! `generator` (under `may`) catches the guard-page fault but then leaves the
//! green thread frozen in the middle of whatever it was doing, without running
//! a single destructor: its waiters, its pool slot and its socket hang for
//! ever, and so does anything it held (a `Mutex` guard, malloc's arena lock, a
//! half-updated shared structure). Unwinding from the fault is not sound either
//! (the faulting instruction may sit in code that the compiler assumed cannot
//! unwind). So, like Rust for OS threads, we abort; see the `config` docs.
//!
//! Our handler is installed on top of generator's and handles only faults next
//! to the stack pointer of a running green thread; everything else goes to the
//! previous handler (generator's, then std's, then the default action).

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// The configured stack size in bytes, for the message.
static STACK_BYTES: AtomicUsize = AtomicUsize::new(0);

struct Previous(MaybeUninit<[libc::sigaction; 2]>);
// Written once (inside `INSTALL`) before the handler can run, then only read.
static mut PREVIOUS: Previous = Previous(MaybeUninit::uninit());
static INSTALL: Once = Once::new();

/// How far from the stack pointer a fault still counts as a stack overflow:
/// pushes and calls fault just below it, probes and prologue stores at most a
/// page above it. A green thread's stack is mapped everywhere else near its
/// stack pointer, so such a fault means it reached the guard page.
const NEAR_SP: usize = 2 * 4096;

/// Install the handler; `stack_bytes` is what the message reports. Must run
/// after `generator` installed its own (the first coroutine does that).
pub(crate) fn install(stack_bytes: usize) {
    STACK_BYTES.store(stack_bytes, Ordering::Relaxed);
    INSTALL.call_once(|| {
        // SAFETY: zeroed `sigaction`s are valid values; `sigaction` is given
        // valid pointers. PREVIOUS is written here, before our handler is
        // installed, and only read afterwards.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let prev = &mut *std::ptr::addr_of_mut!(PREVIOUS);
            let mut old: [libc::sigaction; 2] = std::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, &action, &mut old[0]);
            libc::sigaction(libc::SIGBUS, &action, &mut old[1]);
            prev.0.write(old);
        }
    });
}

/// The interrupted stack pointer. Safety: `ctx` is the `ucontext_t` the
/// kernel passed to an `SA_SIGINFO` handler.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn stack_pointer(ctx: *mut libc::c_void) -> Option<usize> {
    let uc = &*(ctx as *const libc::ucontext_t);
    Some(uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize)
}

/// As above, for aarch64.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn stack_pointer(ctx: *mut libc::c_void) -> Option<usize> {
    let uc = &*(ctx as *const libc::ucontext_t);
    Some(uc.uc_mcontext.sp as usize)
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
unsafe fn stack_pointer(_ctx: *mut libc::c_void) -> Option<usize> {
    None
}

/// A fixed buffer for building the message without allocating (we are in a
/// signal handler, possibly interrupting malloc).
struct Msg {
    buf: [u8; 512],
    len: usize,
}

impl std::fmt::Write for Msg {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

extern "C" fn handler(signum: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo and ucontext to an SA_SIGINFO
    // handler; everything below is async-signal-safe (thread-local reads, a
    // stack buffer, write(2), abort(2)) except reading the green thread's
    // name, which only clones and drops an `Arc` the green thread keeps alive.
    unsafe {
        let addr = (*info).si_addr() as usize;
        let overflow = match stack_pointer(ctx) {
            Some(sp) => {
                !on_signal_stack(sp)
                    && may::coroutine::is_coroutine()
                    && addr.wrapping_add(NEAR_SP) >= sp
                    && addr <= sp.wrapping_add(NEAR_SP)
            }
            None => false,
        };
        if !overflow {
            chain(signum, info, ctx);
            return;
        }
        let mut msg = Msg {
            buf: [0; 512],
            len: 0,
        };
        let co = may::coroutine::current();
        let kib = STACK_BYTES.load(Ordering::Relaxed) / 1024;
        let _ = std::fmt::write(
            &mut msg,
            format_args!(
                "\nfatal runtime error: green thread '{}' (id {:#x}) has overflowed its stack \
                 (stack size {kib} KiB); aborting\n\
                 help: raise the stack size with the EVENTLET_STACK_SIZE environment variable \
                 (e.g. EVENTLET_STACK_SIZE={}K) or \
                 eventlet::configure(eventlet::Config::default().stack_size(..)) first thing in main\n",
                co.name().unwrap_or("<unnamed>"),
                crate::debug::current_id(),
                (kib * 4).max(256),
            ),
        );
        drop(co);
        libc::write(libc::STDERR_FILENO, msg.buf.as_ptr().cast(), msg.len);
        libc::abort();
    }
}

/// True if `sp` lies on this thread's alternate signal stack (or its guard
/// page): a fault there is some signal handler's overflow, not a green
/// thread's.
unsafe fn on_signal_stack(sp: usize) -> bool {
    let mut ss: libc::stack_t = std::mem::zeroed();
    if libc::sigaltstack(std::ptr::null(), &mut ss) != 0 || ss.ss_flags & libc::SS_DISABLE != 0 {
        return false;
    }
    let lo = (ss.ss_sp as usize).saturating_sub(NEAR_SP);
    sp >= lo && sp < ss.ss_sp as usize + ss.ss_size
}

/// Hand a fault that is not ours to the handler that was there before.
/// Safety: called from our handler with the kernel's arguments, after
/// `install` filled `PREVIOUS` (it runs before the handler is installed).
unsafe fn chain(signum: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let prev = (*std::ptr::addr_of!(PREVIOUS)).0.assume_init_ref();
    let old = if signum == libc::SIGSEGV {
        &prev[0]
    } else {
        &prev[1]
    };
    if old.sa_sigaction == libc::SIG_DFL || old.sa_sigaction == libc::SIG_IGN {
        // Restore it and return: the faulting instruction runs again and gets
        // the default action (a core dump), as without us.
        libc::sigaction(signum, old, std::ptr::null_mut());
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            std::mem::transmute(old.sa_sigaction);
        f(signum, info, ctx);
    } else {
        let f: extern "C" fn(libc::c_int) = std::mem::transmute(old.sa_sigaction);
        f(signum);
    }
}
