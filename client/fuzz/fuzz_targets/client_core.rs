//! Drives a whole client core ("Bob") with a sequence of steps read with `arbitrary`, against
//! a correspondent ("Alice") who is an attacker: she holds real keys and speaks the real
//! formats, but builds every final-hop plaintext herself. Bob runs under small fuzzed limits
//! on a virtual clock; his packets cross an in-memory mixnet whose nodes unwrap them with
//! `sphinx-packet`, so Alice reads what he sends her (and keeps the reply SURBs it carries)
//! and his acks and loop cover come back to him. The steps:
//!
//! * Alice sends Bob a message: an envelope of any kind (message, anonymous with her own
//!   SURBs or with garbage ones, reply, SURB request, top-up) or raw envelope bytes, split
//!   into fragments under a message id that may collide with earlier ones, sealed to Bob's
//!   key, delivered in a fuzzed order with some resent and some withheld;
//! * Alice answers through one of Bob's SURBs (the same SURB perhaps twice) with any
//!   envelope, sealed with its reply key;
//! * raw deliveries of either kind, and acks sealed with Bob's ack key for ids he may or may
//!   not have used;
//! * Bob sends, sends anonymously with SURBs, or replies to a sender tag he was given (or
//!   one he was not);
//! * the clock moves on and Bob transmits what is due (acks lost or not), or a topology of a
//!   later key rotation arrives.
//!
//! After every step it checks that:
//! * everything Bob holds stays within his limits (pending fragments, reply keys and the
//!   SURBs handed out per correspondent, senders and SURBs kept per sender, partial
//!   messages and bytes), and his per-correspondent count of SURBs handed out adds up to the
//!   reply keys he remembers;
//! * every message Bob hands his app is one Alice sent, with the same bytes, text flag,
//!   sender tag and reply flag, and none is handed over twice: each sent message may be
//!   delivered once;
//! * a message sent whole under a fresh id into an empty reassembly table, within the size
//!   limits, is delivered at once;
//! * his count of messages received matches the messages handed over.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use client::core::crypto::{
    open_from_sender, open_reply, reply_key_digest, seal_ack, seal_reply, seal_to_recipient,
    PAYLOAD_PREFIX_LEN,
};
use client::core::envelope::{Envelope, ReplySurb};
use client::core::fragment::{split, FragmentHeader, Reassembled, Reassembler, ReassemblyLimits};
use client::core::packets::{make_surb, use_surb};
use client::core::route::{delays, Network};
use client::core::{
    ClientCore, ClientKeys, CoreConfig, Event, Received, Recipient, Transmit, FRAGMENT_CAPACITY,
};
use gateway_protocol::{final_hop, DeliveryKind};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use router_core::wire::{decode_node_address, KeyRotation, PacketSize};
use sphinx_packet::packet::ProcessedPacketData;
use sphinx_packet::SphinxPacket;
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::rotation::RotationId;
use validator_core::topology::{EpochId, Layer, Topology, TopologyGateway, TopologyMixnode};
use x25519_dalek::{PublicKey, StaticSecret};

/// The mixnet: six mixnodes in three layers and two gateways, with their Sphinx secrets.
struct Net {
    secrets: HashMap<SocketAddr, StaticSecret>,
    mixnodes: Vec<TopologyMixnode>,
    gateways: Vec<TopologyGateway>,
}

impl Net {
    fn topology(&self, rotation: Option<u64>) -> Topology {
        Topology {
            epoch_id: EpochId(1),
            height: 0,
            valid_from_ms: 0,
            valid_until_ms: u64::MAX,
            rotation: rotation.map(RotationId),
            mixnodes: self.mixnodes.clone(),
            gateways: self.gateways.clone(),
        }
    }

    fn gateway(&self, i: usize) -> [u8; 32] {
        *self.gateways[i].identity_key.as_bytes()
    }
}

