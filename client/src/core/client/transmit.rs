//! Building and pacing what [`ClientCore`] sends: the streams' slots, each fragment's
//! packet (to a client, or through a reply SURB) with its SURB-ACK, the retransmission timer,
//! and loop and drop cover.

use std::collections::VecDeque;
use std::time::Duration;

use gateway_protocol::final_hop::surb_ack_prefix;
use router_core::mix::rotation_hint;
use router_core::wire::{KeyRotation, PacketSize};

use super::{bytes, ClientCore, CoreRng, Event, Target, COVER_ACK_ID, FRAGMENT_CAPACITY};
use crate::core::address::Recipient;
use crate::core::crypto::{seal_ack, seal_reply, seal_to_recipient};
use crate::core::fragment::{FragmentHeader, COVER_MESSAGE_ID};
use crate::core::packets::{forward, use_surb, PacketError, Transmit};
use crate::core::route::{delays, RouteError};

/// Why a queued fragment could not be sent: it is given up, and the reason is the
/// [`Event::FragmentLost`] one.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
enum TransmitError {
    /// No route to the recipient or back to us (the topology changed).
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The packet could not be built.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// The ack packet does not fit a SURB-ACK (a bug: the sizes are constants).
    #[error("internal: an ack packet of the wrong size")]
    AckSize,
    /// The reply's SURBs were counted but are not there.
    #[error("no reply SURB left from that sender")]
    NoSurb,
}

impl ClientCore {
    /// The next packet to hand the gateway at `now`, if a stream's slot is due. Call until
    /// `None`, then again at [`ClientCore::poll_timeout`].
    pub fn poll_transmit(&mut self, now: Duration, rng: &mut impl CoreRng) -> Option<Transmit> {
        self.handle_timeout(now);
        self.expire_surbs(now);
        while let Some((recipient, count)) = self.top_ups_due.pop_front() {
            if let Err(e) = self.send_top_up(&recipient, count, rng) {
                self.events.push_back(Event::FragmentLost {
                    message_id: 0,
                    reason: format!("could not answer a request for SURBs: {e}"),
                });
            }
        }
        if self.real.is_due(now) {
            self.real.advance(now, rng);
            while let Some(id) = self.queue.pop_front() {
                match self.transmit_fragment(id, now, rng) {
                    Ok(Some(t)) => return Some(t),
                    Ok(None) => continue,
                    Err(e) => self.lose(id, e.to_string()),
                }
            }
            if self.config.cover_in_idle_slots {
                if let Some(t) = self.loop_cover(rng) {
                    return Some(t);
                }
            }
        }
        if let Some(stream) = self.loop_cover.as_mut().filter(|s| s.is_due(now)) {
            stream.advance(now, rng);
            if let Some(t) = self.loop_cover(rng) {
                return Some(t);
            }
        }
        if let Some(stream) = self.drop_cover.as_mut().filter(|s| s.is_due(now)) {
            stream.advance(now, rng);
            if let Some(t) = self.drop_cover(rng) {
                return Some(t);
            }
        }
        None
    }

    /// Builds the packet of pending fragment `id` and arms its timer; `Ok(None)` if it is no
    /// longer pending (acked while queued) or, for a reply, waits for SURBs.
    fn transmit_fragment(
        &mut self,
        id: u64,
        now: Duration,
        rng: &mut impl CoreRng,
    ) -> Result<Option<Transmit>, TransmitError> {
        let Some(p) = self.pending.get(&id) else {
            return Ok(None);
        };
        let (target, control) = (p.target, p.control);
        let (plaintext, ack_total) = self.surb_ack(id, rng)?;
        let packet = match target {
            Target::Client(recipient) => {
                Some(self.packet_to_client(&p.fragment, &recipient, plaintext, rng)?)
            }
            Target::Reply(tag) => self.packet_through_surb(id, tag, control, plaintext, rng)?,
        };
        let Some((transmit, forward_total)) = packet else {
            return Ok(None);
        };
        self.arm_retransmission(id, now, forward_total + ack_total, rng);
        Ok(Some(transmit))
    }

