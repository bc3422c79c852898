//! What replicas sharing a [`Store`] tell each other at once:
//! [`Store::watch`], its [`StoreEvent`]s and the [`Watch`] that keeps a
//! listener called, and [`Watchers`], the in-process listeners of the
//! stores of one process.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use super::lock_value;
#[cfg(doc)]
use super::Store;

/// What a [`Store::watch`] listener is told.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreEvent<'a> {
    /// Listening (again, after [`Lost`](StoreEvent::Lost)): from now on no
    /// event is missed.
    Listening,
    /// An authorizer revoked its authorization and a replica removed it
    /// (see [`Store::remove_authorizer`]).
    AuthorizerRemoved {
        /// The platform.
        component_appid: &'a str,
        /// The authorizer that left.
        authorizer_appid: &'a str,
    },
    /// Listening failed; events are missed until listening again (the
    /// store tries again after a bounded backoff).
    Lost(&'a crate::error::Error),
}

/// A [`Store::watch`] listener.
pub type StoreListener = Arc<dyn Fn(&StoreEvent<'_>) + Send + Sync>;

/// A listener's registration with [`Store::watch`]: the listener is
/// called until this is dropped.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use weixin::store::{MemoryStore, Store, StoreEvent};
///
/// let store = MemoryStore::new();
/// let removed = Arc::new(AtomicUsize::new(0));
/// let seen = removed.clone();
/// let watch = store.watch(Arc::new(move |event: &StoreEvent<'_>| {
///     if let StoreEvent::AuthorizerRemoved { authorizer_appid: "wxa", .. } = event {
///         seen.fetch_add(1, Ordering::SeqCst);
///     }
/// }))?;
/// store.remove_authorizer("wxc", "wxa")?;
/// assert_eq!(removed.load(Ordering::SeqCst), 1);
/// drop(watch);
/// store.remove_authorizer("wxc", "wxa")?;
/// assert_eq!(removed.load(Ordering::SeqCst), 1, "no longer called");
/// # Ok::<(), weixin::Error>(())
/// ```
#[must_use = "the listener is called only until the watch is dropped"]
pub struct Watch {
    /// Behind a lock only so that a watch can be shared (`Sync`).
    stop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Watch {
    /// A watch that runs `stop` once when dropped: for your own [`Store`]
    /// implementations.
    pub fn new(stop: impl FnOnce() + Send + 'static) -> Watch {
        Watch {
            stop: Mutex::new(Some(Box::new(stop))),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.get_mut().take() {
            stop();
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").finish_non_exhaustive()
    }
}

/// The listeners of a store in this process: same-process replicas that
/// share one store object are told of a removal directly.
#[derive(Default)]
pub(crate) struct Watchers {
    listeners: Arc<Mutex<Vec<(u64, StoreListener)>>>,
}

impl Watchers {
    pub fn add(&self, listener: StoreListener) -> Watch {
        let id = lock_value();
        self.listeners.lock().push((id, listener));
        let listeners = Arc::downgrade(&self.listeners);
        Watch::new(move || {
            if let Some(listeners) = listeners.upgrade() {
                listeners.lock().retain(|(i, _)| *i != id);
            }
        })
    }

    /// Tells every listener, with no lock held while they run.
    pub fn tell(&self, event: &StoreEvent<'_>) {
        let listeners: Vec<StoreListener> = self
            .listeners
            .lock()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        for listener in listeners {
            listener(event);
        }
    }
}
