//! The client core on a virtual clock over a simulated mixnet: every packet the core emits is
//! processed hop by hop by `sphinx-packet` (the oracle) with the nodes' keys, the final hop is
//! split as the gateway splits it, and deliveries go back into the cores. Nothing sleeps; the
//! clock is `poll_timeout`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use client::core::{ClientCore, ClientKeys, CoreConfig, Event, Received, Transmit};
use ed25519_dalek::SigningKey;
use gateway_protocol::final_hop;
use gateway_protocol::DeliveryKind;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use router_core::wire::{decode_node_address, KeyRotation, PacketSize};
use sphinx_packet::packet::ProcessedPacketData;
use sphinx_packet::SphinxPacket;
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::rotation::RotationId;
use validator_core::topology::{EpochId, Layer, Topology, TopologyGateway, TopologyMixnode};
use x25519_dalek::{PublicKey, StaticSecret};

struct SimNode {
    secret: StaticSecret,
}

/// Two mixnodes per layer and two gateways, all in memory.
struct Sim {
    nodes: HashMap<SocketAddr, SimNode>,
    topology: Topology,
    gateways: Vec<[u8; 32]>,
    rng: ChaCha20Rng,
    /// Decides, per packet (message or ack) about to be delivered, whether it is lost.
    lose: Box<dyn FnMut(DeliveryKind) -> bool>,
    /// Every message plaintext (after the SURB-ACK) a gateway delivered, by recipient.
    seen_by_gateway: Vec<([u8; 32], Vec<u8>)>,
    /// The virtual clock.
    now: Duration,
    /// The key-rotation byte of every packet a client handed its gateway.
    bytes_sent: Vec<KeyRotation>,
}

fn identity(seed: u8) -> [u8; 32] {
    SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes()
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut nodes = HashMap::new();
        let mut mixnodes = Vec::new();
        let mut gateways_t = Vec::new();
        let mut gateways = Vec::new();
        for i in 0u8..8 {
            let secret = StaticSecret::from([i + 100; 32]);
            let sphinx_key = SphinxKey::from_bytes(PublicKey::from(&secret).to_bytes()).unwrap();
            let address: SocketAddr = format!("127.0.0.{}:{}", i + 1, 1789).parse().unwrap();
            let identity_key = IdentityKey::from_bytes(&identity(i + 50)).unwrap();
            if i < 6 {
                mixnodes.push(TopologyMixnode {
                    identity_key,
                    sphinx_key,
                    next_sphinx_key: None,
                    address,
                    layer: Layer::new(i / 2 + 1).unwrap(),
                    noise_key: None,
                });
            } else {
                gateways.push(identity(i + 50));
                gateways_t.push(TopologyGateway {
                    identity_key,
                    sphinx_key,
                    next_sphinx_key: None,
                    address,
                    clients_address: None,
                    noise_key: None,
                });
            }
            nodes.insert(address, SimNode { secret });
        }
        Sim {
            nodes,
            topology: Topology {
                epoch_id: EpochId(1),
                height: 0,
                valid_from_ms: 0,
                valid_until_ms: u64::MAX,
                rotation: None,
                mixnodes,
                gateways: gateways_t,
            },
            gateways,
            rng: ChaCha20Rng::seed_from_u64(seed),
            lose: Box::new(|_| false),
            seen_by_gateway: Vec::new(),
            now: Duration::ZERO,
            bytes_sent: Vec::new(),
        }
    }

    fn client(&mut self, seed: u8, gateway: usize, config: CoreConfig) -> ClientCore {
        let keys = ClientKeys::from_secrets(&[seed; 32], &[seed + 1; 32], &[seed + 2; 16]);
        let mut core = ClientCore::new(
            config,
            keys,
            self.gateways[gateway],
            Duration::ZERO,
            &mut self.rng,
        );
        core.handle_topology(&self.topology);
        core
    }

    /// Carries one packet through the mixnet; returns deliveries (recipient identity, kind,
    /// bytes). A delivered message's SURB-ACK is carried on too.
    fn carry(&mut self, t: Transmit, out: &mut Vec<([u8; 32], DeliveryKind, Vec<u8>)>) {
        let mut at = t.first_hop;
        let mut packet = SphinxPacket::from_bytes(&t.packet).unwrap();
        let size = PacketSize::from_packet_len(t.packet.len()).unwrap();
        loop {
            let node = self.nodes.get(&at).expect("a node of the topology");
            match packet.process(&node.secret).unwrap().data {
                ProcessedPacketData::ForwardHop {
                    next_hop_packet,
                    next_hop_address,
                    ..
                } => {
                    at = decode_node_address(&next_hop_address.to_bytes()).unwrap();
                    packet = next_hop_packet;
                }
                ProcessedPacketData::FinalHop {
                    destination,
                    payload,
                    ..
                } => {
                    let Ok(plaintext) = payload.recover_plaintext() else {
                        return; // drop cover, or garbage: the gateway drops it
                    };
                    let Ok(hop) = final_hop::split(size, &plaintext) else {
                        return;
                    };
                    if (self.lose)(hop.kind) {
                        return;
                    }
                    let dest = destination.as_bytes();
                    if hop.kind == DeliveryKind::Message {
                        self.seen_by_gateway.push((dest, hop.bytes.to_vec()));
                    }
                    out.push((dest, hop.kind, hop.bytes.to_vec()));
                    if let Some((first_hop, ack)) = hop.ack {
                        let ack = Transmit {
                            first_hop,
                            key_rotation: router_core::wire::KeyRotation::Unknown,
                            packet: ack.to_vec(),
                        };
                        self.carry(ack, out);
                    }
                    return;
                }
            }
        }
    }

    /// Runs the clients for `span` more of the virtual clock (packets arrive at once).
    fn run(&mut self, clients: &mut [&mut ClientCore], span: Duration) {
        let until = self.now + span;
        loop {
            let next = clients.iter().map(|c| c.poll_timeout()).min().unwrap();
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let mut deliveries = Vec::new();
            for c in clients.iter_mut() {
                while let Some(t) = c.poll_transmit(now, &mut self.rng) {
                    self.bytes_sent.push(t.key_rotation);
                    self.carry(t, &mut deliveries);
                }
            }
            for (dest, kind, bytes) in deliveries {
                if let Some(c) = clients.iter_mut().find(|c| c.address().identity == dest) {
                    c.handle_delivery(kind, &bytes, now);
                }
            }
        }
    }
}