    /// The SURB-ACK that starts fragment `id`'s plaintext (an ack packet back to us through
    /// the mixnet), and the total delay of the ack's route.
    fn surb_ack(
        &self,
        id: u64,
        rng: &mut impl CoreRng,
    ) -> Result<(Vec<u8>, Duration), TransmitError> {
        let network = self.network()?;
        let own = network.gateway(&self.gateway)?;
        let ack_route = network.route_to(own, rng)?;
        let (ack_delays, ack_total) = delays(&ack_route, self.config.per_hop_delay, rng);
        let ack_plaintext = seal_ack(&self.keys.ack_key, bytes::<16>(rng), id);
        let ack = forward(
            &ack_route,
            &ack_delays,
            self.keys.identity_public(),
            &ack_plaintext,
            PacketSize::Ack,
            bytes::<32>(rng),
            network.key_rotation(),
        )?;
        let plaintext =
            surb_ack_prefix(&ack.first_hop, &ack.packet).ok_or(TransmitError::AckSize)?;
        Ok((plaintext, ack_total))
    }

    /// `fragment` sealed to `recipient` after `plaintext` (its SURB-ACK), as a packet over a
    /// fresh route to the recipient's gateway; and the route's total delay.
    fn packet_to_client(
        &self,
        fragment: &[u8],
        recipient: &Recipient,
        mut plaintext: Vec<u8>,
        rng: &mut impl CoreRng,
    ) -> Result<(Transmit, Duration), TransmitError> {
        let network = self.network()?;
        let egress = network.gateway(&recipient.gateway)?;
        let route = network.route_to(egress, rng)?;
        let (d, total) = delays(&route, self.config.per_hop_delay, rng);
        plaintext.extend_from_slice(&seal_to_recipient(
            bytes::<32>(rng),
            &recipient.encryption,
            fragment,
        ));
        let t = forward(
            &route,
            &d,
            recipient.identity,
            &plaintext,
            PacketSize::Regular,
            bytes::<32>(rng),
            network.key_rotation(),
        )?;
        Ok((t, total))
    }

    /// Reply fragment `id` sealed after `plaintext` (its SURB-ACK) into one of the SURBs of
    /// the sender with `tag`, and the delay assumed for it; `None` when the fragment parks
    /// to wait for more SURBs.
    fn packet_through_surb(
        &mut self,
        id: u64,
        tag: [u8; 16],
        control: bool,
        mut plaintext: Vec<u8>,
        rng: &mut impl CoreRng,
    ) -> Result<Option<(Transmit, Duration)>, TransmitError> {
        let have = self.reply_surbs(&tag);
        if have == 0 || (!control && have <= self.config.surb_reserve) {
            // Wait for more SURBs rather than spend those kept for asking: any
            // fragment may need a retransmission later, so data never spends them.
            // A request with none left (its retransmission used the last) waits too,
            // still counted as asked, for the SURBs the sender's next message brings.
            self.parked.entry(tag).or_default().push_back(id);
            self.request_surbs_if_low(&tag, rng);
            return Ok(None);
        }
        let Some(surb) = self.surbs.get_mut(&tag).and_then(VecDeque::pop_front) else {
            return Err(TransmitError::NoSurb);
        };
        let Some(p) = self.pending.get(&id) else {
            return Ok(None);
        };
        plaintext.extend_from_slice(&seal_reply(&surb.key, &p.fragment));
        let key_rotation = surb.rotation.map_or(KeyRotation::Unknown, rotation_hint);
        let t = use_surb(&surb.surb, &plaintext, key_rotation)?;
        // The SURB's delays are its creator's secret: assume three hops at three
        // times the mean (the sum exceeds that with probability below 1 %).
        Ok(Some((t, self.config.per_hop_delay * 9)))
    }

