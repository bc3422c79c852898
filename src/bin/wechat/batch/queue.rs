//! The calls between the reader and the workers: a bounded queue that a
//! signal, a halt or the end of the input wakes every waiter of.
//!
//! Not a channel: the reader may be blocked on an open stdin (a terminal,
//! a pipe whose writer lives on) and hold a channel's sender forever, so
//! workers waiting on the channel would never see the batch stop.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

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
}

impl<T> Queue<T> {
    /// A queue that holds at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                stopped: false,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds `item`, waiting while the queue is full; false (the item
    /// dropped) once the queue is stopped.
    pub fn push(&self, item: T) -> bool {
        let mut state = self.lock();
        while state.items.len() >= self.capacity && !state.stopped {
            state = self.wait(state);
        }
        if state.stopped {
            return false;
        }
        state.items.push_back(item);
        self.changed.notify_all();
        true
    }

    /// The next item, waiting while there is none; `None` once the queue
    /// is stopped, or closed and empty.
    pub fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return None;
            }
            if let Some(item) = state.items.pop_front() {
                self.changed.notify_all();
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = self.wait(state);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn items_in_order_then_none_once_closed() {
        let queue = Queue::new(2);
        assert!(queue.push(1) && queue.push(2));
        queue.close();
        assert_eq!(
            (queue.pop(), queue.pop(), queue.pop()),
            (Some(1), Some(2), None)
        );
    }

    #[test]
    fn stop_wakes_a_waiting_pop_and_a_waiting_push() {
        let queue = Arc::new(Queue::new(1));
        // A worker waits on an empty queue that is never closed (the reader
        // blocked on stdin), a reader on a full one.
        let worker = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.pop())
        };
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
        assert_eq!(queue.pop(), None);
    }
}
