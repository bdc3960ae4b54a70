//! The client state machine: messages in, Sphinx packets out at Poisson times, deliveries
//! from the gateway in, messages and events out. It never reads a clock or owns an RNG: `now`
//! (a [`Duration`] since any fixed origin) and the RNG are arguments (DESIGN.md §6.1), so
//! tests run it on a virtual clock.
//!
//! Inputs are `send*`/`reply`, [`ClientCore::handle_topology`] and
//! [`ClientCore::handle_delivery`]; outputs are [`ClientCore::poll_transmit`] (call until
//! `None`), [`ClientCore::poll_event`] and [`ClientCore::poll_timeout`] (when to call
//! `poll_transmit` next).
//!
//! Streams (Loopix §4): the real-traffic stream sends, at exponential gaps, the next queued
//! fragment or retransmission, or a loop cover packet when nothing is queued, so an observer
//! of the client sees the same rate whether it talks or not; the loop cover stream sends a
//! loop packet at its own exponential gaps; the optional drop cover stream sends packets to a
//! random gateway for nobody. Every fragment carries a SURB-ACK; an unacknowledged fragment is
//! sent again, over a fresh route, after `(sum of its and its ack's delays) × 1.5 + 1.5 s`,
//! doubled for each earlier transmission up to 10 s, so a loaded network is not flooded and a
//! fragment whose routes keep crossing a dead node is still retried every 10 s.
//!
//! Replies travel through the sender's SURBs, one per fragment and per retransmission. A
//! reply fragment with no SURB to spare waits (it is not lost), and the replier asks the
//! sender for more through a SURB it kept back (`surb_reserve`), before it runs out
//! (`surb_headroom`); the sender, which knows whom it gave those SURBs to, answers with a
//! top-up. Apps see none of this: a reply larger than the SURBs at hand just takes longer.
//! That part lives in the `surbs` submodule; building and pacing the packets (the streams,
//! SURB-ACKs, retransmission timers) in `transmit`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Duration;

use gateway_protocol::final_hop::SURB_ACK_LEN;
use gateway_protocol::DeliveryKind;
use rand_core::{CryptoRng, RngCore};
use router_core::wire::PacketSize;
use sha2::{Digest, Sha256};
use validator_core::topology::Topology;

use super::address::Recipient;
use super::config::CoreConfig;
use super::crypto::{open_ack, open_from_sender, open_reply, PAYLOAD_PREFIX_LEN};
use super::envelope::{Envelope, ReplySurb};
use super::fragment::{
    split, FragmentHeader, Reassembled, Reassembler, COVER_MESSAGE_ID, FRAGMENT_HEADER_LEN,
};
use super::keys::ClientKeys;
use super::packets::PacketError;
use super::poisson::PoissonStream;
use super::route::{Network, RouteError};

mod surbs;
mod transmit;

/// The RNG the core takes: a CSPRNG (keys, routes and gaps come from it).
pub trait CoreRng: RngCore + CryptoRng {}
impl<T: RngCore + CryptoRng> CoreRng for T {}

/// Bytes of a fragment (header and data) in one regular packet: the plaintext minus the
/// SURB-ACK and the end-to-end encryption prefix.
pub const FRAGMENT_CAPACITY: usize =
    PacketSize::Regular.plaintext_size() - SURB_ACK_LEN - PAYLOAD_PREFIX_LEN;

/// Ack id of cover traffic's SURB-ACKs (never pending).
const COVER_ACK_ID: u64 = 0;
/// Ack ids are 40 bits on the wire.
const ACK_ID_MASK: u64 = (1 << 40) - 1;

