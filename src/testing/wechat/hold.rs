//! `Hold`: a gate that keeps a fake's answers waiting until a test lets
//! them go.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A gate requests wait at until it opens.
#[derive(Default)]
pub(super) struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    pub(super) fn wait(&self) {
        let mut open = self.open.lock();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !*open {
            if self.opened.wait_until(&mut open, deadline).timed_out() {
                return;
            }
        }
    }
}

/// Keeps an authorizer's token answers waiting; see
/// [`FakeWechat::hold_authorizer`](super::FakeWechat::hold_authorizer). Releases them when dropped.
pub struct Hold {
    pub(super) gate: Arc<Gate>,
}

impl Hold {
    /// Lets the held answers go.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        *self.gate.open.lock() = true;
        self.gate.opened.notify_all();
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("open", &*self.gate.open.lock())
            .finish()
    }
}
