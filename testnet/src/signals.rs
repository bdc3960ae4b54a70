//! Ctrl-C and SIGTERM as a counter the run watches: the first one stops sending (the drain
//! and the report still happen), the next one ends the drain.
//!
//! Once installed, the handlers replace the default action (dying) for the rest of the
//! process's life, so the network is always stopped in order; the node processes run in
//! their own process group and do not see a terminal's Ctrl-C.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use super::Error;

/// Signals received so far.
#[derive(Debug, Clone)]
pub struct Interrupts {
    count: watch::Receiver<u32>,
}

impl Interrupts {
    /// Catches SIGINT and SIGTERM from now on. Must run inside a tokio runtime.
    pub fn install() -> Result<Interrupts, Error> {
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| Error::io(format!("cannot catch SIGINT: {e}")))?;
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| Error::io(format!("cannot catch SIGTERM: {e}")))?;
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            // Ends when every receiver is gone (or the runtime stops).
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                    () = tx.closed() => return,
                }
                tx.send_modify(|n| *n = n.saturating_add(1));
            }
        });
        Ok(Interrupts { count: rx })
    }

    /// A counter that never counts (for callers that handle signals themselves).
    pub fn none() -> Interrupts {
        let (_tx, rx) = watch::channel(0u32);
        Interrupts { count: rx }
    }

    /// Signals so far.
    pub fn count(&self) -> u32 {
        *self.count.borrow()
    }

    /// Resolves once at least `n` signals have arrived (never, if the handler is gone).
    pub async fn reached(&self, n: u32) {
        let mut rx = self.count.clone();
        if rx.wait_for(|&c| c >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn without_a_handler_nothing_arrives() {
        let none = Interrupts::none();
        assert_eq!(none.count(), 0);
        let waited = tokio::time::timeout(Duration::from_millis(50), none.reached(1)).await;
        assert!(waited.is_err());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), none.reached(0))
                .await
                .is_ok()
        );
    }
}