/// Why a message was not accepted.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No route to the recipient.
    #[error("{0}")]
    Route(#[from] RouteError),
    /// Longer than the limit.
    #[error("a message of {len} bytes is longer than the limit of {limit}")]
    TooLong {
        /// The message.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Too much is queued or unacknowledged.
    #[error("{0} fragments are already queued or unacknowledged; try again later")]
    Busy(usize),
    /// Not enough reply SURBs from that sender.
    #[error("the reply needs {need} SURBs but only {have} are left from that sender")]
    NotEnoughSurbs {
        /// Fragments of the reply.
        need: usize,
        /// SURBs held.
        have: usize,
    },
    /// Too many SURBs asked for.
    #[error("at most {0} reply SURBs per message")]
    TooManySurbs(u16),
    /// A SURB could not be made.
    #[error("{0}")]
    Packet(#[from] PacketError),
}

/// A message for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The app's bytes.
    pub payload: Vec<u8>,
    /// Sent as text (valid UTF-8).
    pub text: bool,
    /// For an anonymous message: the tag to reply with.
    pub sender_tag: Option<[u8; 16]>,
    /// An answer to one of our anonymous messages.
    pub is_reply: bool,
}

/// What the core tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole message arrived.
    Received(Received),
    /// A fragment of a message was given up.
    FragmentLost {
        /// The message.
        message_id: u64,
        /// Why.
        reason: String,
    },
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Fragments sent (first transmissions and retransmissions).
    pub real_sent: u64,
    /// Retransmission timers that fired.
    pub retransmissions: u64,
    /// Loop cover packets sent.
    pub loop_cover_sent: u64,
    /// Drop cover packets sent.
    pub drop_cover_sent: u64,
    /// Acks that matched a pending fragment.
    pub acks_received: u64,
    /// Acks for nothing pending (duplicates, late).
    pub stale_acks: u64,
    /// Our loop cover packets and their acks, back.
    pub cover_received: u64,
    /// Messages delivered to the app.
    pub messages_received: u64,
    /// Deliveries that did not decrypt or decode.
    pub undecodable: u64,
    /// Fragments given up.
    pub fragments_lost: u64,
    /// Requests for more SURBs sent to senders.
    pub surb_requests_sent: u64,
    /// SURB top-ups sent answering requests.
    pub surb_top_ups_sent: u64,
    /// SURBs those top-ups carried.
    pub surbs_topped_up: u64,
    /// Reply SURBs dropped unused because their key rotation ended.
    pub surbs_expired: u64,
}

/// What the core holds, by kind: the quantities its limits ([`CoreConfig`]) bound, for
/// metrics and for checking those bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreHoldings {
    /// Fragments queued or waiting for their ack (`max_pending_fragments`).
    pub pending_fragments: usize,
    /// Of those, queued for a transmission slot.
    pub queued: usize,
    /// Retransmission timers set.
    pub timers: usize,
    /// Of the pending fragments, replies parked until the sender's next SURBs.
    pub parked: usize,
    /// Reply keys remembered for SURBs we handed out (`max_reply_keys`).
    pub reply_keys: usize,
    /// Those SURBs, counted per correspondent and summed (equals `reply_keys`).
    pub surbs_handed_out: usize,
    /// The most SURBs one correspondent holds from us (`max_surbs_handed_out` for top-ups).
    pub most_handed_out_to_one: usize,
    /// Senders whose reply SURBs we keep (`max_reply_senders`).
    pub reply_senders: usize,
    /// Reply SURBs kept, from all senders.
    pub reply_surbs: usize,
    /// The most reply SURBs kept from one sender (`max_surbs_per_sender`).
    pub most_reply_surbs_from_one: usize,
    /// Requests for SURBs waiting for an answer.
    pub top_ups_due: usize,
    /// Partial messages in reassembly (`reassembly.max_partial_messages`).
    pub partial_messages: usize,
    /// Their bytes (`reassembly.max_partial_bytes`).
    pub partial_bytes: usize,
    /// Events the driver has not taken yet.
    pub events: usize,
}

#[derive(Clone, Copy)]
enum Target {
    Client(Recipient),
    Reply([u8; 16]),
}

impl Target {
    fn reply_tag(&self) -> Option<[u8; 16]> {
        match self {
            Target::Reply(tag) => Some(*tag),
            Target::Client(_) => None,
        }
    }
}

struct Pending {
    message_id: u64,
    target: Target,
    fragment: Vec<u8>,
    attempts: u32,
    deadline: Option<Duration>,
    /// Queued or parked: waiting for a transmission.
    waiting: bool,
    /// A request for SURBs (may use the kept-back SURBs; never parked).
    control: bool,
}

/// What a SURB we handed out is for: its reply key and whom we gave it to.
struct ReplyKey {
    key: [u8; 16],
    recipient: Recipient,
}

