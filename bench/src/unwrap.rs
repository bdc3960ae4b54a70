//! `bench unwrap`: Sphinx unwrapping on one core, ours against `sphinx-packet`, in one run.
//!
//! Every variant processes the same pool of regular (2413-byte) packets built by
//! `sphinx-packet` for a 3-hop route, as the first (forward) hop. Each call starts from the
//! packet's received bytes, as a node does: `sphinx-packet` parses them (`from_bytes`) and
//! calls `process()`; ours copies them into a working buffer and unwraps in place. Both copy the
//! input once per packet, so the comparison is like for like.
//!
//! Also measured, to explain where the time goes: X25519 alone (x25519-dalek, our single
//! path, our batched path), and the symmetric work alone (`peel_with_shared_secret`: HKDF, MAC,
//! AES-CTR and Lioness, given precomputed shared secrets).

use std::time::Duration;

use router_core::crypto::x25519::{detected_backend, x25519, x25519_batch_with, Backend};
use router_core::sphinx::{
    peel_with_shared_secret, read_alpha, unwrap_in_place, BatchUnwrapper, KeyChoice,
    MultiKeyUnwrapper, SphinxSecretKey,
};
use router_core::wire::PacketSize;
use serde::Serialize;
use sphinx_packet::crypto::PrivateKey;
use sphinx_packet::SphinxPacket;

use crate::fixtures::{build_packet, RouteNode};
use crate::measure::{measure_interleaved, Rate, Variant};

/// Distinct packets cycled through (more than any batch, so batches never repeat a packet).
const POOL: usize = 64;
const BATCH_SIZES: [usize; 4] = [1, 8, 16, 32];

#[derive(Debug, Clone)]
pub struct Options {
    pub rounds: usize,
    pub slice: Duration,
}

#[derive(Serialize)]
pub struct Report {
    pub packet_size: usize,
    pub x25519_backend: String,
    pub method: &'static str,
    /// Packets per second, `sphinx-packet` first; `ratio` is against it.
    pub unwrap: Vec<Row>,
    /// X25519 multiplications per second; `ratio` is against x25519-dalek.
    pub x25519: Vec<Row>,
    /// Microseconds per packet of each part of a batched unwrap (batch of 32).
    pub breakdown_us: Breakdown,
}

#[derive(Serialize)]
pub struct Row {
    pub name: String,
    pub per_second: f64,
    pub min_per_second: f64,
    pub max_per_second: f64,
    pub micros_each: f64,
    pub ratio: f64,
}

#[derive(Serialize)]
pub struct Breakdown {
    pub two_x25519_batched: f64,
    pub symmetric: f64,
    pub other: f64,
    pub total: f64,
}

fn rows(rates: Vec<Rate>) -> Vec<Row> {
    let baseline = rates.first().map(|r| r.per_second).unwrap_or(1.0);
    rates
        .into_iter()
        .map(|r| Row {
            ratio: r.per_second / baseline,
            micros_each: r.nanos_per_item / 1000.0,
            name: r.name,
            per_second: r.per_second,
            min_per_second: r.min_per_second,
            max_per_second: r.max_per_second,
        })
        .collect()
}

pub fn run(options: &Options) -> Result<Report, String> {
    let size = PacketSize::Regular;
    let fixture = Fixture::build(size)?;
    let mut variants = unwrap_variants(&fixture, size);
    let unwrap_rates = measure_interleaved(&mut variants, options.rounds, options.slice);
    drop(variants);
    let backend = detected_backend();
    let mut variants = x25519_variants(&fixture.shared, &fixture.alphas, backend);
    let x_rates = measure_interleaved(&mut variants, options.rounds, options.slice);
    Ok(Report {
        packet_size: size.size(),
        x25519_backend: format!("{backend:?}"),
        method: "interleaved rounds on one core, median of rounds; each packet starts from its received bytes",
        breakdown_us: breakdown(&unwrap_rates, &x_rates),
        unwrap: rows(unwrap_rates),
        x25519: rows(x_rates),
    })
}

/// The packets every variant cycles through, with what the partial variants need.
struct Fixture {
    /// The packets' bytes as received.
    pool: Vec<Vec<u8>>,
    /// The first hop's key, for `sphinx-packet` and for us.
    reference_key: PrivateKey,
    key: SphinxSecretKey,
    /// Each packet's alpha and its shared secret with the first hop.
    alphas: Vec<[u8; 32]>,
    shared: Vec<[u8; 32]>,
}

