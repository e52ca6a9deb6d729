//! Green subprocesses and pipes (eventlet's `green.subprocess` and
//! `greenio.GreenPipe`).
//!
//! [`spawn`] starts a child from a std [`Command`]; its piped stdin, stdout
//! and stderr come back as [`GreenPipe`]s, non-blocking descriptors registered
//! with the scheduler, and [`Child::wait`] waits for the exit without holding
//! a worker (a pidfd polled by the scheduler; on kernels without pidfds, a
//! check every few milliseconds). Every read, write and wait honours the
//! caller's [`Timeout`].
//!
//! ```
//! use std::io::{BufRead, Write};
//! use std::process::{Command, Stdio};
//! let mut child = eventlet::green::subprocess::spawn(
//!     Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()),
//! ).unwrap();
//! let mut stdin = child.stdin.take().unwrap();
//! stdin.write_all(b"one\ntwo\n").unwrap();
//! drop(stdin); // EOF for cat
//! let lines: Vec<String> = child.stdout.take().unwrap().lines().map(Result::unwrap).collect();
//! assert_eq!(lines, ["one", "two"]);
//! assert!(child.wait().unwrap().success());
//! ```

use crate::net::{is_timer_expiry, op_error, op_timeout, validate_timeout};
use crate::timeout::{Deadline, Timeout};
use may::io::CoIo;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Command, ExitStatus, Output};
use std::time::Duration;

const BUF_SIZE: usize = 8192;

/// A pipe end (or any pollable descriptor: a tty, a FIFO, a socket) read and
/// written green-ly; eventlet's `GreenPipe`.
///
/// It buffers reads, so [`BufRead`]'s `read_line` and `lines` give eventlet's
/// `readline()` and line iteration. Writes are not buffered.
pub struct GreenPipe {
    /// `ManuallyDrop` so that `Drop` deregisters the fd before closing it.
    io: ManuallyDrop<CoIo<File>>,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    cur_read: Option<Duration>,
    cur_write: Option<Duration>,
}

impl fmt::Debug for GreenPipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenPipe")
            .field("fd", &self.as_raw_fd())
            .field("buffered", &(self.filled - self.pos))
            .finish()
    }
}

impl Drop for GreenPipe {
    fn drop(&mut self) {
        // SAFETY: `io` is taken exactly once, here, and never used afterwards.
        let io = unsafe { ManuallyDrop::take(&mut self.io) };
        drop(io.into_inner());
    }
}

impl GreenPipe {
    /// Take over `fd` (set non-blocking and registered with the scheduler).
    /// Regular files cannot be polled and are refused
    /// ([`PermissionDenied`](io::ErrorKind::PermissionDenied) from epoll).
    pub fn from_fd(fd: impl Into<OwnedFd>) -> io::Result<GreenPipe> {
        crate::config::ensure_started();
        let io = CoIo::new(File::from(fd.into())).map_err(io::Error::from)?;
        Ok(GreenPipe {
            io: ManuallyDrop::new(io),
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            pos: 0,
            filled: 0,
            read_timeout: None,
            write_timeout: None,
            cur_read: None,
            cur_write: None,
        })
    }

    /// eventlet's `os.pipe()` wrapped in `GreenPipe`s: `(reader, writer)`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut r, mut w) = eventlet::green::subprocess::GreenPipe::pipe().unwrap();
    /// let writer = eventlet::spawn(move || w.write_all(b"hi").unwrap());
    /// let mut buf = [0; 2];
    /// r.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"hi");
    /// writer.wait().unwrap();
    /// ```
    pub fn pipe() -> io::Result<(GreenPipe, GreenPipe)> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are open descriptors that we own.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((GreenPipe::from_fd(r)?, GreenPipe::from_fd(w)?))
    }

    /// Idle timeout of each read (`None`: for ever). `Some(ZERO)` is an error.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.read_timeout = validate_timeout(t)?;
        Ok(())
    }

    /// Idle timeout of each write.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.write_timeout = validate_timeout(t)?;
        Ok(())
    }

    /// Read everything until EOF (eventlet's `read()`).
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }

    /// One line with its `\n` (empty at EOF), eventlet's `readline()`.
    pub fn readline(&mut self) -> io::Result<String> {
        let mut line = String::new();
        self.read_line(&mut line)?;
        Ok(line)
    }

    fn raw_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let d = Deadline::for_op(None);
        let t = op_timeout(self.read_timeout, &d);
        if t != self.cur_read {
            let _ = self.io.set_read_timeout(t);
            self.cur_read = t;
        }
        self.io.read(buf).map_err(|e| op_error(e, &d))
    }
}

