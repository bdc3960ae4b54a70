//! The reply SURB economy of [`ClientCore`]: making SURBs and remembering whom we gave them
//! to (and answering their requests for more with top-ups); keeping the SURBs others gave
//! us, parking reply fragments that have none to spare, and asking for more in time.

use super::{bytes, ClientCore, CoreRng, ReplyKey, SendError, Target};
use crate::core::address::Recipient;
use crate::core::envelope::{Envelope, ReplySurb};
use crate::core::packets::make_surb;
use crate::core::route::delays;

impl ClientCore {
    /// `count` SURBs back to us, each with a fresh route and reply key.
    pub(super) fn make_reply_surbs(
        &self,
        count: u16,
        rng: &mut impl CoreRng,
    ) -> Result<Vec<ReplySurb>, SendError> {
        let network = self.network()?;
        let own = network.gateway(&self.gateway)?;
        let identity = self.keys.identity_public();
        let mut surbs = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            let route = network.route_to(own, rng)?;
            let (d, _) = delays(&route, self.config.per_hop_delay, rng);
            let surb = make_surb(&route, d, identity, bytes::<32>(rng))?;
            surbs.push(ReplySurb {
                surb,
                key: bytes::<16>(rng),
                rotation: network.rotation(),
            });
        }
        Ok(surbs)
    }

    /// Answers a correspondent's request for more SURBs, with no more than it may still hold
    /// (`max_surbs_handed_out`). Each SURB it spends (the request itself spent one) makes room
    /// for one, so a correspondent that asks without spending gets one SURB per request once
    /// it holds the cap, not a hundred.
    pub(super) fn send_top_up(
        &mut self,
        recipient: &Recipient,
        count: u16,
        rng: &mut impl CoreRng,
    ) -> Result<(), SendError> {
        let held = self.handed_out.get(recipient).copied().unwrap_or(0);
        let room = self.config.max_surbs_handed_out.saturating_sub(held);
        let count = count
            .min(self.config.max_reply_surbs_per_message)
            .min(u16::try_from(room).unwrap_or(u16::MAX));
        if count == 0 {
            return Ok(());
        }
        let surbs = self.make_reply_surbs(count, rng)?;
        let keys: Vec<[u8; 16]> = surbs.iter().map(|s| s.key).collect();
        let envelope = Envelope::SurbTopUp {
            sender_tag: self.sender_tag(recipient),
            surbs,
        };
        self.enqueue(Target::Client(*recipient), &envelope, false, rng)?;
        for key in keys {
            self.remember_reply_key(key, *recipient);
        }
        self.stats.surb_top_ups_sent += 1;
        self.stats.surbs_topped_up += u64::from(count);
        Ok(())
    }

    /// Reply fragments for `tag` waiting for a transmission.
    pub(super) fn reply_demand(&self, tag: &[u8; 16]) -> usize {
        self.reply_waiting.get(tag).copied().unwrap_or(0)
    }

    pub(super) fn set_waiting(&mut self, id: u64, waiting: bool) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if p.waiting == waiting {
            return;
        }
        p.waiting = waiting;
        if let (Some(tag), false) = (p.target.reply_tag(), p.control) {
            let n = self.reply_waiting.entry(tag).or_default();
            if waiting {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.reply_waiting.remove(&tag);
                }
            }
        }
    }

    /// Asks the sender with `tag` for more SURBs when those at hand will not cover what
    /// waits and the reserve, and no request is out: for what waits plus the headroom, so a
    /// stream of replies does not stop at every request. The request goes first in the
    /// queue, through a SURB kept back for it.
    pub(super) fn request_surbs_if_low(&mut self, tag: &[u8; 16], rng: &mut impl CoreRng) {
        if self.surbs_requested.contains(tag) {
            return;
        }
        let have = self.reply_surbs(tag);
        let demand = self.reply_demand(tag);
        if demand == 0 || have == 0 || have >= demand + self.config.surb_reserve {
            return;
        }
        let want = (demand + self.config.surb_headroom)
            .saturating_sub(have)
            .max(1);
        let count = u16::try_from(want)
            .unwrap_or(u16::MAX)
            .min(self.config.surb_request_size)
            .min(self.config.max_reply_surbs_per_message)
            .max(1);
        let envelope = Envelope::SurbRequest { count };
        if self
            .enqueue(Target::Reply(*tag), &envelope, true, rng)
            .is_ok()
        {
            self.surbs_requested.insert(*tag);
            self.stats.surb_requests_sent += 1;
        }
    }

    /// Puts fragments parked for lack of SURBs from `tag` back at the front of the queue.
    pub(super) fn unpark(&mut self, tag: &[u8; 16]) {
        if let Some(ids) = self.parked.remove(tag) {
            for id in ids.into_iter().rev() {
                self.queue.push_front(id);
            }
        }
    }

    pub(super) fn remember_reply_key(&mut self, key: [u8; 16], recipient: Recipient) {
        let digest = crate::core::crypto::reply_key_digest(&key);
        if self
            .reply_keys
            .insert(digest, ReplyKey { key, recipient })
            .is_none()
        {
            self.reply_key_order.push_back(digest);
            *self.handed_out.entry(recipient).or_default() += 1;
        }
        while self.reply_key_order.len() > self.config.max_reply_keys {
            if let Some(old) = self.reply_key_order.pop_front() {
                self.take_reply_key(&old);
            }
        }
    }

    /// Forgets the reply key with `digest` (its SURB was spent, or it is evicted) and
    /// returns it.
    pub(super) fn take_reply_key(&mut self, digest: &[u8; 32]) -> Option<ReplyKey> {
        let key = self.reply_keys.remove(digest)?;
        if let Some(n) = self.handed_out.get_mut(&key.recipient) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.handed_out.remove(&key.recipient);
            }
        }
        Some(key)
    }

    pub(super) fn keep_surbs(&mut self, tag: [u8; 16], surbs: Vec<ReplySurb>) {
        if surbs.is_empty() {
            return;
        }
        if !self.surbs.contains_key(&tag) {
            self.surb_senders.push_back(tag);
            while self.surb_senders.len() > self.config.max_reply_senders {
                if let Some(old) = self.surb_senders.pop_front() {
                    self.surbs.remove(&old);
                    self.surbs_requested.remove(&old);
                    for id in self.parked.remove(&old).unwrap_or_default() {
                        self.lose(id, "the sender's SURBs were forgotten".into());
                    }
                }
            }
        }
        let held = self.surbs.entry(tag).or_default();
        held.extend(surbs);
        while held.len() > self.config.max_surbs_per_sender {
            held.pop_front();
        }
    }
}