impl Fixture {
    fn build(size: PacketSize) -> Result<Self, String> {
        let mut pool = Vec::with_capacity(POOL);
        let mut node: Option<RouteNode> = None;
        for _ in 0..POOL {
            // the same route (same keys) each time; sphinx-packet draws a fresh sender secret
            let (nodes, bytes) = build_packet(3, size.payload_size(), 260)
                .map_err(|e| format!("building packets: {e}"))?;
            node = nodes.into_iter().next();
            pool.push(bytes);
        }
        let node = node.ok_or("no route")?;
        let key = SphinxSecretKey::from_bytes(node.secret);
        let alphas: Vec<[u8; 32]> = pool
            .iter()
            .map(|p| read_alpha(p).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let shared = alphas.iter().map(|a| *key.shared_secret(a)).collect();
        Ok(Fixture {
            pool,
            reference_key: PrivateKey::from(node.secret),
            key,
            alphas,
            shared,
        })
    }
}

/// `sphinx-packet`, our single unwrap, our batches, and the symmetric work alone.
fn unwrap_variants<'a>(fixture: &'a Fixture, size: PacketSize) -> Vec<Variant<'a>> {
    let Fixture {
        pool,
        reference_key,
        key,
        shared,
        ..
    } = fixture;
    let mut variants: Vec<Variant<'a>> = Vec::new();
    {
        let mut next = 0usize;
        variants.push(Variant {
            name: "sphinx-packet from_bytes + process".into(),
            items_per_call: 1,
            run: Box::new(move || {
                next = (next + 1) % POOL;
                let packet = SphinxPacket::from_bytes(&pool[next]).expect("pool packets parse");
                std::hint::black_box(packet.process(reference_key).expect("valid packet"));
            }),
        });
    }
    {
        let key = key.clone();
        let mut buf = vec![0u8; size.size()];
        let mut next = 0usize;
        variants.push(Variant {
            name: "router-core unwrap_in_place".into(),
            items_per_call: 1,
            run: Box::new(move || {
                next = (next + 1) % POOL;
                buf.copy_from_slice(&pool[next]);
                std::hint::black_box(unwrap_in_place(&mut buf, &key).expect("valid packet"));
            }),
        });
    }
    for batch in BATCH_SIZES {
        let mut unwrapper = BatchUnwrapper::new(key.clone());
        let mut bufs = vec![vec![0u8; size.size()]; batch];
        let mut results = Vec::with_capacity(batch);
        let mut next = 0usize;
        variants.push(Variant {
            name: format!("router-core batch of {batch}"),
            items_per_call: batch as u64,
            run: Box::new(move || {
                for buf in bufs.iter_mut() {
                    next = (next + 1) % POOL;
                    buf.copy_from_slice(&pool[next]);
                }
                unwrapper.unwrap_batch(&mut bufs, &mut results);
                std::hint::black_box(&results);
            }),
        });
    }
    // During a key rotation's overlap a node holds two keys: the packets' own and another.
    let other = SphinxSecretKey::from_bytes([0x5a; 32]);
    for (name, choice) in [
        // the frame's byte names the packet's key (v8)
        ("2 keys, by byte", KeyChoice::Only(1)),
        // no byte (v7): the newest key first, here the packet's own
        ("2 keys, no byte", KeyChoice::Either { first: 1, then: 0 }),
        // no byte, packets of the previous rotation: every one fails the newest key's MAC
        ("2 keys, retried", KeyChoice::Either { first: 0, then: 1 }),
    ] {
        let keys = [other.clone(), key.clone()];
        let mut unwrapper = MultiKeyUnwrapper::new();
        let mut bufs = vec![vec![0u8; size.size()]; 32];
        let mut results = Vec::with_capacity(32);
        let mut next = 0usize;
        variants.push(Variant {
            name: format!("router-core batch of 32, {name}"),
            items_per_call: 32,
            run: Box::new(move || {
                for buf in bufs.iter_mut() {
                    next = (next + 1) % POOL;
                    buf.copy_from_slice(&pool[next]);
                }
                unwrapper.unwrap_batch_keyed(&mut bufs, &keys, |_| choice, &mut results);
                std::hint::black_box(&results);
            }),
        });
    }
    {
        let mut buf = vec![0u8; size.size()];
        let mut next = 0usize;
        variants.push(Variant {
            name: "symmetric work only (peel_with_shared_secret)".into(),
            items_per_call: 1,
            run: Box::new(move || {
                next = (next + 1) % POOL;
                buf.copy_from_slice(&pool[next]);
                std::hint::black_box(
                    peel_with_shared_secret(&mut buf, &shared[next]).expect("valid packet"),
                );
            }),
        });
    }
    variants
}