fn quiet() -> CoreConfig {
    CoreConfig {
        cover_in_idle_slots: false,
        loop_cover_gap: None,
        ..CoreConfig::default()
    }
}

fn received(c: &mut ClientCore) -> Vec<Received> {
    let mut out = Vec::new();
    while let Some(e) = c.poll_event() {
        match e {
            Event::Received(r) => out.push(r),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[test]
fn a_message_crosses_the_mixnet_to_another_gateway_and_is_acked() {
    let mut sim = Sim::new(1);
    let mut a = sim.client(1, 0, CoreConfig::default());
    let mut b = sim.client(10, 1, CoreConfig::default());
    let to_b = b.address();
    a.send(&to_b, b"hello over the mixnet".to_vec(), true, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(2));
    let got = received(&mut b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"hello over the mixnet");
    assert!(got[0].text && got[0].sender_tag.is_none() && !got[0].is_reply);
    assert_eq!(a.pending_fragments(), 0, "the SURB-ACK came back");
    assert_eq!(a.stats().acks_received, 1);
    assert_eq!(a.stats().retransmissions, 0);
    // The gateway saw only ciphertext.
    let plaintexts: Vec<&Vec<u8>> = sim
        .seen_by_gateway
        .iter()
        .filter(|(d, _)| *d == to_b.identity)
        .map(|(_, b)| b)
        .collect();
    assert!(!plaintexts.is_empty());
    for p in plaintexts {
        assert!(!p.windows(5).any(|w| w == b"hello"));
    }
    // Cover traffic flowed both ways and was recognised, not delivered.
    assert!(a.stats().loop_cover_sent > 0 && a.stats().cover_received > 0);
}

#[test]
fn a_long_message_is_split_over_linked_sets_and_reassembled() {
    let mut sim = Sim::new(2);
    let mut a = sim.client(1, 0, quiet());
    let mut b = sim.client(10, 1, quiet());
    // More than one set of 255 fragments.
    let message: Vec<u8> = (0..450_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    a.send(&b.address(), message.clone(), false, &mut sim.rng)
        .unwrap();
    let fragments = a.pending_fragments();
    assert!(fragments > 255, "{fragments} fragments");
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(30));
    let got = received(&mut b);
    assert_eq!(got.len(), 1);
    assert!(!got[0].text);
    assert!(got[0].payload == message, "reassembled intact");
    assert_eq!(a.pending_fragments(), 0);
}

#[test]
fn retransmission_timers_fire_once_per_lost_fragment() {
    let mut sim = Sim::new(3);
    let mut a = sim.client(1, 0, quiet());
    let mut b = sim.client(10, 1, quiet());
    // Five fragments; the acks of the 2nd and 4th first transmissions are lost.
    let message = vec![9u8; client::core::FRAGMENT_CAPACITY * 4];
    a.send(&b.address(), message.clone(), false, &mut sim.rng)
        .unwrap();
    assert_eq!(a.pending_fragments(), 5);
    let mut acks = 0;
    sim.lose = Box::new(move |kind| {
        if kind == DeliveryKind::Ack {
            acks += 1;
            return acks == 2 || acks == 4;
        }
        false
    });
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(60));
    assert_eq!(a.stats().retransmissions, 2, "one per lost ack");
    assert_eq!(a.stats().real_sent, 7);
    assert_eq!(a.pending_fragments(), 0);
    let got = received(&mut b);
    assert_eq!(got.len(), 1, "the duplicates are not delivered again");
    assert_eq!(got[0].payload, message);
}

#[test]
fn a_late_ack_takes_its_fragment_out_of_the_retransmission_queue() {
    let mut sim = Sim::new(3);
    let mut a = sim.client(1, 0, quiet());
    let b = sim.client(10, 1, quiet());
    a.send(&b.address(), b"late".to_vec(), true, &mut sim.rng)
        .unwrap();
    // Its first transmission, whose ack is lost.
    sim.lose = Box::new(|kind| kind == DeliveryKind::Ack);
    let sent = a.poll_timeout();
    let mut deliveries = Vec::new();
    while let Some(t) = a.poll_transmit(sent, &mut sim.rng) {
        sim.carry(t, &mut deliveries);
    }
    assert_eq!(a.stats().real_sent, 1);
    // The retransmission timer puts it back in line; no slot has taken it yet when the
    // first ack turns up after all (ack id 1: the first fragment's).
    a.handle_timeout(sent + Duration::from_secs(60));
    assert_eq!(a.stats().retransmissions, 1);
    assert_eq!(a.holdings().queued, 1);
    let ack = client::core::crypto::seal_ack(&[1 + 2; 16], [5; 16], 1);
    a.handle_delivery(DeliveryKind::Ack, &ack, sent + Duration::from_secs(60));
    assert_eq!(a.stats().acks_received, 1);
    let held = a.holdings();
    assert_eq!((held.pending_fragments, held.queued), (0, 0), "{held:?}");
}

#[test]
fn a_fragment_nobody_acks_is_given_up_after_the_attempt_limit() {
    let mut sim = Sim::new(4);
    let config = CoreConfig {
        max_attempts: 3,
        ..quiet()
    };
    let mut a = sim.client(1, 0, config);
    let mut b = sim.client(10, 1, quiet());
    sim.lose = Box::new(|_| true);
    let id = a
        .send(&b.address(), b"into the void".to_vec(), true, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(120));
    assert_eq!(a.stats().real_sent, 3);
    assert_eq!(a.stats().retransmissions, 2);
    assert_eq!(a.pending_fragments(), 0);
    match a.poll_event() {
        Some(Event::FragmentLost { message_id, .. }) => assert_eq!(message_id, id),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_anonymous_message_is_answered_through_surbs_without_the_senders_address() {
    let mut sim = Sim::new(5);
    let mut a = sim.client(1, 0, quiet());
    let mut b = sim.client(10, 1, quiet());
    let a_address = a.address();
    a.send_anonymous(&b.address(), b"who am I?".to_vec(), true, 4, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(5));
    let got = received(&mut b);
    assert_eq!(got.len(), 1);
    let tag = got[0].sender_tag.expect("an anonymous message has a tag");
    assert_eq!(b.reply_surbs(&tag), 4);
    // Nothing that reached B names A: not its identity, encryption key or address text.
    for (_, bytes) in sim
        .seen_by_gateway
        .iter()
        .filter(|(d, _)| *d == b.address().identity)
    {
        for secret in [
            &a_address.identity[..],
            &a_address.encryption[..],
            a_address.to_string().as_bytes(),
        ] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret));
        }
    }
    b.reply(&tag, b"an anonymous friend".to_vec(), true, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(5));
    let replies = received(&mut a);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].is_reply);
    assert_eq!(replies[0].payload, b"an anonymous friend");
    assert_eq!(b.reply_surbs(&tag), 3, "one SURB per fragment");
    assert_eq!(b.pending_fragments(), 0, "the reply was acked too");
    assert_eq!(b.stats().surb_requests_sent, 0, "three SURBs were plenty");
}