impl Read for GreenPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.filled {
            let n = (self.filled - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.raw_read(buf)
    }
}

impl BufRead for GreenPipe {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.filled {
            let mut buf = std::mem::take(&mut self.buf);
            let r = self.raw_read(&mut buf);
            self.buf = buf;
            self.filled = r?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

impl Write for GreenPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let d = Deadline::for_op(None);
        let t = op_timeout(self.write_timeout, &d);
        if t != self.cur_write {
            let _ = self.io.set_write_timeout(t);
            self.cur_write = t;
        }
        self.io.write(buf).map_err(|e| op_error(e, &d))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for GreenPipe {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

/// The child as may sees it: "reading" is reaping. `read` reaps with
/// `try_wait`; `WouldBlock` makes may wait until the pidfd polls readable (the
/// child exited), then its raw `read(2)` of the pidfd fails, which only means
/// "look again" (the pattern of the listener's accept).
struct PidFd {
    fd: OwnedFd,
    child: std::process::Child,
    status: Option<ExitStatus>,
    waited: bool,
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Read for PidFd {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        match self.child.try_wait()? {
            Some(st) => {
                self.status = Some(st);
                Ok(1)
            }
            None => {
                self.waited = true;
                // may only waits on a raw EAGAIN (any other error returns).
                Err(io::Error::from_raw_os_error(libc::EAGAIN))
            }
        }
    }
}

enum Proc {
    /// Waited for through a pidfd registered with the scheduler.
    Polled(ManuallyDrop<CoIo<PidFd>>),
    /// No pidfd (old kernel, or a sandbox without `pidfd_open`): checked
    /// with `try_wait` every few milliseconds.
    Checked(std::process::Child),
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the syscall succeeded: `fd` is a new descriptor that we own.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A running (or finished) child process; from [`spawn`]. eventlet's `Popen`.
///
/// Dropping it does not kill or wait for the child (like std); call
/// [`wait`](Self::wait) so that it is reaped.
pub struct Child {
    /// The child's stdin, if it was [`Stdio::piped`](std::process::Stdio::piped).
    /// Drop it (or `take()` it and drop) to send EOF.
    pub stdin: Option<GreenPipe>,
    /// The child's stdout, if piped.
    pub stdout: Option<GreenPipe>,
    /// The child's stderr, if piped.
    pub stderr: Option<GreenPipe>,
    proc: Proc,
    pid: u32,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("pid", &self.pid).finish()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Proc::Polled(io) = &mut self.proc {
            // SAFETY: taken exactly once, here; `proc` is not used afterwards.
            let io = unsafe { ManuallyDrop::take(io) };
            drop(io.into_inner());
        }
    }
}

/// eventlet's `subprocess.Popen(args, stdin=PIPE, ...)`: start `cmd`. Set its
/// pipes with `Command::stdin(Stdio::piped())` and friends; they come back as
/// [`GreenPipe`]s in the [`Child`]. Starting the child (`fork`/`exec`) is
/// quick and done in place.
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    crate::config::ensure_started();
    let mut child = cmd.spawn()?;
    let pipe = |fd: Option<OwnedFd>| fd.map(GreenPipe::from_fd).transpose();
    let stdin = pipe(child.stdin.take().map(OwnedFd::from))?;
    let stdout = pipe(child.stdout.take().map(OwnedFd::from))?;
    let stderr = pipe(child.stderr.take().map(OwnedFd::from))?;
    let pid = child.id();
    let proc = match pidfd_open(pid) {
        Some(fd) => {
            let pidfd = PidFd {
                fd,
                child,
                status: None,
                waited: false,
            };
            match CoIo::new(pidfd) {
                Ok(io) => Proc::Polled(ManuallyDrop::new(io)),
                Err(e) => Proc::Checked(e.into_data().child),
            }
        }
        None => Proc::Checked(child),
    };
    Ok(Child {
        stdin,
        stdout,
        stderr,
        proc,
        pid,
    })
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.pid
    }

    fn std_child(&mut self) -> &mut std::process::Child {
        match &mut self.proc {
            Proc::Polled(io) => &mut io.inner_mut().child,
            Proc::Checked(c) => c,
        }
    }

    /// Send `SIGKILL` (a no-op error once the child was reaped).
    pub fn kill(&mut self) -> io::Result<()> {
        self.std_child().kill()
    }

