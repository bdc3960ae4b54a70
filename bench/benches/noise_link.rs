//! What Noise costs a hop, next to what the hop already does, in one run: the in-place
//! Sphinx unwrap of a regular packet, and the link cipher's work for the same packet's
//! frame (sealed once by the sender, opened once by the receiver) with one frame per Noise
//! message and with sixteen (a batch written at once), in place; and `snow`'s own
//! transport mode on the same bytes, which copies into a second buffer each way.
#![allow(clippy::unwrap_used)]

use bench::fixtures::build_packet;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use router_core::noise::handshake::{initiate, respond, Session, StaticKey};
use router_core::noise::header::HEADER_LEN;
use router_core::noise::transport::OVERHEAD;
use router_core::sphinx::{unwrap_in_place, SphinxSecretKey};
use router_core::wire::PacketSize;

fn sessions() -> (Session, Session) {
    let (a, b) = (
        StaticKey::from_secret([1; 32]),
        StaticKey::from_secret([2; 32]),
    );
    let (waiting, first) = initiate(&a, b.public()).unwrap();
    let (answering, second) = respond(&b, &first[HEADER_LEN..]).unwrap();
    let (third, ours) = waiting.read_second(&second[HEADER_LEN..]).unwrap();
    (ours, answering.read_third(&third[HEADER_LEN..]).unwrap())
}

fn noise(c: &mut Criterion) {
    let size = PacketSize::Regular;
    let frame_len = 4 + size.size();
    let mut group = c.benchmark_group("hop/Regular");
    group.throughput(Throughput::Elements(1));

    let (nodes, bytes) = build_packet(3, size.size() - 348, 260).unwrap();
    let key = SphinxSecretKey::from_bytes(nodes[0].secret);
    group.bench_function("sphinx unwrap_in_place", |b| {
        b.iter_batched_ref(
            || bytes.clone(),
            |buf| unwrap_in_place(buf, &key).unwrap(),
            BatchSize::SmallInput,
        )
    });

    for frames in [1usize, 16] {
        let (mut ours, mut theirs) = sessions();
        let mut message = vec![0x5au8; frames * frame_len + OVERHEAD];
        group.throughput(Throughput::Elements(frames as u64));
        group.bench_function(
            format!("noise seal+open in place, {frames} frame(s)/message"),
            |b| {
                b.iter(|| {
                    ours.transport.seal(&mut message).unwrap();
                    let body = &mut message[HEADER_LEN..];
                    let n = theirs.transport.open(body).unwrap().len();
                    assert_eq!(n, frames * frame_len);
                })
            },
        );
    }

    group.throughput(Throughput::Elements(1));
    let params: snow::params::NoiseParams = "Noise_XKpsk3_25519_AESGCM_SHA256".parse().unwrap();
    let psk = [9u8; 32];
    let responder_secret = [4u8; 32];
    let responder_public = {
        let mut base = [0u8; 32];
        base[0] = 9;
        router_core::crypto::x25519::x25519(&responder_secret, &base)
    };
    let mut i = snow::Builder::new(params.clone())
        .psk(3, &psk)
        .local_private_key(&[3; 32])
        .remote_public_key(&responder_public)
        .build_initiator()
        .unwrap();
    let mut r = snow::Builder::new(params)
        .psk(3, &psk)
        .local_private_key(&responder_secret)
        .build_responder()
        .unwrap();
    let (mut m, mut p) = (vec![0u8; 65_535], vec![0u8; 65_535]);
    let n = i.write_message(&[], &mut m).unwrap();
    r.read_message(&m[..n], &mut p).unwrap();
    let n = r.write_message(&[], &mut m).unwrap();
    i.read_message(&m[..n], &mut p).unwrap();
    let n = i.write_message(&[], &mut m).unwrap();
    r.read_message(&m[..n], &mut p).unwrap();
    let (mut i, mut r) = (
        i.into_transport_mode().unwrap(),
        r.into_transport_mode().unwrap(),
    );
    let frame = vec![0x5au8; frame_len];
    group.bench_function("snow transport write+read (copies), 1 frame/message", |b| {
        b.iter(|| {
            let n = i.write_message(&frame, &mut m).unwrap();
            r.read_message(&m[..n], &mut p).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, noise);
criterion_main!(benches);