#[test]
fn a_replier_short_of_surbs_asks_for_more_and_the_whole_reply_arrives_despite_loss() {
    let mut sim = Sim::new(7);
    // Every tenth message packet and ack is lost, so retransmissions spend SURBs too.
    let mut n = 0u32;
    sim.lose = Box::new(move |_| {
        n += 1;
        n.is_multiple_of(10)
    });
    let mut a = sim.client(1, 0, quiet());
    let mut b = sim.client(10, 1, quiet());
    a.send_anonymous(
        &b.address(),
        b"send me a file".to_vec(),
        false,
        3,
        &mut sim.rng,
    )
    .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(10));
    let tag = received(&mut b)[0].sender_tag.unwrap();
    assert_eq!(b.reply_surbs(&tag), 3);
    // 200 fragments' worth, answered with 3 SURBs in hand: the rest must be asked for.
    let file: Vec<u8> = (0..client::core::FRAGMENT_CAPACITY * 200)
        .map(|i| (i % 251) as u8)
        .collect();
    b.reply(&tag, file.clone(), false, &mut sim.rng).unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(120));
    let replies = received(&mut a);
    assert_eq!(replies.len(), 1, "the reply arrived once");
    assert!(replies[0].is_reply);
    assert!(replies[0].payload == file, "the reply arrived intact");
    assert_eq!(b.pending_fragments(), 0, "every fragment was acked");
    let (bs, as_) = (b.stats(), a.stats());
    assert!(bs.retransmissions > 0, "the loss forced retransmissions");
    assert!(
        bs.surb_requests_sent >= 2,
        "more than one request: {}",
        bs.surb_requests_sent
    );
    assert_eq!(
        as_.surb_top_ups_sent, bs.surb_requests_sent,
        "each request that arrived was answered once (lost requests are retransmitted)"
    );
    assert_eq!(bs.fragments_lost, 0);
}