/// The client core.
pub struct ClientCore {
    config: CoreConfig,
    keys: ClientKeys,
    gateway: [u8; 32],
    network: Option<Network>,
    real: PoissonStream,
    loop_cover: Option<PoissonStream>,
    drop_cover: Option<PoissonStream>,
    queue: VecDeque<u64>,
    pending: HashMap<u64, Pending>,
    timers: BTreeSet<(Duration, u64)>,
    next_ack_id: u64,
    reassembler: Reassembler,
    reply_keys: HashMap<[u8; 32], ReplyKey>,
    reply_key_order: VecDeque<[u8; 32]>,
    /// Per correspondent: our SURBs it holds unspent (reply keys remembered for it).
    handed_out: HashMap<Recipient, usize>,
    surbs: HashMap<[u8; 16], VecDeque<ReplySurb>>,
    surb_senders: VecDeque<[u8; 16]>,
    /// Per sender tag: reply fragments waiting for a transmission (queued or parked).
    reply_waiting: HashMap<[u8; 16], usize>,
    /// Per sender tag: reply fragments parked until more SURBs arrive.
    parked: HashMap<[u8; 16], VecDeque<u64>>,
    /// Sender tags we asked for SURBs and have not heard back from.
    surbs_requested: HashSet<[u8; 16]>,
    /// Requests for SURBs to answer (whom, how many), one per correspondent.
    top_ups_due: VecDeque<(Recipient, u16)>,
    tag_secret: [u8; 32],
    /// Set when a topology of a newer key rotation arrives; the next poll starts the grace
    /// of the previous rotation's SURBs.
    rotation_turned: bool,
    /// Until when SURBs of the previous key rotation are still used.
    previous_rotation_until: Duration,
    events: VecDeque<Event>,
    stats: CoreStats,
}

fn bytes<const N: usize>(rng: &mut dyn CoreRngDyn) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

/// Object-safe view of [`CoreRng`] used inside the core.
trait CoreRngDyn: RngCore {}
impl<T: RngCore + ?Sized> CoreRngDyn for T {}

impl ClientCore {
    /// A client with `keys`, registered at the gateway `gateway`, starting at `now`.
    pub fn new(
        config: CoreConfig,
        keys: ClientKeys,
        gateway: [u8; 32],
        now: Duration,
        rng: &mut impl CoreRng,
    ) -> Self {
        let real = PoissonStream::new(config.send_gap, now, rng);
        let loop_cover = config
            .loop_cover_gap
            .map(|g| PoissonStream::new(g, now, rng));
        let drop_cover = config
            .drop_cover_gap
            .map(|g| PoissonStream::new(g, now, rng));
        let reassembler = Reassembler::new(config.reassembly);
        let tag_secret = bytes::<32>(rng);
        Self {
            config,
            keys,
            gateway,
            network: None,
            real,
            loop_cover,
            drop_cover,
            queue: VecDeque::new(),
            pending: HashMap::new(),
            timers: BTreeSet::new(),
            next_ack_id: 1,
            reassembler,
            reply_keys: HashMap::new(),
            handed_out: HashMap::new(),
            reply_key_order: VecDeque::new(),
            surbs: HashMap::new(),
            surb_senders: VecDeque::new(),
            reply_waiting: HashMap::new(),
            parked: HashMap::new(),
            surbs_requested: HashSet::new(),
            top_ups_due: VecDeque::new(),
            tag_secret,
            rotation_turned: false,
            previous_rotation_until: Duration::ZERO,
            events: VecDeque::new(),
            stats: CoreStats::default(),
        }
    }

    /// This client's address.
    pub fn address(&self) -> Recipient {
        self.keys.address(self.gateway)
    }

    /// Counters.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Fragments queued or waiting for their ack.
    pub fn pending_fragments(&self) -> usize {
        self.pending.len()
    }

    /// What the core holds now.
    pub fn holdings(&self) -> CoreHoldings {
        CoreHoldings {
            pending_fragments: self.pending.len(),
            queued: self.queue.len(),
            timers: self.timers.len(),
            parked: self.parked.values().map(VecDeque::len).sum(),
            reply_keys: self.reply_keys.len(),
            surbs_handed_out: self.handed_out.values().sum(),
            most_handed_out_to_one: self.handed_out.values().copied().max().unwrap_or(0),
            reply_senders: self.surbs.len(),
            reply_surbs: self.surbs.values().map(VecDeque::len).sum(),
            most_reply_surbs_from_one: self.surbs.values().map(VecDeque::len).max().unwrap_or(0),
            top_ups_due: self.top_ups_due.len(),
            partial_messages: self.reassembler.partial_messages(),
            partial_bytes: self.reassembler.partial_bytes(),
            events: self.events.len(),
        }
    }

    /// Reply SURBs held from the sender with this tag.
    pub fn reply_surbs(&self, sender_tag: &[u8; 16]) -> usize {
        self.surbs.get(sender_tag).map_or(0, VecDeque::len)
    }