fn net() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(|| {
        let mut net = Net {
            secrets: HashMap::new(),
            mixnodes: Vec::new(),
            gateways: Vec::new(),
        };
        for i in 0u8..8 {
            let secret = StaticSecret::from([i + 100; 32]);
            let sphinx_key = SphinxKey::from_bytes(PublicKey::from(&secret).to_bytes())
                .expect("an x25519 public key");
            let address: SocketAddr = SocketAddr::from(([127, 0, 0, i + 1], 1789));
            let identity = ed25519_dalek::SigningKey::from_bytes(&[i + 50; 32])
                .verifying_key()
                .to_bytes();
            let identity_key = IdentityKey::from_bytes(&identity).expect("an ed25519 key");
            if i < 6 {
                net.mixnodes.push(TopologyMixnode {
                    identity_key,
                    sphinx_key,
                    next_sphinx_key: None,
                    address,
                    layer: Layer::new(i / 2 + 1).expect("layers 1 to 3"),
                    noise_key: None,
                });
            } else {
                net.gateways.push(TopologyGateway {
                    identity_key,
                    sphinx_key,
                    next_sphinx_key: None,
                    address,
                    clients_address: None,
                    noise_key: None,
                });
            }
            net.secrets.insert(address, secret);
        }
        net
    })
}

fn alice_keys() -> ClientKeys {
    ClientKeys::from_secrets(&[1; 32], &[2; 32], &[3; 16])
}

fn bob_keys() -> ClientKeys {
    ClientKeys::from_secrets(&[4; 32], &[5; 32], &[6; 16])
}

/// What arrives at a client's gateway and is pushed to it: (client identity, kind, bytes).
type Delivery = ([u8; 32], DeliveryKind, Vec<u8>);

/// Carries a packet through the mixnet as the nodes and the exit gateway would; the final
/// hop's SURB-ACK, if any, is carried on too.
fn carry(t: &Transmit, out: &mut Vec<Delivery>) {
    let net = net();
    let Ok(mut packet) = SphinxPacket::from_bytes(&t.packet) else {
        return;
    };
    let Some(size) = PacketSize::from_packet_len(t.packet.len()) else {
        return;
    };
    let mut at = t.first_hop;
    // A route is at most the three layers and a gateway: a longer one is not ours.
    for _ in 0..4 {
        let Some(secret) = net.secrets.get(&at) else {
            return;
        };
        let Ok(processed) = packet.process(secret) else {
            return;
        };
        match processed.data {
            ProcessedPacketData::ForwardHop {
                next_hop_packet,
                next_hop_address,
                ..
            } => {
                let Ok(next) = decode_node_address(&next_hop_address.to_bytes()) else {
                    return;
                };
                at = next;
                packet = next_hop_packet;
            }
            ProcessedPacketData::FinalHop {
                destination,
                payload,
                ..
            } => {
                let Ok(plaintext) = payload.recover_plaintext() else {
                    return;
                };
                let Ok(hop) = final_hop::split(size, &plaintext) else {
                    return;
                };
                out.push((destination.as_bytes(), hop.kind, hop.bytes.to_vec()));
                if let Some((first_hop, ack)) = hop.ack {
                    let ack = Transmit {
                        first_hop,
                        key_rotation: KeyRotation::Unknown,
                        packet: ack.to_vec(),
                    };
                    carry(&ack, out);
                }
                return;
            }
        }
    }
}

/// What Bob's app sees of a message: bytes, text flag, sender tag, reply flag.
type Seen = (Vec<u8>, bool, Option<[u8; 16]>, bool);

fn seen(r: &Received) -> Seen {
    (r.payload.clone(), r.text, r.sender_tag, r.is_reply)
}

fn summary(r: &Received) -> String {
    format!(
        "{} bytes, text {}, sender tag {:?}, reply {}",
        r.payload.len(),
        r.text,
        r.sender_tag,
        r.is_reply
    )
}

/// Alice's next message, split.
struct Outgoing {
    fragments: Vec<Vec<u8>>,
    /// Bytes of the envelope.
    len: usize,
    /// Under an id Alice had not used.
    fresh: bool,
    /// Something Bob's app would see.
    deliverable: bool,
}

struct Run {
    bob: ClientCore,
    config: CoreConfig,
    rng: ChaCha20Rng,
    now: Duration,
    rotation: Option<u64>,
    network: Network,
    alice: Recipient,
    alice_keys: ClientKeys,
    bob_encryption: [u8; 32],
    bob_ack_key: [u8; 16],
    /// Alice's reassembly of what Bob sends her.
    alice_inbox: Reassembler,
    /// The reply keys of the real SURBs Alice gave Bob, by digest.
    alice_reply_keys: HashMap<[u8; 32], [u8; 16]>,
    /// Bob's SURBs Alice collected.
    bob_surbs: Vec<ReplySurb>,
    /// Sender tags Bob was given SURBs under.
    tags: Vec<[u8; 16]>,
    /// Messages Alice sent under fresh ids that Bob may hand his app, with how many times.
    deliverable: HashMap<Seen, usize>,
    /// Messages she sent under ids she had used before: Bob hands them over if he never
    /// completed a message under that id (the first was withheld or refused).
    reused: HashMap<Seen, usize>,
    /// Message ids Alice has used.
    used_ids: HashSet<u64>,
    next_id: u64,
    /// Alice reused a message id or forged fragments: fragments of different messages may
    /// combine into one nobody sent (reassembly cannot tell), so a message Bob hands over
    /// that Alice did not send is no longer an error.
    loose: bool,
    handed_over: u64,
}

