use std::io;
use std::sync::atomic::Ordering;
#[cfg(feature = "io_timeout")]
use std::time::Duration;

use super::super::{co_io_result, from_nix_error, raw_read, raw_recv, IoData};
use crate::cancel::Cancel;
#[cfg(feature = "io_cancel")]
use crate::coroutine_impl::co_get_handle;
use crate::coroutine_impl::{current_cancel_opt, CoroutineImpl, EventSource};
use crate::io::AsIoData;
use crate::yield_now::yield_with_io_cancel;

pub struct SocketRead<'a> {
    io_data: &'a IoData,
    buf: &'a mut [u8],
    #[cfg(feature = "io_timeout")]
    timeout: Option<Duration>,
    pub(crate) is_coroutine: bool,
    /// eventlet-rs patch: the coroutine's cancel data (`None` in a thread),
    /// looked up once for `is_coroutine` and every wait of this read.
    pub(crate) cancel: Option<&'static Cancel>,
    /// eventlet-rs patch: the event bits cleared by `done` (see `CoIo::read`).
    pub(crate) seen: usize,
    /// eventlet-rs patch: the descriptor is a stream socket (`CoIo`'s
    /// read-drain hint is on): `done` reads with `raw_recv`.
    pub(crate) socket: bool,
}

impl<'a> SocketRead<'a> {
    pub fn new<T: AsIoData>(
        s: &'a T,
        buf: &'a mut [u8],
        #[cfg(feature = "io_timeout")] timeout: Option<Duration>,
    ) -> Self {
        let cancel = current_cancel_opt();
        SocketRead {
            io_data: s.as_io_data(),
            buf,
            #[cfg(feature = "io_timeout")]
            timeout,
            is_coroutine: cancel.is_some(),
            cancel,
            seen: 0,
            socket: false,
        }
    }

    // eventlet-rs patch: inlined into `CoIo::read` (one call frame less
    // per wait).
    #[inline(always)]
    pub fn done(&mut self) -> io::Result<usize> {
        let fd = self.io_data.fd;
        loop {
            co_io_result(self.is_coroutine)?;

            // clear the io_flag
            self.seen |= self.io_data.io_flag.swap(0, Ordering::Relaxed);

            // finish the read operation (eventlet-rs patch: `raw_read`,
            // without libc's cancellation-point bookkeeping)
            let r = if self.socket {
                raw_recv(fd, self.buf)
            } else {
                raw_read(fd, self.buf)
            };
            match r {
                Ok(n) => return Ok(n),
                Err(e) => {
                    if e == nix::errno::Errno::EAGAIN {
                        // do nothing
                    } else {
                        return Err(from_nix_error(e));
                    }
                }
            }

            if self.io_data.io_flag.load(Ordering::Relaxed) != 0 {
                continue;
            }

            // the result is still WouldBlock, need to try again
            yield_with_io_cancel(self, self.cancel);
        }
    }
}

impl EventSource for SocketRead<'_> {
    fn subscribe(&mut self, co: CoroutineImpl) {
        #[cfg(feature = "io_cancel")]
        let handle = co_get_handle(&co);
        // eventlet-rs patch: `handle` keeps the Cancel alive even if the
        // coroutine is resumed elsewhere and ends before this returns.
        #[cfg(feature = "io_cancel")]
        let cancel = handle.get_cancel();
        // eventlet-rs patch: once `co` is stored below, another thread may resume
        // the coroutine, which may close the socket and free its IoData (or
        // leave the frame holding this event source) before this returns.
        // Everything after the store goes through this owned reference.
        let _g: std::sync::Arc<crate::io::sys::EventData> = self.io_data.0.clone();
        let io_data: &crate::io::sys::EventData = &_g;

        #[cfg(feature = "io_timeout")]
        if let Some(dur) = self.timeout {
            crate::scheduler::get_scheduler()
                .get_selector()
                .add_io_timer(self.io_data, dur);
        }

        // after register the coroutine, it's possible that other thread run it immediately
        // and cause the process after it invalid, this is kind of user and kernel competition
        // so we need to delay the drop of the EventSource, that's why _g is here
        io_data.co.store(co);
        // till here the io may be done in other thread

        // there is event, re-run the coroutine
        if io_data.io_flag.load(Ordering::Acquire) != 0 {
            #[allow(clippy::needless_return)]
            return io_data.fast_schedule();
        }

        #[cfg(feature = "io_cancel")]
        {
            // register the cancel io data (eventlet-rs patch: `_g` itself,
            // not a second reference; nothing below uses `io_data`)
            cancel.set_io(_g);
            // re-check the cancel status
            if cancel.is_canceled() {
                unsafe { cancel.cancel() };
            }
        }
    }
}
