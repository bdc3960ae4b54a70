//! Back-pressure in the runtime: a congested next hop pauses the inbound connections whose
//! packets just joined its queue ([`crate::pipeline::pressure`] decides when), and its writer
//! wakes them once it has drained the queue.
//!
//! A paused connection is simply not read: the kernel's receive buffer fills, the sender's
//! TCP window closes, and the sender slows down. Nothing is dropped for it, and connections
//! whose packets go to other next hops are not paused.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use super::peer::Peer;
use super::shard::Shard;
use crate::pipeline::ShardStats;

/// One inbound connection's back-pressure state.
#[derive(Default)]
pub(super) struct Inflow {
    /// The congested next hop this connection's packets went to, if any, since it last read.
    held_by: RefCell<Option<Rc<Peer>>>,
}

impl Inflow {
    /// A packet of this connection joined `peer`'s congested queue: pause before the next read.
    pub(super) fn hold_for(&self, peer: &Rc<Peer>) {
        *self.held_by.borrow_mut() = Some(peer.clone());
    }

    /// Waits while the next hop this connection fed is congested, for at most what is left
    /// of that hop's patience, or until the shard stops. Counted in the shard's stats.
    pub(super) async fn wait_for_room(&self, shard: &Shard) {
        let Some(peer) = self.held_by.borrow_mut().take() else {
            return;
        };
        let started = Instant::now();
        let mut paused = false;
        loop {
            if shard.stopping.get() {
                break;
            }
            let Some(left) = peer.pressure.borrow().wait_left(shard.clock.now()) else {
                break;
            };
            paused = true;
            futures_lite::future::or(
                peer.drained.wait(),
                futures_lite::future::or(shard.stopping_event.wait(), async {
                    glommio::timer::sleep(left).await;
                }),
            )
            .await;
        }
        if paused {
            ShardStats::add(&shard.stats.inbound_pauses, 1);
            ShardStats::add(
                &shard.stats.inbound_paused_nanos,
                u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            );
        }
    }
}

impl Peer {
    /// After a write or a drop emptied some of the queue: ends the congestion and wakes the
    /// connections it paused once the queue is down to the low-water mark.
    pub(super) fn relieve_if_drained(&self) {
        let len = self.queue.borrow().len();
        if self.pressure.borrow_mut().after_drain(len) {
            self.drained.notify();
        }
    }
}
