//! The calls between the reader and the workers: a bounded queue that a
//! signal, a halt or the end of the input wakes every waiter of.
//!
//! Not a channel: the reader may be blocked on an open stdin (a terminal,
//! a pipe whose writer lives on) and hold a channel's sender forever, so
//! workers waiting on the channel would never see the batch stop. Like a
//! channel, it refuses items once every consumer is gone (the workers
//! panicked), so the reader never waits on a full queue no one empties.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub struct Queue<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    /// The input is read: once the queue is empty, the workers are done.
    closed: bool,
    /// The batch stops: nothing more is handed out or taken in.
    stopped: bool,
    /// The [`Consumer`]s alive: none, and nothing pushed would be taken.
    consumers: usize,
}

/// Takes the items of a [`Queue`]; the queue counts it until it is
/// dropped, by a panic's unwinding too.
pub struct Consumer<T> {
    queue: Arc<Queue<T>>,
}

impl<T> Queue<T> {
    /// A queue that holds at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                stopped: false,
                consumers: 0,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// One more taker of the items: take them all before the first push,
    /// which a queue with no consumer refuses.
    pub fn consumer(self: &Arc<Self>) -> Consumer<T> {
        self.lock().consumers += 1;
        Consumer {
            queue: self.clone(),
        }
    }

    /// Adds `item`, waiting while the queue is full; false (the item
    /// dropped) once the queue is stopped or has no consumer left.
    pub fn push(&self, item: T) -> bool {
        let mut state = self.lock();
        let refused = |state: &State<T>| state.stopped || state.consumers == 0;
        while state.items.len() >= self.capacity && !refused(&state) {
            state = self.wait(state);
        }
        if refused(&state) {
            return false;
        }
        state.items.push_back(item);
        self.changed.notify_all();
        true
    }

    /// No more items will come.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Wakes every waiter: `pop` answers `None` and `push` false from now on.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // ok because every change to the state is one assignment or one
        // VecDeque call, which no panic leaves half-done
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>> {
        self.changed.wait(state).unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> Consumer<T> {
    /// The next item, waiting while there is none; `None` once the queue
    /// is stopped, or closed and empty.
    pub fn pop(&self) -> Option<T> {
        let queue = &self.queue;
        let mut state = queue.lock();
        loop {
            if state.stopped {
                return None;
            }
            if let Some(item) = state.items.pop_front() {
                queue.changed.notify_all();
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = queue.wait(state);
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.queue.lock().consumers -= 1;
        self.queue.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Runs `f` on a thread; what it returned, or `None` if it still ran
    /// after 10 s (a bound that keeps a regression from hanging the tests).
    fn within_bound<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(10)).ok()
    }

    #[test]
    fn items_in_order_then_none_once_closed() {
        let queue = Arc::new(Queue::new(2));
        let consumer = queue.consumer();
        assert!(queue.push(1) && queue.push(2));
        queue.close();
        assert_eq!(
            (consumer.pop(), consumer.pop(), consumer.pop()),
            (Some(1), Some(2), None)
        );
    }

    #[test]
    fn stop_wakes_a_waiting_pop_and_a_waiting_push() {
        let queue = Arc::new(Queue::new(1));
        // A worker waits on an empty queue that is never closed (the reader
        // blocked on stdin), a reader on a full one.
        let worker = {
            let consumer = queue.consumer();
            std::thread::spawn(move || consumer.pop())
        };
        let consumer = queue.consumer();
        assert!(queue.push(1u8));
        let reader = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                // Once the worker took 1, this fills the queue; the next waits.
                queue.push(2) && queue.push(3)
            })
        };
        assert_eq!(worker.join().unwrap(), Some(1));
        queue.stop();
        assert!(!reader.join().unwrap());
        assert_eq!(consumer.pop(), None);
    }

    #[test]
    fn a_push_waiting_on_a_full_queue_fails_once_every_consumer_is_gone() {
        let queue = Arc::new(Queue::new(1));
        let consumers = [queue.consumer(), queue.consumer()];
        assert!(queue.push(1u8));
        let (waiting, waits) = mpsc::channel();
        let producer = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let _ = waiting.send(());
                queue.push(2)
            })
        };
        waits.recv().unwrap();
        // The workers go away (a panic unwinding drops them too), one by
        // one, while the producer waits on the full queue or is about to.
        let [first, second] = consumers;
        let panicked = std::thread::spawn(move || {
            let _held = first;
            panic!("a worker's bug");
        });
        assert!(panicked.join().is_err());
        drop(second);
        assert_eq!(within_bound(move || producer.join().unwrap()), Some(false));
        assert!(!queue.push(3), "nothing is taken in with no consumer");
    }
}