    /// Counts fragment `id` as sent at `now` and arms its retransmission timer; `route_delays`
    /// is the total delay of its route and its ack's.
    fn arm_retransmission(
        &mut self,
        id: u64,
        now: Duration,
        route_delays: Duration,
        rng: &mut impl CoreRng,
    ) {
        let first_wait =
            route_delays.mul_f64(self.config.ack_wait_factor) + self.config.ack_wait_base;
        // Doubled for every earlier transmission, capped (`attempts` is bounded by
        // `max_attempts`; the shift is capped so it cannot overflow).
        let earlier = self.pending.get(&id).map_or(0, |p| p.attempts).min(16);
        let wait = first_wait
            .saturating_mul(1 << earlier)
            .min(self.config.ack_wait_max.max(first_wait));
        let deadline = now + wait;
        self.set_waiting(id, false);
        let mut spent_surb_of = None;
        if let Some(p) = self.pending.get_mut(&id) {
            p.attempts += 1;
            p.deadline = Some(deadline);
            spent_surb_of = p.target.reply_tag();
        }
        self.timers.insert((deadline, id));
        self.stats.real_sent += 1;
        if let Some(tag) = spent_surb_of {
            self.request_surbs_if_low(&tag, rng);
        }
    }

    /// A loop cover packet: a message to ourselves that we drop on arrival, with a SURB-ACK,
    /// indistinguishable from a real one on the wire.
    fn loop_cover(&mut self, rng: &mut impl CoreRng) -> Option<Transmit> {
        let network = self.network.as_ref()?;
        let own = network.gateway(&self.gateway).ok()?;
        let mean = self.config.per_hop_delay;
        let identity = self.keys.identity_public();
        let ack_route = network.route_to(own, rng).ok()?;
        let (ack_delays, _) = delays(&ack_route, mean, rng);
        let ack_plaintext = seal_ack(&self.keys.ack_key, bytes::<16>(rng), COVER_ACK_ID);
        let ack = forward(
            &ack_route,
            &ack_delays,
            identity,
            &ack_plaintext,
            PacketSize::Ack,
            bytes::<32>(rng),
            network.key_rotation(),
        )
        .ok()?;
        let mut plaintext = surb_ack_prefix(&ack.first_hop, &ack.packet)?;
        let mut fragment = Vec::with_capacity(FRAGMENT_CAPACITY);
        FragmentHeader {
            message_id: COVER_MESSAGE_ID,
            set_index: 0,
            set_count: 1,
            set_len: 1,
            position: 0,
        }
        .encode_into(&mut fragment);
        fragment.resize(FRAGMENT_CAPACITY, 0);
        plaintext.extend_from_slice(&seal_to_recipient(
            bytes::<32>(rng),
            &self.keys.encryption_public(),
            &fragment,
        ));
        let route = network.route_to(own, rng).ok()?;
        let (d, _) = delays(&route, mean, rng);
        let t = forward(
            &route,
            &d,
            identity,
            &plaintext,
            PacketSize::Regular,
            bytes::<32>(rng),
            network.key_rotation(),
        )
        .ok()?;
        self.stats.loop_cover_sent += 1;
        Some(t)
    }

    /// A drop cover packet: random bytes to a random destination at a random gateway, which
    /// drops it (nobody is registered under that destination).
    fn drop_cover(&mut self, rng: &mut impl CoreRng) -> Option<Transmit> {
        let network = self.network.as_ref()?;
        let egress = network.random_gateway(rng)?;
        let route = network.route_to(egress, rng).ok()?;
        let (d, _) = delays(&route, self.config.per_hop_delay, rng);
        let mut plaintext = vec![0u8; PacketSize::Regular.plaintext_size()];
        rng.fill_bytes(&mut plaintext);
        let t = forward(
            &route,
            &d,
            bytes::<32>(rng),
            &plaintext,
            PacketSize::Regular,
            bytes::<32>(rng),
            network.key_rotation(),
        )
        .ok()?;
        self.stats.drop_cover_sent += 1;
        Some(t)
    }
}