/// X25519 alone: x25519-dalek, our single path, our batches on each backend.
fn x25519_variants<'a>(
    scalars: &'a [[u8; 32]],
    alphas: &'a [[u8; 32]],
    backend: Backend,
) -> Vec<Variant<'a>> {
    let mut variants: Vec<Variant<'a>> = Vec::new();
    {
        let mut next = 0usize;
        variants.push(Variant {
            name: "x25519-dalek".into(),
            items_per_call: 1,
            run: Box::new(move || {
                next = (next + 1) % POOL;
                std::hint::black_box(x25519_dalek::x25519(scalars[next], alphas[next]));
            }),
        });
    }
    {
        let mut next = 0usize;
        variants.push(Variant {
            name: "router-core x25519 (single)".into(),
            items_per_call: 1,
            run: Box::new(move || {
                next = (next + 1) % POOL;
                std::hint::black_box(x25519(&scalars[next], &alphas[next]));
            }),
        });
    }
    for (name, chosen) in [("portable", Backend::Portable), ("detected", backend)] {
        let mut out = vec![[0u8; 32]; 32];
        variants.push(Variant {
            name: format!("router-core x25519 batch of 32 ({name}: {chosen:?})"),
            items_per_call: 32,
            run: Box::new(move || {
                x25519_batch_with(chosen, &scalars[..32], &alphas[..32], &mut out)
                    .expect("backend available");
                std::hint::black_box(&out);
            }),
        });
    }
    variants
}

/// Where a batched unwrap's time goes, per packet.
fn breakdown(unwrap_rates: &[Rate], x_rates: &[Rate]) -> Breakdown {
    let micros = |rates: &[Rate], prefix: &str| {
        rates
            .iter()
            .find(|r| r.name.starts_with(prefix))
            .map(|r| r.nanos_per_item / 1000.0)
            .unwrap_or(f64::NAN)
    };
    let total = micros(unwrap_rates, "router-core batch of 32");
    let two_x25519_batched = 2.0 * micros(x_rates, "router-core x25519 batch of 32 (detected");
    let symmetric = micros(unwrap_rates, "symmetric work only");
    Breakdown {
        two_x25519_batched,
        symmetric,
        other: total - two_x25519_batched - symmetric,
        total,
    }
}

/// The report as a table for people.
pub fn print(report: &Report, options: &Options) {
    println!(
        "Sphinx unwrap, {}-byte packets, one core, X25519 backend {} ({} interleaved rounds of {:?}, median)",
        report.packet_size, report.x25519_backend, options.rounds, options.slice
    );
    println!(
        "{:<50} {:>12} {:>10} {:>8}",
        "unwrap", "packets/s", "us/packet", "ratio"
    );
    for row in &report.unwrap {
        println!(
            "{:<50} {:>12.0} {:>10.2} {:>7.2}x",
            row.name, row.per_second, row.micros_each, row.ratio
        );
    }
    println!();
    println!(
        "{:<50} {:>12} {:>10} {:>8}",
        "X25519", "mults/s", "us/mult", "ratio"
    );
    for row in &report.x25519 {
        println!(
            "{:<50} {:>12.0} {:>10.2} {:>7.2}x",
            row.name, row.per_second, row.micros_each, row.ratio
        );
    }
    let b = &report.breakdown_us;
    println!();
    println!(
        "where a batched packet's {:.2} us go: 2 x X25519 {:.2} us, symmetric (HKDF, MAC, AES-CTR, Lioness) {:.2} us, other {:.2} us",
        b.total, b.two_x25519_batched, b.symmetric, b.other
    );
}
