//! The exit role's path from the shards to the clients.
//!
//! The router's delivery handler runs on the shard that peeled the packet: it recovers the
//! plaintext, splits off the SURB-ACK ([`gateway_protocol::final_hop`]), copies the message out (the
//! one copy of the exit role: the bytes leave the engine for another runtime) and hands it to
//! the pump over a bounded channel. The pump, a tokio task, pushes each message to its
//! client's connection when the client is online; otherwise, or when the connection cannot
//! take it, it commits a batch of them to the mailbox in one transaction. The SURB-ACK goes
//! into the mixnet only after the connection wrote the message or the mailbox committed it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use router_core::runtime::{Delivered, DeliveryHandler};
use router_core::sphinx::recover_plaintext;
use router_core::wire::KeyRotation;
use tokio::sync::mpsc;

use crate::entry_policy::EntryPolicy;
use crate::forwarder::Forwarder;
use crate::stats::{ExitDrop, GatewayStats};
use crate::store::{ClientId, Incoming, Store, StoreOutcome};
use gateway_protocol::final_hop;
use gateway_protocol::DeliveryKind;

/// A SURB-ACK to send once its message is safe: its first hop, the key rotation of the
/// packet that carried it (the ack was built with the same rotation's keys, so it travels
/// with that rotation's byte, as Nym's gateways send it), and the packet.
#[derive(Debug)]
pub struct Ack {
    /// Where it goes.
    pub first_hop: SocketAddr,
    /// The key-rotation byte of its frame.
    pub key_rotation: KeyRotation,
    /// The Sphinx packet.
    pub packet: Vec<u8>,
}

/// A delivered packet on its way to a client. It holds its share of the in-flight byte
/// budget until it is written, stored or dropped.
#[derive(Debug)]
pub struct Inbound {
    /// The recipient.
    pub client: ClientId,
    /// Message or ack.
    pub kind: DeliveryKind,
    /// What the client receives.
    pub bytes: Vec<u8>,
    /// The SURB-ACK to send once the bytes are safe.
    pub ack: Option<Ack>,
    /// Its bytes' share of [`InFlight`].
    pub budget: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The bytes of deliveries between the shards and the clients or the mailbox (in the pump's
/// queue and the connections' queues together). When it is used up, the shards drop new
/// deliveries as `delivery_queue_full` instead of letting memory grow.
#[derive(Debug, Clone)]
pub struct InFlight(Arc<tokio::sync::Semaphore>);

impl InFlight {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        InFlight(Arc::new(tokio::sync::Semaphore::new(bytes)))
    }

    fn take(&self, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let n = u32::try_from(bytes.max(1)).ok()?;
        self.0.clone().try_acquire_many_owned(n).ok()
    }
}

/// What the gateway tells a client's connection task.
#[derive(Debug)]
pub enum Push {
    /// Deliver this now (and send its ack once written).
    Live(Inbound),
    /// New messages were stored for this client.
    MailboxReady,
    /// The same client authenticated on a newer connection: close this one.
    Replaced,
}

struct Attached {
    session: u64,
    sender: mpsc::Sender<Push>,
    bandwidth: Arc<AtomicU64>,
}

/// The clients connected now.
#[derive(Default)]
pub struct Online {
    clients: Mutex<HashMap<ClientId, Attached>>,
}

impl std::fmt::Debug for Online {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Online")
    }
}

impl Online {
    /// Registers connection `session` of `client`. An older connection of the same client is
    /// told to close and its bandwidth counter is shared with the new one, so no debit is lost
    /// between them; otherwise the counter starts from `load` (the database), read under the
    /// registry's lock: a connection saves its balance before it detaches, so a new one either
    /// finds the old one's counter or reads what it saved. `load` may block (call this from a
    /// blocking thread).
    pub fn attach(
        &self,
        client: ClientId,
        session: u64,
        sender: mpsc::Sender<Push>,
        load: impl FnOnce() -> u64,
    ) -> Arc<AtomicU64> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let bandwidth = match clients.remove(&client) {
            Some(old) => {
                // Never lost to a full queue: the old connection also sees its queue close.
                if old.sender.try_send(Push::Replaced).is_err() {
                    tracing::debug!("replaced connection's queue is full; it closes when dropped");
                }
                old.bandwidth
            }
            None => Arc::new(AtomicU64::new(load())),
        };
        clients.insert(
            client,
            Attached {
                session,
                sender,
                bandwidth: bandwidth.clone(),
            },
        );
        bandwidth
    }

    /// Removes connection `session` of `client` (if it is still the current one).
    pub fn detach(&self, client: &ClientId, session: u64) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.get(client).is_some_and(|a| a.session == session) {
            clients.remove(client);
        }
    }

    /// The client's bandwidth counter, if it is online.
    pub fn bandwidth(&self, client: &ClientId) -> Option<Arc<AtomicU64>> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(client).map(|a| a.bandwidth.clone())
    }

    fn sender(&self, client: &ClientId) -> Option<mpsc::Sender<Push>> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(client).map(|a| a.sender.clone())
    }
}

