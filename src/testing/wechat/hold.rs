//! `Hold`: a gate that keeps a fake's answers waiting until a test lets
//! them go.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A gate requests wait at until it opens.
#[derive(Default)]
pub(super) struct Gate {
    state: Mutex<GateState>,
    /// Told when the gate opens and when a request arrives at it.
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    /// Requests waiting at the gate now.
    waiting: usize,
}

impl Gate {
    pub(super) fn wait(&self) {
        let mut state = self.state.lock();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        state.waiting += 1;
        self.changed.notify_all();
        while !state.open {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.waiting -= 1;
    }
}

/// Keeps answers waiting; see [`FakeWechat::hold`](super::FakeWechat::hold)
/// and [`FakeWechat::hold_authorizer`](super::FakeWechat::hold_authorizer).
/// Releases them when dropped.
pub struct Hold {
    pub(super) gate: Arc<Gate>,
}

impl Hold {
    /// Lets the held answers go.
    pub fn release(self) {}

    /// How many requests wait at this hold now.
    pub fn held(&self) -> usize {
        self.gate.state.lock().waiting
    }

    /// Waits until at least `n` requests wait at this hold, for at most
    /// `timeout`; returns whether they do. Lets a test know a call is in
    /// flight without sleeping.
    pub fn wait_held(&self, n: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.gate.state.lock();
        while state.waiting < n {
            if self
                .gate
                .changed
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                break;
            }
        }
        state.waiting >= n
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.gate.state.lock().open = true;
        self.gate.changed.notify_all();
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.gate.state.lock();
        f.debug_struct("Hold")
            .field("open", &state.open)
            .field("held", &state.waiting)
            .finish()
    }
}
