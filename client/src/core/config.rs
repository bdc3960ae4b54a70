//! The client core's settings. The defaults are Nym's (DESIGN.md §3).

use std::time::Duration;

use super::fragment::ReassemblyLimits;

/// Traffic, reliability and memory settings.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Mean of the exponential delay each mixnode holds a packet for.
    pub per_hop_delay: Duration,
    /// Mean gap of the real-traffic Poisson stream.
    pub send_gap: Duration,
    /// Send a loop cover packet in a real-traffic slot with nothing queued.
    pub cover_in_idle_slots: bool,
    /// Mean gap of the separate loop cover stream; `None` turns it off.
    pub loop_cover_gap: Option<Duration>,
    /// Mean gap of the drop cover stream (packets to a random gateway for nobody, dropped
    /// there); `None` turns it off.
    pub drop_cover_gap: Option<Duration>,
    /// Fixed part of the retransmission timeout.
    pub ack_wait_base: Duration,
    /// Factor on the sum of the packet's and its ack's delays.
    pub ack_wait_factor: f64,
    /// Each retransmission of a fragment waits twice as long as the one before, up to this:
    /// a network slowed by load is not flooded with copies (TCP's backoff, RFC 6298 §5.5).
    /// Kept short because loss here is mostly a dead node on a route, and each retry takes a
    /// fresh route: with one of two nodes in a layer dead, a 30 s cap made a message take
    /// minutes with probability of a few percent; 10 s bounds the 20 attempts to ~3 minutes.
    pub ack_wait_max: Duration,
    /// Transmissions of one fragment before it is given up.
    pub max_attempts: u32,
    /// Fragments queued or waiting for an ack, at most.
    pub max_pending_fragments: usize,
    /// Reply SURBs kept per sender tag.
    pub max_surbs_per_sender: usize,
    /// Sender tags whose SURBs are kept.
    pub max_reply_senders: usize,
    /// Reply keys kept for SURBs handed out.
    pub max_reply_keys: usize,
    /// Our SURBs one correspondent may hold unspent: top-ups never take it past this (each SURB
    /// it spends makes room for one more). Without it, each SURB spent on a request could
    /// bring 100 new ones, without end.
    pub max_surbs_handed_out: usize,
    /// Reply SURBs one anonymous message may carry.
    pub max_reply_surbs_per_message: u16,
    /// A replier whose SURBs do not cover the reply fragments waiting (plus the reserve) asks
    /// the sender for enough for them and this many more.
    pub surb_headroom: usize,
    /// SURBs asked for at once (at most `max_reply_surbs_per_message`).
    pub surb_request_size: u16,
    /// SURBs a replier keeps back from its data for asking for more.
    pub surb_reserve: usize,
    /// Reassembly limits.
    pub reassembly: ReassemblyLimits,
    /// How long after the client moves to a new Sphinx key rotation it still sends replies
    /// through SURBs built for the previous one. Their first hop keeps the previous key only
    /// for the network's overlap, so this is the overlap minus the time a reply takes to reach
    /// that hop (the native client sets half the overlap). Zero: they are dropped at once.
    pub previous_rotation_surbs_for: Duration,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            per_hop_delay: Duration::from_millis(15),
            send_gap: Duration::from_millis(20),
            cover_in_idle_slots: true,
            loop_cover_gap: Some(Duration::from_millis(200)),
            drop_cover_gap: None,
            ack_wait_base: Duration::from_millis(1500),
            ack_wait_factor: 1.5,
            ack_wait_max: Duration::from_secs(10),
            max_attempts: 20,
            max_pending_fragments: 100_000,
            max_surbs_per_sender: 1_000,
            max_reply_senders: 1_000,
            max_reply_keys: 100_000,
            max_surbs_handed_out: 1_000,
            max_reply_surbs_per_message: 100,
            surb_headroom: 40,
            surb_request_size: 100,
            surb_reserve: 1,
            reassembly: ReassemblyLimits::default(),
            previous_rotation_surbs_for: Duration::ZERO,
        }
    }
}
