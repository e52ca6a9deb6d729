//! SIGINT/SIGTERM → graceful stop (eventlet's KeyboardInterrupt/SystemExit);
//! a second signal exits at once.

use crate::server::{stop_weak, Shared};
use std::sync::{Mutex, Once, Weak};

static SERVERS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
static WATCHER: Once = Once::new();

/// Stop `server` when the process gets SIGINT or SIGTERM.
pub(crate) fn watch(server: Weak<Shared>) {
    SERVERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(server);
    WATCHER.call_once(|| {
        let mut signals = match signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ]) {
            Ok(s) => s,
            Err(e) => {
                log::error!(target: "eventlet_wsgi", "cannot watch signals: {e}");
                return;
            }
        };
        // A plain OS thread: it blocks in a signal pipe read, which a green
        // thread must never do.
        let _ = std::thread::Builder::new()
            .name("eventlet-wsgi-signals".into())
            .spawn(move || {
                let mut seen = 0;
                for sig in signals.forever() {
                    seen += 1;
                    if seen > 1 {
                        std::process::exit(128 + sig);
                    }
                    let servers =
                        std::mem::take(&mut *SERVERS.lock().unwrap_or_else(|p| p.into_inner()));
                    for s in &servers {
                        stop_weak(s);
                    }
                }
            });
    });
}