/// The router's delivery handler: plaintext, SURB-ACK split, budget, copy, channel.
pub fn exit_handler(
    pump: mpsc::Sender<Inbound>,
    in_flight: InFlight,
    stats: Arc<GatewayStats>,
) -> DeliveryHandler {
    Arc::new(move |delivered: Delivered<'_>| {
        let plaintext = match recover_plaintext(delivered.payload) {
            Ok(p) => p,
            Err(_) => return stats.count_exit_drop(ExitDrop::BadPayload, 1),
        };
        let hop = match final_hop::split(delivered.size, plaintext) {
            Ok(hop) => hop,
            Err(_) => return stats.count_exit_drop(ExitDrop::BadSurbAck, 1),
        };
        let size = hop.bytes.len() + hop.ack.map_or(0, |(_, p)| p.len());
        let key_rotation = delivered.key_rotation;
        let Some(budget) = in_flight.take(size) else {
            return stats.count_exit_drop(ExitDrop::DeliveryQueueFull, 1);
        };
        let inbound = Inbound {
            budget: Some(budget),
            client: *delivered.destination,
            kind: hop.kind,
            bytes: hop.bytes.to_vec(),
            ack: hop.ack.map(|(first_hop, packet)| Ack {
                first_hop,
                key_rotation,
                packet: packet.to_vec(),
            }),
        };
        if pump.try_send(inbound).is_err() {
            stats.count_exit_drop(ExitDrop::DeliveryQueueFull, 1);
        }
    })
}

/// Sends a delivered packet's SURB-ACK into the mixnet (its bytes are now safe), if its first
/// hop is one the entry policy allows: a packet's sender chooses that address, and the gateway
/// must not connect wherever a sender says.
pub fn send_ack(
    forwarder: &Forwarder,
    policy: &EntryPolicy,
    stats: &GatewayStats,
    ack: Option<Ack>,
) {
    if let Some(Ack {
        first_hop,
        key_rotation,
        packet,
    }) = ack
    {
        if !policy.allows(&first_hop) {
            GatewayStats::add(&stats.acks_refused, 1);
            tracing::debug!(%first_hop, "SURB-ACK for a first hop outside the topology not sent");
            return;
        }
        match forwarder.send(first_hop, key_rotation, &packet) {
            Ok(()) => GatewayStats::add(&stats.acks_sent, 1),
            Err(error) => tracing::debug!(%error, "SURB-ACK not sent"),
        }
    }
}

/// Commits `items` to the mailbox, then acks what was stored and tells online recipients.
pub async fn store_and_ack(
    items: Vec<Inbound>,
    store: &Arc<Store>,
    online: &Online,
    forwarder: &Forwarder,
    policy: &EntryPolicy,
    stats: &GatewayStats,
) {
    if items.is_empty() {
        return;
    }
    let incoming: Vec<Incoming> = items
        .iter()
        .map(|i| Incoming {
            client: i.client,
            kind: i.kind,
            bytes: i.bytes.clone(),
        })
        .collect();
    let now = crate::now_ms();
    let store = store.clone();
    let outcome = tokio::task::spawn_blocking(move || store.store(&incoming, now)).await;
    let outcomes = match outcome {
        Ok(Ok(outcomes)) => outcomes,
        Ok(Err(error)) => {
            tracing::error!(%error, "mailbox write failed; messages dropped without ack");
            return stats.count_exit_drop(ExitDrop::StoreFailed, items.len() as u64);
        }
        Err(error) => {
            tracing::error!(%error, "mailbox task failed");
            return stats.count_exit_drop(ExitDrop::StoreFailed, items.len() as u64);
        }
    };
    let mut notify = Vec::new();
    for (item, outcome) in items.into_iter().zip(outcomes) {
        match outcome {
            StoreOutcome::Stored(_) => {
                GatewayStats::add(&stats.stored, 1);
                GatewayStats::add(&stats.mailbox_messages, 1);
                send_ack(forwarder, policy, stats, item.ack);
                notify.push(item.client);
            }
            StoreOutcome::QuotaExceeded => stats.count_exit_drop(ExitDrop::MailboxFull, 1),
            StoreOutcome::UnknownClient => stats.count_exit_drop(ExitDrop::UnknownRecipient, 1),
            // Not stored and not acked, like a full mailbox: the sender retransmits, and the
            // message arrives if the recipient comes online (or pays) meanwhile.
            StoreOutcome::NoBandwidth => {
                stats.count_exit_drop(ExitDrop::RecipientWithoutBandwidth, 1)
            }
        }
    }
    notify.sort_unstable();
    notify.dedup();
    for client in notify {
        if let Some(sender) = online.sender(&client) {
            let _ = sender.try_send(Push::MailboxReady);
        }
    }
}

