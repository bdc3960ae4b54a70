//! A wake-up signal between tasks of one shard (single-threaded, no atomics).
//!
//! `wait` completes after the next `notify`, however many tasks wait; a notify with nobody
//! waiting costs one increment. Waiters re-check their condition after waking, so a spurious
//! wake-up is harmless.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// See the module docs.
#[derive(Debug, Default)]
pub struct LocalEvent {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl LocalEvent {
    /// Wakes every current waiter.
    pub fn notify(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }

    /// Completes after the next [`Self::notify`].
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            generation: self.generation.get(),
        }
    }
}

/// Future returned by [`LocalEvent::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    event: &'a LocalEvent,
    generation: u64,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.generation.get() != self.generation {
            return Poll::Ready(());
        }
        let mut waiters = self.event.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