    /// A new verified topology to route over.
    pub fn handle_topology(&mut self, topology: &Topology) {
        let before = self.network.as_ref().and_then(Network::rotation);
        let network = Network::new(topology);
        if let (Some(old), Some(new)) = (before, network.rotation()) {
            self.rotation_turned |= new > old;
        }
        self.network = Some(network);
    }

    /// Drops the reply SURBs whose keys are gone: a SURB of an older rotation than the
    /// topology's, except the previous rotation's for `previous_rotation_surbs_for` after the
    /// client moved on (their first hop still holds that key during the network's overlap).
    fn expire_surbs(&mut self, now: Duration) {
        if std::mem::take(&mut self.rotation_turned) {
            self.previous_rotation_until = now + self.config.previous_rotation_surbs_for;
        }
        let Some(current) = self.network.as_ref().and_then(Network::rotation) else {
            return;
        };
        let grace = now < self.previous_rotation_until;
        let usable = |surb: &ReplySurb| {
            surb.rotation
                .is_none_or(|r| r >= current || (grace && r.saturating_add(1) == current))
        };
        let mut expired = 0u64;
        for held in self.surbs.values_mut() {
            let before = held.len();
            held.retain(usable);
            expired += (before - held.len()) as u64;
        }
        self.stats.surbs_expired += expired;
    }

    fn network(&self) -> Result<&Network, RouteError> {
        self.network.as_ref().ok_or(RouteError::NoTopology)
    }

    /// Queues `payload` for `recipient`; returns the message id.
    pub fn send(
        &mut self,
        recipient: &Recipient,
        payload: Vec<u8>,
        text: bool,
        rng: &mut impl CoreRng,
    ) -> Result<u64, SendError> {
        self.network()?.gateway(&recipient.gateway)?;
        self.check_len(payload.len())?;
        let envelope = Envelope::Message { text, payload };
        self.enqueue(Target::Client(*recipient), &envelope, false, rng)
    }

    /// Queues `payload` for `recipient` with `reply_surbs` SURBs it can answer through
    /// without learning our address.
    pub fn send_anonymous(
        &mut self,
        recipient: &Recipient,
        payload: Vec<u8>,
        text: bool,
        reply_surbs: u16,
        rng: &mut impl CoreRng,
    ) -> Result<u64, SendError> {
        if reply_surbs > self.config.max_reply_surbs_per_message {
            return Err(SendError::TooManySurbs(
                self.config.max_reply_surbs_per_message,
            ));
        }
        self.network()?.gateway(&recipient.gateway)?;
        self.check_len(payload.len())?;
        let surbs = self.make_reply_surbs(reply_surbs, rng)?;
        let keys: Vec<[u8; 16]> = surbs.iter().map(|s| s.key).collect();
        let envelope = Envelope::Anonymous {
            text,
            sender_tag: self.sender_tag(recipient),
            surbs,
            payload,
        };
        let id = self.enqueue(Target::Client(*recipient), &envelope, false, rng)?;
        for key in keys {
            self.remember_reply_key(key, *recipient);
        }
        Ok(id)
    }

    /// Queues an answer to the anonymous sender with `sender_tag`, through its SURBs.
    pub fn reply(
        &mut self,
        sender_tag: &[u8; 16],
        payload: Vec<u8>,
        text: bool,
        rng: &mut impl CoreRng,
    ) -> Result<u64, SendError> {
        self.check_len(payload.len())?;
        let envelope = Envelope::Reply { text, payload };
        let need = envelope
            .encode()
            .len()
            .div_ceil(FRAGMENT_CAPACITY - FRAGMENT_HEADER_LEN)
            .max(1);
        // A sender we never had SURBs from cannot be answered. One whose SURBs ran out can:
        // the reply waits for the SURBs its next message brings (the SOCKS5 client's probes
        // and window updates carry some) and then asks for more.
        if !self.surbs.contains_key(sender_tag) {
            return Err(SendError::NotEnoughSurbs { need, have: 0 });
        }
        let id = self.enqueue(Target::Reply(*sender_tag), &envelope, false, rng)?;
        self.request_surbs_if_low(sender_tag, rng);
        Ok(id)
    }

    fn check_len(&self, len: usize) -> Result<(), SendError> {
        let limit = self.config.reassembly.max_message_bytes;
        if len > limit {
            return Err(SendError::TooLong { len, limit });
        }
        Ok(())
    }