impl Run {
    fn check(&mut self) {
        while let Some(event) = self.bob.poll_event() {
            if let Event::Received(received) = event {
                let key = seen(&received);
                let take = |m: &mut HashMap<Seen, usize>| match m.get_mut(&key) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                };
                if !take(&mut self.deliverable) && !take(&mut self.reused) {
                    let sent =
                        self.deliverable.contains_key(&key) || self.reused.contains_key(&key);
                    assert!(
                        !sent,
                        "Bob handed over a message twice: {}",
                        summary(&received)
                    );
                    assert!(
                        self.loose,
                        "Bob handed over a message nobody sent: {}",
                        summary(&received)
                    );
                }
                self.handed_over += 1;
            }
        }
        let h = self.bob.holdings();
        let c = &self.config;
        assert!(h.pending_fragments <= c.max_pending_fragments, "{h:?}");
        assert!(h.queued <= h.pending_fragments, "{h:?}");
        assert!(h.timers <= h.pending_fragments, "{h:?}");
        assert!(h.parked <= h.pending_fragments, "{h:?}");
        assert!(h.reply_keys <= c.max_reply_keys, "{h:?}");
        assert_eq!(h.surbs_handed_out, h.reply_keys, "{h:?}");
        assert!(h.reply_senders <= c.max_reply_senders, "{h:?}");
        assert!(
            h.most_reply_surbs_from_one <= c.max_surbs_per_sender,
            "{h:?}"
        );
        assert!(
            h.partial_messages <= c.reassembly.max_partial_messages,
            "{h:?}"
        );
        assert!(h.partial_bytes <= c.reassembly.max_partial_bytes, "{h:?}");
        assert_eq!(h.events, 0);
        assert_eq!(self.bob.stats().messages_received, self.handed_over);
    }

    /// What Bob's app would see of an envelope, if anything.
    fn app_view(envelope: &Envelope) -> Option<Seen> {
        match envelope.clone() {
            Envelope::Message { text, payload } => Some((payload, text, None, false)),
            Envelope::Reply { text, payload } => Some((payload, text, None, true)),
            Envelope::Anonymous {
                text,
                sender_tag,
                payload,
                ..
            } => Some((payload, text, Some(sender_tag), false)),
            Envelope::SurbRequest { .. } | Envelope::SurbTopUp { .. } => None,
        }
    }

    fn envelope(&mut self, u: &mut Unstructured) -> Result<Envelope> {
        let text = u.arbitrary::<bool>()?;
        let len = u.int_in_range(0..=2500usize)?;
        let payload = if text {
            // Text must be UTF-8 to be delivered: letters, so that lengths stay fuzzed.
            (0..len)
                .map(|_| Ok(b'a' + u.int_in_range(0..=25u8)?))
                .collect::<Result<Vec<u8>>>()?
        } else {
            let mut p = u.bytes(len.min(u.len()))?.to_vec();
            p.resize(len, 0);
            p
        };
        Ok(match u.int_in_range(0..=4u8)? {
            0 => Envelope::Message { text, payload },
            1 => {
                let sender_tag = [u.int_in_range(0..=3u8)?; 16];
                let surbs = self.alice_surbs(u)?;
                if !self.tags.contains(&sender_tag) {
                    self.tags.push(sender_tag);
                }
                Envelope::Anonymous {
                    text,
                    sender_tag,
                    surbs,
                    payload,
                }
            }
            2 => Envelope::Reply { text, payload },
            3 => Envelope::SurbRequest {
                count: u.arbitrary()?,
            },
            _ => Envelope::SurbTopUp {
                sender_tag: [u.int_in_range(0..=3u8)?; 16],
                surbs: self.alice_surbs(u)?,
            },
        })
    }

    /// SURBs Alice hands Bob: real ones back to her, or bytes that are not SURBs.
    fn alice_surbs(&mut self, u: &mut Unstructured) -> Result<Vec<ReplySurb>> {
        let count = u.int_in_range(0..=3usize)?;
        let mut surbs = Vec::with_capacity(count);
        for _ in 0..count {
            let key: [u8; 16] = u.arbitrary()?;
            let rotation = if u.arbitrary()? {
                self.rotation
            } else {
                u.arbitrary()?
            };
            let surb = if u.arbitrary()? {
                let own = self
                    .network
                    .gateway(&self.alice.gateway)
                    .expect("Alice's gateway is in the topology");
                let route = self
                    .network
                    .route_to(own, &mut self.rng)
                    .expect("a route to Alice");
                let (d, _) = delays(&route, Duration::from_millis(1), &mut self.rng);
                self.alice_reply_keys.insert(reply_key_digest(&key), key);
                make_surb(&route, d, self.alice.identity, u.arbitrary()?)
                    .expect("a SURB over a valid route")
            } else {
                let len = u.int_in_range(0..=600usize)?;
                u.bytes(len.min(u.len()))?.to_vec()
            };
            surbs.push(ReplySurb {
                surb,
                key,
                rotation,
            });
        }
        Ok(surbs)
    }

    /// Alice's next message, an envelope or raw envelope bytes, split under a fresh id or,
    /// now and then, one she used before.
    fn outgoing(&mut self, u: &mut Unstructured) -> Result<Option<Outgoing>> {
        let (bytes, view) = if u.arbitrary::<bool>()? {
            let envelope = self.envelope(u)?;
            (envelope.encode(), Self::app_view(&envelope))
        } else {
            let len = u.int_in_range(0..=600usize)?;
            let bytes = u.bytes(len.min(u.len()))?.to_vec();
            let view = Envelope::decode(&bytes)
                .ok()
                .as_ref()
                .and_then(Self::app_view);
            (bytes, view)
        };
        let id = if !self.used_ids.is_empty() && u.ratio(1, 8)? {
            let used: Vec<u64> = self.used_ids.iter().copied().collect();
            used[u.int_in_range(0..=used.len() - 1)?]
        } else {
            self.next_id += 1;
            self.next_id
        };
        let fresh = self.used_ids.insert(id);
        self.loose |= !fresh;
        let Ok(fragments) = split(id, &bytes, FRAGMENT_CAPACITY) else {
            return Ok(None);
        };
        let within = bytes.len() <= self.config.reassembly.max_message_bytes;
        let deliverable = match view {
            Some(view) if within && fresh => {
                *self.deliverable.entry(view).or_default() += 1;
                true
            }
            Some(view) if within => {
                *self.reused.entry(view).or_default() += 1;
                false
            }
            _ => false,
        };
        Ok(Some(Outgoing {
            fragments,
            len: bytes.len(),
            fresh,
            deliverable,
        }))
    }

    fn alice_sends(&mut self, u: &mut Unstructured) -> Result<()> {
        let Some(out) = self.outgoing(u)? else {
            return Ok(());
        };
        let limits = &self.config.reassembly;
        // Sent whole under a fresh id into an empty table, within the limits: it must
        // complete with its last fragment.
        let must_complete = out.fresh
            && out.deliverable
            && self.bob.holdings().partial_messages == 0
            && out.len <= limits.max_message_bytes
            && out.len <= limits.max_partial_bytes;
        let mut sealed = Vec::with_capacity(out.fragments.len());
        for f in &out.fragments {
            sealed.push(seal_to_recipient(u.arbitrary()?, &self.bob_encryption, f));
        }
        let mut order: Vec<usize> = (0..sealed.len()).collect();
        if u.arbitrary::<bool>()? {
            for i in (1..order.len()).rev() {
                order.swap(i, u.int_in_range(0..=i)?);
            }
        }
        let withhold = !order.is_empty() && u.arbitrary::<bool>()?;
        if withhold {
            order.remove(u.int_in_range(0..=order.len() - 1)?);
        }
        for _ in 0..u.int_in_range(0..=2usize)? {
            if let Some(&i) = order.first() {
                order.push(i);
            }
        }
        let before = self.handed_over;
        for &i in &order {
            self.bob
                .handle_delivery(DeliveryKind::Message, &sealed[i], self.now);
            self.check();
        }
        if must_complete && !withhold {
            assert_eq!(
                self.handed_over,
                before + 1,
                "a whole message sent into an empty table was not handed over"
            );
        }
        Ok(())
    }

    /// Alice answers through Bob's SURBs, one per fragment (spent ones too).
    fn alice_replies(&mut self, u: &mut Unstructured) -> Result<()> {
        if self.bob_surbs.is_empty() {
            return Ok(());
        }
        let Some(out) = self.outgoing(u)? else {
            return Ok(());
        };
        let mut deliveries = Vec::new();
        for f in &out.fragments {
            let i = u.int_in_range(0..=self.bob_surbs.len() - 1)?;
            let surb = &self.bob_surbs[i];
            let sealed = seal_reply(&surb.key, f);
            if let Ok(t) = use_surb(&surb.surb, &sealed, KeyRotation::Unknown) {
                carry(&t, &mut deliveries);
            }
            if u.arbitrary()? {
                // Spent: gone from Alice's hand, whatever she sent through it.
                self.bob_surbs.swap_remove(i);
                if self.bob_surbs.is_empty() {
                    break;
                }
            }
        }
        self.to_bob(deliveries);
        Ok(())
    }

    /// Bob's deliveries from the mixnet; Alice's are read by Alice.
    fn to_bob(&mut self, deliveries: Vec<Delivery>) {
        let bob = self.bob.address().identity;
        for (to, kind, bytes) in deliveries {
            if to == bob {
                self.bob.handle_delivery(kind, &bytes, self.now);
                self.check();
            } else if to == self.alice.identity && kind == DeliveryKind::Message {
                self.alice_reads(&bytes);
            }
        }
    }

    /// Alice decrypts what Bob sent her (through her SURBs or not) and keeps the SURBs in
    /// it. Bob's own messages always decode.
    fn alice_reads(&mut self, bytes: &[u8]) {
        let Some((prefix, ciphertext)) = bytes.split_first_chunk::<PAYLOAD_PREFIX_LEN>() else {
            panic!("Bob sent Alice {} bytes", bytes.len());
        };
        let fragment = match self.alice_reply_keys.get(prefix).copied() {
            Some(key) => open_reply(&key, ciphertext),
            None => open_from_sender(&self.alice_keys.encryption, bytes).expect("long enough"),
        };
        let (header, data) = FragmentHeader::decode(&fragment).expect("Bob's fragments decode");
        if let Reassembled::Complete(message) = self.alice_inbox.insert(header, data, self.now) {
            match Envelope::decode(&message) {
                Ok(Envelope::Anonymous { surbs, .. } | Envelope::SurbTopUp { surbs, .. }) => {
                    self.bob_surbs.extend(surbs);
                    self.bob_surbs.truncate(64);
                }
                Ok(_) => {}
                Err(e) => panic!("Bob sent Alice an envelope that does not decode: {e}"),
            }
        }
    }

    fn bob_runs(&mut self, u: &mut Unstructured) -> Result<()> {
        self.now += Duration::from_millis(u.int_in_range(0..=30_000u64)?);
        let lose_acks = u.arbitrary::<bool>()?;
        let mut deliveries = Vec::new();
        // Bounded: cover keeps coming while the clock stands still.
        for _ in 0..64 {
            let Some(t) = self.bob.poll_transmit(self.now, &mut self.rng) else {
                break;
            };
            carry(&t, &mut deliveries);
        }
        if lose_acks {
            deliveries.retain(|(_, kind, _)| *kind != DeliveryKind::Ack);
        }
        self.check();
        self.to_bob(deliveries);
        Ok(())
    }

    fn bob_sends(&mut self, u: &mut Unstructured) -> Result<()> {
        let payload = vec![0x42; u.int_in_range(0..=3000usize)?];
        let text = u.arbitrary()?;
        let _ = match u.int_in_range(0..=2u8)? {
            0 => self.bob.send(&self.alice, payload, text, &mut self.rng),
            1 => {
                let surbs = u.int_in_range(0..=4u16)?;
                self.bob
                    .send_anonymous(&self.alice, payload, text, surbs, &mut self.rng)
            }
            _ => {
                let tag = if !self.tags.is_empty() && u.arbitrary()? {
                    self.tags[u.int_in_range(0..=self.tags.len() - 1)?]
                } else {
                    u.arbitrary()?
                };
                self.bob.reply(&tag, payload, text, &mut self.rng)
            }
        };
        self.check();
        Ok(())
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let net = net();
    let config = CoreConfig {
        per_hop_delay: Duration::from_millis(u.int_in_range(0..=50u64)?),
        send_gap: Duration::from_millis(u.int_in_range(1..=100u64)?),
        cover_in_idle_slots: u.arbitrary()?,
        loop_cover_gap: if u.arbitrary()? {
            Some(Duration::from_millis(u.int_in_range(1..=1000u64)?))
        } else {
            None
        },
        drop_cover_gap: None,
        max_attempts: u.int_in_range(1..=4u32)?,
        max_pending_fragments: u.int_in_range(1..=32usize)?,
        max_surbs_per_sender: u.int_in_range(1..=6usize)?,
        max_reply_senders: u.int_in_range(1..=3usize)?,
        max_reply_keys: u.int_in_range(1..=12usize)?,
        max_surbs_handed_out: u.int_in_range(1..=6usize)?,
        max_reply_surbs_per_message: u.int_in_range(0..=4u16)?,
        surb_headroom: u.int_in_range(0..=3usize)?,
        surb_request_size: u.int_in_range(1..=4u16)?,
        surb_reserve: u.int_in_range(0..=2usize)?,
        reassembly: ReassemblyLimits {
            max_message_bytes: u.int_in_range(0..=8000usize)?,
            max_partial_messages: u.int_in_range(1..=4usize)?,
            max_partial_bytes: u.int_in_range(0..=12_000usize)?,
            partial_timeout: Duration::from_secs(u.int_in_range(1..=60u64)?),
            remembered_completed: 1024,
        },
        previous_rotation_surbs_for: Duration::from_millis(u.int_in_range(0..=5000u64)?),
        ..CoreConfig::default()
    };
    let mut rng = ChaCha20Rng::seed_from_u64(u.arbitrary()?);
    let rotation = if u.arbitrary()? { Some(7) } else { None };
    let topology = net.topology(rotation);
    let keys = bob_keys();
    let bob_encryption = keys.encryption_public();
    let mut bob = ClientCore::new(
        config.clone(),
        keys,
        net.gateway(0),
        Duration::ZERO,
        &mut rng,
    );
    bob.handle_topology(&topology);
    let alice_keys = alice_keys();
    let alice = alice_keys.address(net.gateway(1));
    let mut run = Run {
        bob,
        config,
        rng,
        now: Duration::ZERO,
        rotation,
        network: Network::new(&topology),
        alice,
        alice_keys,
        bob_encryption,
        bob_ack_key: *bob_keys().ack_key,
        alice_inbox: Reassembler::new(ReassemblyLimits::default()),
        bob_surbs: Vec::new(),
        alice_reply_keys: HashMap::new(),
        tags: Vec::new(),
        deliverable: HashMap::new(),
        reused: HashMap::new(),
        used_ids: HashSet::new(),
        next_id: 0,
        loose: false,
        handed_over: 0,
    };
    // Bounded: each step costs Sphinx work.
    for _ in 0..24 {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=7u8)? {
            0 | 1 => run.alice_sends(u)?,
            2 => run.alice_replies(u)?,
            3 => {
                let kind = if u.arbitrary()? {
                    DeliveryKind::Ack
                } else {
                    DeliveryKind::Message
                };
                let len = u.int_in_range(0..=400usize)?;
                let bytes = u.bytes(len.min(u.len()))?.to_vec();
                // Bytes that decrypt to a fragment by chance could join a partial message.
                run.loose |= kind == DeliveryKind::Message;
                run.bob.handle_delivery(kind, &bytes, run.now);
                run.check();
            }
            4 => {
                let id = if u.arbitrary()? {
                    u.int_in_range(0..=40u64)?
                } else {
                    u.arbitrary()?
                };
                let ack = seal_ack(&run.bob_ack_key, u.arbitrary()?, id);
                run.bob.handle_delivery(DeliveryKind::Ack, &ack, run.now);
                run.check();
            }
            5 => run.bob_sends(u)?,
            6 => run.bob_runs(u)?,
            _ => {
                // The next key rotation (or the first, on a chain that starts rotating).
                run.rotation = Some(run.rotation.map_or(1, |r| r + 1));
                let topology = net.topology(run.rotation);
                run.network = Network::new(&topology);
                run.bob.handle_topology(&topology);
                run.check();
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