/// The pump: live to online clients, the rest to the mailbox in batches.
pub async fn run_pump(
    mut inbound: mpsc::Receiver<Inbound>,
    online: Arc<Online>,
    store: Arc<Store>,
    forwarder: Forwarder,
    policy: Arc<EntryPolicy>,
    stats: Arc<GatewayStats>,
) {
    const BATCH: usize = 256;
    let mut batch = Vec::with_capacity(BATCH);
    while inbound.recv_many(&mut batch, BATCH).await > 0 {
        let mut to_store = Vec::new();
        for item in batch.drain(..) {
            let Some(sender) = online.sender(&item.client) else {
                to_store.push(item);
                continue;
            };
            match sender.try_send(Push::Live(item)) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(Push::Live(item)))
                | Err(mpsc::error::TrySendError::Closed(Push::Live(item))) => to_store.push(item),
                Err(_) => {}
            }
        }
        store_and_ack(to_store, &store, &online, &forwarder, &policy, &stats).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::wire::PacketSize;

    fn payload(message: &[u8]) -> Vec<u8> {
        let hop: SocketAddr = "127.0.0.1:1789".parse().unwrap();
        let mut payload = vec![0u8; 16];
        payload.extend(final_hop::surb_ack_prefix(&hop, &[0xAC; 386]).unwrap());
        payload.extend_from_slice(message);
        payload.push(1);
        payload.resize(PacketSize::Regular.payload_size(), 0);
        payload
    }

    #[test]
    fn the_exit_handler_splits_budgets_and_counts_what_it_drops() {
        let stats = Arc::new(GatewayStats::default());
        let (tx, mut rx) = mpsc::channel(16);
        let per_item = 100 + 386;
        let handler = exit_handler(tx, InFlight::new(per_item + per_item / 2), stats.clone());
        let deliver = |payload: &[u8]| {
            handler(Delivered {
                destination: &[7; 32],
                identifier: &[0; 16],
                size: PacketSize::Regular,
                key_rotation: KeyRotation::Odd,
                payload,
            })
        };
        let good = payload(&[5; 100]);
        deliver(&good);
        let first = rx.try_recv().expect("delivered");
        assert_eq!(
            (first.client, first.kind, first.bytes.len()),
            ([7; 32], DeliveryKind::Message, 100)
        );
        assert_eq!(first.ack.as_ref().map(|a| a.packet.len()), Some(386));
        assert_eq!(
            first.ack.as_ref().map(|a| a.key_rotation),
            Some(KeyRotation::Odd),
            "the ack travels with the rotation of the packet that carried it"
        );
        deliver(&good);
        assert!(rx.try_recv().is_err(), "over the in-flight budget");
        assert_eq!(stats.exit_drops(ExitDrop::DeliveryQueueFull), 1);
        drop(first);
        deliver(&good);
        assert!(rx.try_recv().is_ok(), "the budget came back with the first");

        let mut tampered = good.clone();
        tampered[0] = 1;
        deliver(&tampered);
        assert_eq!(stats.exit_drops(ExitDrop::BadPayload), 1);
        let mut bad_ack = good;
        bad_ack[16] = 9;
        deliver(&bad_ack);
        assert_eq!(stats.exit_drops(ExitDrop::BadSurbAck), 1);
        assert!(rx.try_recv().is_err());
    }
}