    /// The tag an anonymous message to `recipient` carries: stable per recipient for this
    /// client's run, different across recipients so they cannot link us by it.
    fn sender_tag(&self, recipient: &Recipient) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(b"mixnet-client sender tag v1");
        h.update(self.tag_secret);
        h.update(recipient.identity);
        h.update(recipient.gateway);
        let digest: [u8; 32] = h.finalize().into();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&digest[..16]);
        tag
    }

    /// Splits `envelope` into fragments queued for `target`; `control` ones go first.
    fn enqueue(
        &mut self,
        target: Target,
        envelope: &Envelope,
        control: bool,
        rng: &mut impl CoreRng,
    ) -> Result<u64, SendError> {
        let message_id = loop {
            let id = rng.next_u64();
            if id != COVER_MESSAGE_ID {
                break id;
            }
        };
        let bytes = envelope.encode();
        let fragments =
            split(message_id, &bytes, FRAGMENT_CAPACITY).map_err(|_| SendError::TooLong {
                len: bytes.len(),
                limit: self.config.reassembly.max_message_bytes,
            })?;
        if self.pending.len() + fragments.len() > self.config.max_pending_fragments {
            return Err(SendError::Busy(self.pending.len()));
        }
        let mut ids = Vec::with_capacity(fragments.len());
        for fragment in fragments {
            let ack_id = self.next_ack_id;
            self.next_ack_id = (self.next_ack_id + 1) & ACK_ID_MASK;
            if self.next_ack_id == COVER_ACK_ID {
                self.next_ack_id = 1;
            }
            self.pending.insert(
                ack_id,
                Pending {
                    message_id,
                    target,
                    fragment,
                    attempts: 0,
                    deadline: None,
                    waiting: false,
                    control,
                },
            );
            self.set_waiting(ack_id, true);
            ids.push(ack_id);
        }
        if control {
            for id in ids.into_iter().rev() {
                self.queue.push_front(id);
            }
        } else {
            self.queue.extend(ids);
        }
        Ok(message_id)
    }

    /// When `poll_transmit` has something to do next (a stream's slot or a timer).
    pub fn poll_timeout(&self) -> Duration {
        let mut next = self.real.next_at();
        for s in [&self.loop_cover, &self.drop_cover].into_iter().flatten() {
            next = next.min(s.next_at());
        }
        if let Some((t, _)) = self.timers.first() {
            next = next.min(*t);
        }
        next
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Fires retransmission timers due at `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            p.deadline = None;
            if p.attempts >= self.config.max_attempts {
                let attempts = p.attempts;
                self.lose(id, format!("no ack after {attempts} transmissions"));
                continue;
            }
            self.stats.retransmissions += 1;
            self.set_waiting(id, true);
            self.queue.push_back(id);
        }
    }

    /// Takes a fragment waiting for a transmission out of the queue or the parked replies
    /// (an ack for it arrived after its retransmission timer had put it back in line), so
    /// the queue holds pending fragments only.
    fn unqueue(&mut self, ack_id: u64) {
        let Some(p) = self.pending.get(&ack_id).filter(|p| p.waiting) else {
            return;
        };
        let tag = p.target.reply_tag();
        if let Some(at) = self.queue.iter().position(|&q| q == ack_id) {
            self.queue.remove(at);
        } else if let Some(tag) = tag {
            if let Some(parked) = self.parked.get_mut(&tag) {
                parked.retain(|&q| q != ack_id);
                if parked.is_empty() {
                    self.parked.remove(&tag);
                }
            }
        }
    }

    fn lose(&mut self, ack_id: u64, reason: String) {
        self.unqueue(ack_id);
        self.set_waiting(ack_id, false);
        if let Some(p) = self.pending.remove(&ack_id) {
            if let Some(d) = p.deadline {
                self.timers.remove(&(d, ack_id));
            }
            if let (Some(tag), true) = (p.target.reply_tag(), p.control) {
                // Ask again when next needed.
                self.surbs_requested.remove(&tag);
            }
            self.stats.fragments_lost += 1;
            self.events.push_back(Event::FragmentLost {
                message_id: p.message_id,
                reason,
            });
        }
    }

    /// A delivery from the gateway (message or ack), received at `now`.
    pub fn handle_delivery(&mut self, kind: DeliveryKind, bytes: &[u8], now: Duration) {
        match kind {
            DeliveryKind::Ack => self.handle_ack(bytes),
            DeliveryKind::Message => self.handle_message(bytes, now),
        }
    }

    fn handle_ack(&mut self, bytes: &[u8]) {
        let Some(id) = open_ack(&self.keys.ack_key, bytes) else {
            self.stats.undecodable += 1;
            return;
        };
        if id == COVER_ACK_ID {
            self.stats.cover_received += 1;
            return;
        }
        self.unqueue(id);
        self.set_waiting(id, false);
        match self.pending.remove(&id) {
            Some(p) => {
                if let Some(d) = p.deadline {
                    self.timers.remove(&(d, id));
                }
                self.stats.acks_received += 1;
            }
            None => self.stats.stale_acks += 1,
        }
    }

    fn handle_message(&mut self, bytes: &[u8], now: Duration) {
        let Some((fragment, replier)) = self.open_message(bytes) else {
            self.stats.undecodable += 1;
            return;
        };
        let Some(message) = self.reassemble(&fragment, now) else {
            return;
        };
        let Ok(envelope) = Envelope::decode(&message) else {
            self.stats.undecodable += 1;
            return;
        };
        if let Some(received) = self.handle_envelope(envelope, replier) {
            self.stats.messages_received += 1;
            self.events.push_back(Event::Received(received));
        }
    }

    /// Decrypts a message delivery: a reply through one of our SURBs (with whom we gave
    /// that SURB to) or a message sealed to our key; `None` if it is neither.
    fn open_message(&mut self, bytes: &[u8]) -> Option<(Vec<u8>, Option<Recipient>)> {
        let (prefix, ciphertext) = bytes.split_first_chunk::<PAYLOAD_PREFIX_LEN>()?;
        match self.take_reply_key(prefix) {
            Some(k) => Some((open_reply(&k.key, ciphertext), Some(k.recipient))),
            None => open_from_sender(&self.keys.encryption, bytes).map(|f| (f, None)),
        }
    }

    /// Adds a decrypted fragment to its message; the whole message once complete. Our loop
    /// cover is counted and dropped; a fragment that does not decode or that reassembly
    /// refuses counts as undecodable.
    fn reassemble(&mut self, fragment: &[u8], now: Duration) -> Option<Vec<u8>> {
        let Ok((header, data)) = FragmentHeader::decode(fragment) else {
            self.stats.undecodable += 1;
            return None;
        };
        if header.message_id == COVER_MESSAGE_ID {
            self.stats.cover_received += 1;
            return None;
        }
        match self.reassembler.insert(header, data, now) {
            Reassembled::Complete(m) => Some(m),
            Reassembled::Pending | Reassembled::Duplicate => None,
            Reassembled::Refused(_) => {
                self.stats.undecodable += 1;
                None
            }
        }
    }

    /// Acts on a whole message from `replier` (set when it came through our SURBs): SURB
    /// requests and top-ups are handled here; what is for the app is returned.
    fn handle_envelope(
        &mut self,
        envelope: Envelope,
        replier: Option<Recipient>,
    ) -> Option<Received> {
        match (envelope, replier) {
            (Envelope::SurbRequest { count }, Some(replier)) => {
                // Answered from `poll_transmit`, which has an RNG; one request per
                // correspondent at a time.
                if !self.top_ups_due.iter().any(|(r, _)| *r == replier) {
                    self.top_ups_due.push_back((replier, count));
                }
                None
            }
            (Envelope::SurbTopUp { sender_tag, surbs }, None) => {
                self.surbs_requested.remove(&sender_tag);
                self.keep_surbs(sender_tag, surbs);
                self.unpark(&sender_tag);
                None
            }
            (Envelope::SurbRequest { .. } | Envelope::SurbTopUp { .. }, _) => {
                // A request must come through our SURBs, a top-up must not.
                self.stats.undecodable += 1;
                None
            }
            (Envelope::Message { text, payload }, _) => Some(Received {
                payload,
                text,
                sender_tag: None,
                is_reply: false,
            }),
            (Envelope::Reply { text, payload }, _) => Some(Received {
                payload,
                text,
                sender_tag: None,
                is_reply: true,
            }),
            (
                Envelope::Anonymous {
                    text,
                    sender_tag,
                    surbs,
                    payload,
                },
                _,
            ) => {
                self.keep_surbs(sender_tag, surbs);
                self.unpark(&sender_tag);
                Some(Received {
                    payload,
                    text,
                    sender_tag: Some(sender_tag),
                    is_reply: false,
                })
            }
        }
    }
}