#[test]
fn a_replier_that_asks_for_surbs_without_spending_them_gets_no_more_than_the_cap() {
    let mut sim = Sim::new(11);
    let mut a = sim.client(1, 0, quiet());
    // A greedy replier: it keeps 100 000 SURBs back, so it never spends one on data, and asks
    // for 100 more whenever its last request was answered.
    let greedy = CoreConfig {
        surb_reserve: 100_000,
        surb_headroom: 100_000,
        ..quiet()
    };
    let mut b = sim.client(10, 1, greedy);
    a.send_anonymous(&b.address(), b"hi".to_vec(), false, 3, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(10));
    let tag = received(&mut b)[0].sender_tag.unwrap();
    b.reply(&tag, b"hello back".to_vec(), false, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(300));
    let (sa, sb) = (a.stats(), b.stats());
    // Each request spends one of A's SURBs; B holds the rest: 3 + topped up - requests.
    let held = 3 + sa.surbs_topped_up - sb.surb_requests_sent;
    let cap = CoreConfig::default().max_surbs_handed_out as u64;
    assert!(held <= cap, "B holds {held} of A's SURBs");
    assert!(
        held > cap - 100,
        "the cap, not something else, stopped it: {held}"
    );
    // Past the cap each request (which spent one SURB) gets one: A built no more than the cap
    // plus one per request, however long B keeps asking.
    assert_eq!(sa.surb_top_ups_sent, sb.surb_requests_sent);
    assert!(
        sb.surb_requests_sent > 20,
        "B kept asking: {}",
        sb.surb_requests_sent
    );
    assert!(sa.surbs_topped_up <= cap + sb.surb_requests_sent);
}

