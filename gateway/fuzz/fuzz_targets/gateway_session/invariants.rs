//! The checks after every action: the model against the gateway's mailbox, counters and
//! answers.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use gateway_protocol::ErrorKind;

use super::*;

impl Run<'_> {
    /// The invariants that hold whenever nothing is running.
    pub(super) fn check(&mut self) {
        let shared = &self.gw.shared;
        let store = &shared.store;
        let pending = store.pending(&self.client, 0, usize::MAX).expect("reads");
        assert_eq!(
            store.pending_count(&self.client).expect("reads"),
            pending.len() as u64,
            "the mailbox's count"
        );
        assert!(
            pending.len() as u64 <= MAX_MESSAGES,
            "over the message limit"
        );
        let bytes: usize = pending.iter().map(|m| m.bytes.len()).sum();
        assert!(bytes as u64 <= MAX_BYTES, "over the byte limit");
        let mut now = BTreeMap::new();
        for message in &pending {
            let tag = tag_of(&message.bytes);
            let (kind, len) = *self.injected.get(&tag).expect("a message that was sent");
            assert_eq!(
                (message.kind, message.bytes.len()),
                (kind, len),
                "stored intact"
            );
            assert!(
                !self.live.contains(&tag),
                "message {tag} delivered live and stored"
            );
            assert!(!self.removed.contains(&tag), "message {tag} stored again");
            assert_eq!(
                *self.tag_of_id.entry(message.id).or_insert(tag),
                tag,
                "mailbox id {} names two messages",
                message.id
            );
            self.ever_stored.insert(tag);
            now.insert(message.id, tag);
        }
        for (id, tag) in std::mem::replace(&mut self.mailbox, now.clone()) {
            if !now.contains_key(&id) {
                assert!(
                    self.confirmed.contains(&id),
                    "stored message {id} left the mailbox unconfirmed"
                );
                self.removed.insert(tag);
            }
        }
        for id in &self.confirmed {
            assert!(
                !now.contains_key(id),
                "confirmed message {id} is still stored"
            );
        }
        let c = counters(self.gw);
        let accounted = self.live.len() + self.ever_stored.len();
        assert_eq!(
            (self.injected.len() - accounted) as u64,
            c.drops - self.base.drops,
            "messages neither delivered nor stored must be counted dropped"
        );
        assert_eq!(
            c.forwarded - self.base.forwarded,
            self.forwarded,
            "packets forwarded"
        );
        assert_eq!(
            c.debited - self.base.debited,
            self.debited,
            "bandwidth debited: what the forwarded packets used, nothing for refused ones"
        );
        if let Some(conn) = &self.conn {
            if conn.unconfirmed.is_empty() {
                assert!(
                    now.keys().all(|id| conn.delivered.contains(id)),
                    "nothing unconfirmed, yet stored messages {:?} were not sent (sent {:?})",
                    now.keys().collect::<Vec<_>>(),
                    conn.delivered
                );
            }
        }
        if self.gw.paid {
            match shared.online.bandwidth(&self.client) {
                Some(counter) => assert_eq!(
                    counter.load(Ordering::Relaxed),
                    self.bandwidth,
                    "the live balance"
                ),
                None => {
                    assert!(self.conn.is_none(), "connected but not online");
                    let saved = store
                        .client(&self.client)
                        .expect("reads")
                        .map(|r| r.bandwidth);
                    assert_eq!(saved.unwrap_or(0), self.bandwidth, "the saved balance");
                }
            }
        }
        if self.conn.is_none() {
            assert!(
                shared.online.bandwidth(&self.client).is_none(),
                "online while gone"
            );
            assert_eq!(
                c.connected, self.base.connected,
                "connected clients after a close"
            );
            let sources = shared.sources.lock().expect("lock");
            assert_eq!(sources.connections_of(PEER.ip()), 0, "source connections");
            assert_eq!(sources.handshakes_of(PEER.ip()), 0, "source handshakes");
        }
    }

    /// The answers to a step whose errors are all expected, in order, with nothing else.
    pub(super) fn expect(&mut self, answers: &Answers, expected: &[ErrorKind]) {
        assert_eq!(answers.errors, expected, "{answers:?}");
        let fatal = expected.last().is_some_and(|k| k.is_fatal());
        assert_eq!(answers.closed, fatal, "closed: {answers:?}");
    }

    /// Counts the credential refusals among answers the model did not predict (a request
    /// garbled into one that still parses).
    pub(super) fn conn_refused(&mut self, answers: &Answers) {
        for kind in &answers.errors {
            if matches!(
                kind,
                ErrorKind::CredentialRefused | ErrorKind::CredentialSpent
            ) {
                if let Some(conn) = self.conn.as_mut() {
                    conn.refused += 1;
                }
            }
        }
    }
}