    /// Send `sig` to the child (eventlet's `send_signal`; `terminate()` is
    /// `libc::SIGTERM`).
    pub fn send_signal(&mut self, sig: i32) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.pid).map_err(io::Error::other)?;
        // SAFETY: kill(2) with the pid of our own unreaped child and a signal number.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The exit status if the child has exited (eventlet's `poll()`), without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.std_child().try_wait()
    }

    /// Wait for the child to exit, green-ly (eventlet's `wait()`). Closes
    /// stdin first, as std does, so a child reading it sees EOF. Fails with
    /// [`TimedOut`](io::ErrorKind::TimedOut) when a [`Timeout`]
    /// of the caller expires; the child keeps running and can be waited for again.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        match &mut self.proc {
            Proc::Polled(io) => wait_polled(io),
            Proc::Checked(c) => wait_checked(c),
        }
    }

    /// eventlet's `wait(timeout)`: `Ok(None)` when the child is still running
    /// after `dur` (eventlet raises `TimeoutExpired`).
    pub fn wait_timeout(&mut self, dur: Duration) -> io::Result<Option<ExitStatus>> {
        let t = Timeout::new(dur);
        match self.wait() {
            Err(e) if t.is_io(&e) => Ok(None),
            r => r.map(Some),
        }
    }

    /// eventlet's `communicate(input)`: write `input` to stdin (then close
    /// it), read stdout and stderr to their ends, and wait for the exit. The
    /// three pipes are served by separate green threads, so a child that fills
    /// one pipe while we write another cannot deadlock.
    pub fn communicate(mut self, input: &[u8]) -> io::Result<Output> {
        let writer = self.stdin.take().map(|mut pipe| {
            let input = input.to_vec();
            crate::spawn(move || match pipe.write_all(&input) {
                // A child that exits without reading all of its input.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r,
            })
        });
        let err_reader = self
            .stderr
            .take()
            .map(|mut pipe| crate::spawn(move || pipe.read_all()));
        let stdout = match self.stdout.take() {
            Some(mut pipe) => pipe.read_all()?,
            None => Vec::new(),
        };
        let stderr = match err_reader {
            Some(gt) => gt.join().map_err(io::Error::other)??,
            None => Vec::new(),
        };
        if let Some(gt) = writer {
            gt.join().map_err(io::Error::other)??;
        }
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

fn wait_polled(io: &mut CoIo<PidFd>) -> io::Result<ExitStatus> {
    let mut armed = None;
    loop {
        let d = Deadline::for_op(None);
        let t = op_timeout(None, &d);
        if t != armed {
            let _ = io.set_read_timeout(t);
            armed = t;
        }
        let pid = io.inner_mut();
        pid.waited = false;
        let r = io.read(&mut [0u8; 1]);
        let pid = io.inner_mut();
        if let Some(st) = pid.status {
            return Ok(st);
        }
        match r {
            Err(e) if !pid.waited && e.kind() != io::ErrorKind::Interrupted => return Err(e),
            Err(e) if is_timer_expiry(&e) => {
                // Only a Timeout arms the timer here; the error also makes
                // sure the worker's poller wakes up promptly.
                let e = op_error(e, &d);
                if crate::net::expired_timeout().is_some() {
                    return Err(e);
                }
            }
            // Woken by the exit (the pidfd's raw read fails) or nothing: look again.
            _ => {}
        }
    }
}

fn wait_checked(c: &mut std::process::Child) -> io::Result<ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(st) = c.try_wait()? {
            return Ok(st);
        }
        if let Some(t) = crate::net::expired_timeout() {
            return Err(t.into());
        }
        crate::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The fallback for kernels without pidfds: a child waited for by checks.
    fn checked(cmd: &mut Command) -> Child {
        let child = cmd.spawn().unwrap();
        Child {
            stdin: None,
            stdout: None,
            stderr: None,
            pid: child.id(),
            proc: Proc::Checked(child),
        }
    }

    #[test]
    fn checked_wait_sees_the_exit_and_honours_a_timeout() {
        let gt = crate::spawn(|| {
            let mut child = checked(Command::new("sh").args(["-c", "sleep 0.1; exit 4"]));
            let code = child.wait().unwrap().code();

            let mut sleeper = checked(Command::new("sleep").arg("30"));
            let t = Timeout::new(Duration::from_millis(50));
            let start = Instant::now();
            let err = sleeper.wait().unwrap_err();
            let cut = (t.is_io(&err), start.elapsed());
            drop(t);
            sleeper.kill().unwrap();
            let killed = sleeper.wait().unwrap();
            (code, cut, killed.success())
        });
        let (code, (mine, took), killed_ok) = gt.join().unwrap();
        assert_eq!(code, Some(4));
        assert!(mine, "the error must be the Timeout's");
        assert!(took < Duration::from_millis(500), "cut after {took:?}");
        assert!(!killed_ok);
    }
}
