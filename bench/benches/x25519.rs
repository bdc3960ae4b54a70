//! X25519: x25519-dalek single vs this crate's single and batched backends.
//!
//! `cargo bench --bench x25519` runs the Criterion groups (batched groups use
//! `Throughput::Elements(n)`, so Criterion's "thrpt" is multiplications per
//! second) and then prints a per-multiplication summary table with the
//! speed-up over `x25519_dalek::x25519`.

#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use router_core::crypto::x25519::{x25519, x25519_batch_with, Backend};

const SIZES: [usize; 4] = [8, 16, 32, 64];

fn inputs(n: usize) -> (Vec<[u8; 32]>, Vec<[u8; 32]>) {
    // Fixed pseudo-random inputs (xorshift); valid-looking u-coordinates are
    // not needed: the cost is input independent.
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut bytes = || {
        let mut b = [0u8; 32];
        for c in b.chunks_exact_mut(8) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            c.copy_from_slice(&s.to_le_bytes());
        }
        b
    };
    let k = (0..n).map(|_| bytes()).collect();
    let u = (0..n).map(|_| bytes()).collect();
    (k, u)
}

fn backends() -> Vec<Backend> {
    [Backend::Portable, Backend::Avx512Ifma]
        .into_iter()
        .filter(|b| {
            let ok = b.is_available();
            if !ok {
                eprintln!("note: {b:?} not available on this CPU, skipped");
            }
            ok
        })
        .collect()
}

fn bench_single(c: &mut Criterion) {
    let (k, u) = inputs(1);
    let mut g = c.benchmark_group("x25519_single");
    g.throughput(Throughput::Elements(1));
    g.bench_function("x25519_dalek", |b| {
        b.iter(|| x25519_dalek::x25519(black_box(k[0]), black_box(u[0])))
    });
    g.bench_function("ours", |b| {
        b.iter(|| x25519(black_box(&k[0]), black_box(&u[0])))
    });
    for be in backends() {
        let mut out = [[0u8; 32]; 1];
        g.bench_function(BenchmarkId::new("batch_of_1", format!("{be:?}")), |b| {
            b.iter(|| x25519_batch_with(be, black_box(&k), black_box(&u), &mut out).unwrap())
        });
    }
    g.finish();
}

fn bench_batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("x25519_batch");
    for n in SIZES {
        let (k, u) = inputs(n);
        let mut out = vec![[0u8; 32]; n];
        g.throughput(Throughput::Elements(n as u64));
        for be in backends() {
            g.bench_with_input(BenchmarkId::new(format!("{be:?}"), n), &n, |b, _| {
                b.iter(|| x25519_batch_with(be, black_box(&k), black_box(&u), &mut out).unwrap())
            });
        }
    }
    g.finish();
}

/// A variant timed by [`summary`]: name, multiplications per call, call.
type Variant<'a> = (String, usize, Box<dyn FnMut() + 'a>);

/// Minimum ns per multiplication over many short samples, variants
/// interleaved round-robin. The minimum is used because the machine is
/// shared: it is the sample least disturbed by other processes.
fn summary() {
    let (k, u) = inputs(64);
    let mut outs: Vec<Vec<[u8; 32]>> = Vec::new();
    let mut variants: Vec<Variant<'_>> = vec![
        (
            "x25519_dalek::x25519".into(),
            1,
            Box::new(|| {
                black_box(x25519_dalek::x25519(black_box(k[0]), black_box(u[0])));
            }),
        ),
        (
            "x25519 (single)".into(),
            1,
            Box::new(|| {
                black_box(x25519(black_box(&k[0]), black_box(&u[0])));
            }),
        ),
    ];
    let mut cfg = Vec::new();
    for be in backends() {
        for n in [1, 8, 16, 32, 64] {
            cfg.push((be, n));
            outs.push(vec![[0u8; 32]; n]);
        }
    }
    for ((be, n), out) in cfg.into_iter().zip(outs.iter_mut()) {
        let (k, u) = (&k, &u);
        variants.push((
            format!("x25519_batch_with({be:?}, n={n})"),
            n,
            Box::new(move || {
                x25519_batch_with(be, black_box(&k[..n]), black_box(&u[..n]), out).unwrap();
            }),
        ));
    }
    let mut best = vec![f64::INFINITY; variants.len()];
    let rounds: usize = std::env::var("X25519_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    for _ in 0..rounds {
        for (i, (_, per_call, f)) in variants.iter_mut().enumerate() {
            // At least ~2 ms per sample.
            let t = Instant::now();
            let mut calls = 0usize;
            while t.elapsed() < Duration::from_millis(2) {
                f();
                calls += 1;
            }
            let ns = t.elapsed().as_nanos() as f64 / (calls * *per_call) as f64;
            best[i] = best[i].min(ns);
        }
    }
    let dalek = best[0];
    println!("\nper-multiplication summary (minimum over {rounds} interleaved samples):");
    println!("{:<36} {:>10} {:>14}", "variant", "ns/op", "dalek / this");
    for ((name, _, _), t) in variants.iter().zip(&best) {
        println!("{:<36} {:>10.0} {:>14.2}", name, t, dalek / t);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_single(&mut c);
    bench_batch(&mut c);
    c.final_summary();
    // Only under `cargo bench` (not `cargo test --benches`).
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