#[test]
fn a_reply_with_no_surb_at_all_is_refused() {
    let mut sim = Sim::new(8);
    let mut a = sim.client(1, 0, quiet());
    let mut b = sim.client(10, 1, quiet());
    a.send_anonymous(
        &b.address(),
        b"no way back".to_vec(),
        false,
        0,
        &mut sim.rng,
    )
    .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(5));
    let tag = received(&mut b)[0].sender_tag.unwrap();
    let err = b.reply(&tag, b"hello?".to_vec(), false, &mut sim.rng);
    assert!(
        matches!(
            err,
            Err(client::core::SendError::NotEnoughSurbs { have: 0, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn idle_slots_carry_loop_cover_and_the_real_stream_keeps_its_mean_gap() {
    let mut sim = Sim::new(6);
    let config = CoreConfig {
        loop_cover_gap: None,
        ..CoreConfig::default()
    };
    let mut a = sim.client(1, 0, config);
    let mut b = sim.client(10, 1, quiet());
    // 60 s of virtual time at a 20 ms mean gap: 3000 slots expected, standard deviation
    // sqrt(3000) = 55; five of them is the bound.
    let span = Duration::from_secs(60);
    a.send(
        &b.address(),
        vec![1; client::core::FRAGMENT_CAPACITY * 30],
        false,
        &mut sim.rng,
    )
    .unwrap();
    sim.run(&mut [&mut a, &mut b], span);
    let s = a.stats();
    let slots = s.real_sent + s.loop_cover_sent;
    assert!(
        (slots as f64 - 3000.0).abs() < 275.0,
        "{slots} slots in 60 s"
    );
    assert_eq!(s.real_sent, 31, "the message went out in the same slots");
    assert!(
        s.loop_cover_sent > 2500,
        "idle slots were filled with cover"
    );
    assert_eq!(received(&mut b).len(), 1);
}

#[test]
fn each_retransmission_waits_twice_as_long_as_the_one_before() {
    let mut sim = Sim::new(9);
    sim.lose = Box::new(|_| true);
    let mut a = sim.client(1, 0, quiet());
    let mut b = sim.client(10, 1, quiet());
    a.send(&b.address(), b"anyone?".to_vec(), true, &mut sim.rng)
        .unwrap();
    // The first wait w is 1.5 s plus 1.5 × the route delays (1.5 s < w < 2.8 s here): sends
    // at 0, w, 3w and min(7w, 3w + 10 s); in 20 s that is exactly four. Without the backoff it
    // would be about 12.
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(20));
    assert_eq!(a.stats().real_sent, 4);
    // Then every 10 s (the cap): the fourth went out between 10.5 s and 19.6 s, so by 150 s
    // thirteen more, 17 in all; without the cap it would be 7 (63w > 94 s, 127w > 190 s).
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(130));
    let sent = a.stats().real_sent;
    assert_eq!(sent, 17, "{sent} transmissions in 150 s");
}

#[test]
fn packets_name_their_rotation_and_surbs_expire_with_their_keys() {
    let mut sim = Sim::new(11);
    sim.topology.rotation = Some(RotationId(5));
    let mut a = sim.client(1, 0, quiet());
    let grace = CoreConfig {
        previous_rotation_surbs_for: Duration::from_secs(2),
        ..quiet()
    };
    let mut b = sim.client(10, 1, grace);
    a.send_anonymous(&b.address(), b"hello".to_vec(), true, 6, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(5));
    let tag = received(&mut b)[0].sender_tag.unwrap();
    assert_eq!(b.reply_surbs(&tag), 6);
    assert!(!sim.bytes_sent.is_empty());
    assert!(
        sim.bytes_sent.iter().all(|b| *b == KeyRotation::Odd),
        "every packet of rotation 5 names an odd rotation"
    );

    // Rotation 6 begins: the previous rotation's SURBs still carry a reply for the grace.
    sim.topology.rotation = Some(RotationId(6));
    a.handle_topology(&sim.topology);
    b.handle_topology(&sim.topology);
    sim.bytes_sent.clear();
    b.reply(&tag, b"within the grace".to_vec(), true, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(1));
    assert_eq!(received(&mut a)[0].payload, b"within the grace");
    assert_eq!(b.stats().surbs_expired, 0);
    // The reply went through a SURB of rotation 5: its frame names an odd rotation.
    assert_eq!(sim.bytes_sent, [KeyRotation::Odd]);
    let left = b.reply_surbs(&tag);
    assert!(left > 0);

    // After the grace they are dropped unused: a reply now waits for fresh SURBs.
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(2));
    assert_eq!(b.reply_surbs(&tag), 0);
    assert_eq!(b.stats().surbs_expired, left as u64);
    // A reply now waits (it is not lost) for SURBs of a live rotation.
    sim.bytes_sent.clear();
    b.reply(&tag, b"after the grace".to_vec(), true, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(1));
    assert!(received(&mut a).is_empty());
    assert!(
        sim.bytes_sent.is_empty(),
        "nothing goes out through an expired SURB: {:?}",
        sim.bytes_sent
    );

    // Fresh SURBs (rotation 6) come with a's next message and carry the waiting reply.
    a.send_anonymous(&b.address(), b"more".to_vec(), true, 4, &mut sim.rng)
        .unwrap();
    sim.run(&mut [&mut a, &mut b], Duration::from_secs(5));
    assert_eq!(received(&mut b).len(), 1);
    let replies = received(&mut a);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].payload, b"after the grace");
    assert!(sim.bytes_sent.iter().all(|b| *b == KeyRotation::Even));
}
