//! SIGINT and SIGTERM during a batch: the first stops it cleanly (no new
//! call starts, the calls in flight finish, every thread waiting for work
//! wakes), a second exits at once with 128 + the signal.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Handle;

use crate::exit::Failure;

/// The signals handled, registered before the batch starts.
pub struct Signals {
    iterator: signal_hook::iterator::Signals,
    /// The signal that arrived first, 0 while none did: written by the
    /// signal handler itself, so it is known even if the listening thread
    /// never ran (a second signal exits before it is written again).
    caught: Arc<AtomicUsize>,
}

/// The thread that wakes the batch on a signal.
pub struct Listener {
    handle: Handle,
    thread: JoinHandle<()>,
    caught: Arc<AtomicUsize>,
}

/// A signal that stopped the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caught(u8);

impl Caught {
    /// 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        128 + self.0
    }

    /// What it did to the batch, for the last line of the run.
    pub fn verb(self) -> &'static str {
        if i32::from(self.0) == SIGTERM {
            "terminated"
        } else {
            "interrupted"
        }
    }
}

impl Signals {
    /// Sets `stop` in the handler of each signal, and exits at once when a
    /// signal finds it set already.
    pub fn register(stop: &Arc<AtomicBool>) -> Result<Signals, Failure> {
        let caught = Arc::new(AtomicUsize::new(0));
        let failed = |e: std::io::Error| Failure::usage(format!("cannot handle signals: {e}"));
        for signal in [SIGINT, SIGTERM] {
            // ok because both signals are below 128
            let code = 128 + signal;
            // Registered first, so it runs before `stop` is set: it exits
            // only on a signal after the first.
            signal_hook::flag::register_conditional_shutdown(signal, code, stop.clone())
                .map_err(failed)?;
            signal_hook::flag::register(signal, stop.clone()).map_err(failed)?;
            // ok because signal numbers are small and positive
            signal_hook::flag::register_usize(signal, caught.clone(), signal as usize)
                .map_err(failed)?;
        }
        let iterator = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(failed)?;
        Ok(Signals { iterator, caught })
    }

    /// Runs `stop` on a thread of its own when the first signal arrives.
    pub fn listen(mut self, stop: impl FnOnce() + Send + 'static) -> Listener {
        let handle = self.iterator.handle();
        let thread = std::thread::spawn(move || {
            // Ends without a signal when the handle is closed.
            if self.iterator.forever().next().is_some() {
                stop();
            }
        });
        Listener {
            handle,
            thread,
            caught: self.caught,
        }
    }
}

impl Listener {
    /// Stops listening; the signal that stopped the batch, if one did.
    pub fn finish(self) -> Option<Caught> {
        self.handle.close();
        // ok because the thread only runs `stop`, which sets flags
        let _ = self.thread.join();
        match self.caught.load(Ordering::SeqCst) {
            0 => None,
            // ok because only SIGINT and SIGTERM are stored
            signal => Some(Caught(signal as u8)),
        }
    }
}
