//! In-place unwrap against `sphinx-packet`'s `process()`, on identical packets, in one run.
//!
//! Both sides are timed on processing only: `sphinx-packet` is given an already parsed packet
//! (parsing happens in the untimed setup), ours a fresh copy of the bytes.
#![allow(clippy::unwrap_used)]

use bench::fixtures::build_packet;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use router_core::sphinx::{unwrap_in_place, SphinxSecretKey};
use router_core::wire::PacketSize;
use sphinx_packet::crypto::PrivateKey;
use sphinx_packet::SphinxPacket;

fn unwrap(c: &mut Criterion) {
    for size in [PacketSize::Regular, PacketSize::Ack, PacketSize::Extended32] {
        let mut group = c.benchmark_group(format!("unwrap/{size:?}"));
        group.throughput(Throughput::Elements(1));
        // a 3-hop route; the first hop is a forward hop, as at every mixnode
        let (nodes, bytes) = build_packet(3, size.size() - 348, 260).unwrap();
        let reference_key = PrivateKey::from(nodes[0].secret);
        let our_key = SphinxSecretKey::from_bytes(nodes[0].secret);

        group.bench_function("sphinx-packet process", |b| {
            b.iter_batched(
                || SphinxPacket::from_bytes(&bytes).unwrap(),
                |packet| packet.process(&reference_key).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("router-core unwrap_in_place", |b| {
            b.iter_batched_ref(
                || bytes.clone(),
                |buf| unwrap_in_place(buf, &our_key).unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, unwrap);
criterion_main!(benches);
