//! Tests of the public X25519 API: RFC 7748 vectors, cross-checks against
//! `x25519_dalek::x25519` on every backend, edge-case inputs.

use super::*;
use crate::test_rng::SplitMix64;
use proptest::prelude::*;

/// Independent reference arithmetic mod p on canonical byte encodings
/// (4x64-bit schoolbook), for the backends' field-level tests.
pub(crate) mod reference {
    use super::field52;

    const P: [u64; 4] = [
        0xffff_ffff_ffff_ffed,
        0xffff_ffff_ffff_ffff,
        0xffff_ffff_ffff_ffff,
        0x7fff_ffff_ffff_ffff,
    ];

    /// Any value given as 64-bit words (< 2^320) -> radix-2^52 limbs < 2^62
    /// -> canonical bytes via `field52::encode`.
    pub(crate) fn enc_words(w: &[u64; 5]) -> [u8; 32] {
        let bit = |i: usize| -> u64 {
            let (q, r) = (i / 64, i % 64);
            if q < 5 {
                (w[q] >> r) & 1
            } else {
                0
            }
        };
        let mut l = [0u64; 5];
        for (j, lj) in l.iter_mut().enumerate() {
            let width = if j < 4 { 52 } else { 320 - 208 };
            for b in 0..width.min(61) {
                *lj |= bit(52 * j + b) << b;
            }
        }
        // Callers only pass small top words: the value is < 2^269.
        assert!(w[4] < 1 << 13);
        field52::encode(&l)
    }

    fn to_words(b: &[u8; 32]) -> [u64; 4] {
        let mut w = [0u64; 4];
        for (i, c) in b.chunks_exact(8).enumerate() {
            w[i] = u64::from_le_bytes(c.try_into().unwrap());
        }
        w
    }

    pub(crate) fn add_bytes(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let (a, b) = (to_words(a), to_words(b));
        let mut w = [0u64; 5];
        let mut c = 0u128;
        for i in 0..4 {
            let s = a[i] as u128 + b[i] as u128 + c;
            w[i] = s as u64;
            c = s >> 64;
        }
        w[4] = c as u64;
        enc_words(&w)
    }

    pub(crate) fn neg_bytes(a: &[u8; 32]) -> [u8; 32] {
        let a = to_words(a);
        let mut w = [0u64; 5];
        let mut borrow = 0i128;
        for i in 0..4 {
            let d = P[i] as i128 - a[i] as i128 - borrow;
            w[i] = d as u64;
            borrow = (d < 0) as i128;
        }
        enc_words(&w)
    }

    pub(crate) fn mul_bytes(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
        let (a, b) = (to_words(a), to_words(b));
        let mut t = [0u64; 8];
        for i in 0..4 {
            let mut c = 0u128;
            for j in 0..4 {
                let s = t[i + j] as u128 + a[i] as u128 * b[j] as u128 + c;
                t[i + j] = s as u64;
                c = s >> 64;
            }
            t[i + 4] = c as u64;
        }
        // 2^256 = 38 (mod p).
        let mut w = [0u64; 5];
        let mut c = 0u128;
        for i in 0..4 {
            let s = t[i] as u128 + 38 * t[i + 4] as u128 + c;
            w[i] = s as u64;
            c = s >> 64;
        }
        w[4] = c as u64;
        enc_words(&w)
    }
}

fn h32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn dalek(k: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*k, *u)
}

/// Backends that can run here. Prints a note when IFMA is missing so that a
/// green run on such a machine is not mistaken for IFMA coverage.
fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Portable];
    if Backend::Avx512Ifma.is_available() {
        v.push(Backend::Avx512Ifma);
    } else {
        eprintln!("note: CPU lacks AVX-512F/IFMA, Avx512Ifma backend not tested");
    }
    v
}

fn batch(backend: Backend, k: &[[u8; 32]], u: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut out = vec![[0xaau8; 32]; k.len()];
    x25519_batch_with(backend, k, u, &mut out).unwrap();
    out
}

const P: &str = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";

/// p + k (k small), as little-endian bytes.
fn p_plus(k: u8) -> [u8; 32] {
    let mut b = h32(P);
    b[0] += k;
    b
}

/// u-coordinates of points of order dividing 8 (and their non-canonical
/// encodings): X25519 with a clamped scalar maps them to 0.
fn low_order_points() -> Vec<[u8; 32]> {
    let mut v = vec![
        [0u8; 32],
        h32("0100000000000000000000000000000000000000000000000000000000000000"),
        h32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), // p - 1
        // 325606250916557431795983626356110631294008115727848805560023387167927233504
        h32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        // 39382357235489614581723060781553021112529911719440698176882885853963445705823
        h32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        p_plus(0),
        p_plus(1),
    ];
    // Same points with bit 255 set (ignored).
    let with_top: Vec<[u8; 32]> = v
        .iter()
        .map(|u| {
            let mut u = *u;
            u[31] |= 0x80;
            u
        })
        .collect();
    v.extend(with_top);
    v
}

/// Non-canonical and otherwise special (but not low-order) u-coordinates.
fn special_points() -> Vec<[u8; 32]> {
    let mut v = vec![[0xffu8; 32], p_plus(2), p_plus(3), p_plus(9), p_plus(18)];
    let mut nine = [0u8; 32];
    nine[0] = 9;
    v.push(nine);
    let mut nine_top = nine;
    nine_top[31] = 0x80;
    v.push(nine_top);
    // 2^255 - 1 without the top bit ignored: 0x7fff..ff = p + 18.
    let mut m = [0xffu8; 32];
    m[31] = 0x7f;
    v.push(m);
    v
}

// RFC 7748 section 5.2.
const RFC_VECTORS: [(&str, &str, &str); 2] = [
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
];

#[test]
fn rfc7748_vectors_single() {
    for (k, u, r) in RFC_VECTORS {
        assert_eq!(x25519(&h32(k), &h32(u)), h32(r));
    }
}

#[test]
fn rfc7748_vectors_batch_all_backends() {
    let k: Vec<_> = RFC_VECTORS.iter().map(|v| h32(v.0)).collect();
    let u: Vec<_> = RFC_VECTORS.iter().map(|v| h32(v.1)).collect();
    let r: Vec<_> = RFC_VECTORS.iter().map(|v| h32(v.2)).collect();
    for b in backends() {
        assert_eq!(batch(b, &k, &u), r, "{b:?}");
        // Each vector alone (7 padding lanes) and in a full 8-lane group.
        for i in 0..2 {
            assert_eq!(batch(b, &k[i..=i], &u[i..=i]), &r[i..=i], "{b:?}");
        }
        let k8: Vec<_> = (0..8).map(|i| k[i % 2]).collect();
        let u8: Vec<_> = (0..8).map(|i| u[i % 2]).collect();
        let r8: Vec<_> = (0..8).map(|i| r[i % 2]).collect();
        assert_eq!(batch(b, &k8, &u8), r8, "{b:?}");
    }
}

/// RFC 7748 iterated test: k = u = 9; repeat (k, u) = (X25519(k, u), k).
fn iterate(backend: Backend, n: usize) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[0] = 9;
    let mut u = k;
    for _ in 0..n {
        let r = batch(backend, &[k], &[u])[0];
        u = k;
        k = r;
    }
    k
}

const ITER_1: &str = "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079";
const ITER_1000: &str = "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51";
const ITER_1000000: &str = "7c3911e0ab2586fd864497297e575e6f3bc601c0883c30df5f4dd2d24f665424";

#[test]
fn rfc7748_iterated_1() {
    for b in backends() {
        assert_eq!(iterate(b, 1), h32(ITER_1), "{b:?}");
    }
}

#[test]
fn rfc7748_iterated_1000() {
    for b in backends() {
        assert_eq!(iterate(b, 1000), h32(ITER_1000), "{b:?}");
    }
}

#[test]
#[ignore = "slow: 1,000,000 sequential X25519 per backend"]
fn rfc7748_iterated_1000000() {
    for b in backends() {
        assert_eq!(iterate(b, 1_000_000), h32(ITER_1000000), "{b:?}");
    }
}

#[test]
fn detected_backend_is_ifma_when_cpu_supports_it() {
    #[cfg(target_arch = "x86_64")]
    {
        let cpu_has_it = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma");
        if cpu_has_it {
            assert_eq!(detected_backend(), Backend::Avx512Ifma);
        } else {
            eprintln!("note: CPU lacks AVX-512F/IFMA; expecting the portable backend");
            assert_eq!(detected_backend(), Backend::Portable);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert_eq!(detected_backend(), Backend::Portable);
    // Cached: same answer again.
    assert_eq!(detected_backend(), detected_backend());
}

#[test]
fn forced_backends() {
    let mut rng = SplitMix64(1);
    let k: Vec<_> = (0..11).map(|_| rng.bytes()).collect();
    let u: Vec<_> = (0..11).map(|_| rng.bytes()).collect();
    let want: Vec<_> = k.iter().zip(&u).map(|(k, u)| dalek(k, u)).collect();
    assert_eq!(batch(Backend::Portable, &k, &u), want);
    let mut out = vec![[0u8; 32]; 11];
    let r = x25519_batch_with(Backend::Avx512Ifma, &k, &u, &mut out);
    if Backend::Avx512Ifma.is_available() {
        assert_eq!(r, Ok(()));
        assert_eq!(out, want);
    } else {
        eprintln!("note: CPU lacks AVX-512F/IFMA; checking the error path only");
        assert_eq!(r, Err(Error::BackendUnavailable(Backend::Avx512Ifma)));
        assert!(out.iter().all(|o| *o == [0u8; 32]), "out must be untouched");
    }
    // Default dispatch agrees.
    let mut out = vec![[0u8; 32]; 11];
    x25519_batch(&k, &u, &mut out).unwrap();
    assert_eq!(out, want);
}

#[test]
fn length_mismatch_is_an_error() {
    let k = [[1u8; 32]; 3];
    let u = [[9u8; 32]; 2];
    let mut out = [[7u8; 32]; 3];
    for b in [Backend::Portable, Backend::Avx512Ifma] {
        assert_eq!(
            x25519_batch_with(b, &k, &u, &mut out),
            Err(Error::LengthMismatch {
                scalars: 3,
                points: 2,
                out: 3
            })
        );
        assert_eq!(
            x25519_batch_with(b, &k[..2], &u, &mut out),
            Err(Error::LengthMismatch {
                scalars: 2,
                points: 2,
                out: 3
            })
        );
    }
    assert_eq!(out, [[7u8; 32]; 3]);
    assert!(x25519_batch(&k, &u, &mut out).is_err());
}

#[test]
fn random_batches_all_lengths_match_dalek() {
    let mut rng = SplitMix64(0x5eed);
    for b in backends() {
        for n in 0..=40 {
            let k: Vec<_> = (0..n).map(|_| rng.bytes()).collect();
            let u: Vec<_> = (0..n).map(|_| rng.bytes()).collect();
            let want: Vec<_> = k.iter().zip(&u).map(|(k, u)| dalek(k, u)).collect();
            assert_eq!(batch(b, &k, &u), want, "{b:?} n={n}");
        }
    }
}

#[test]
fn low_order_points_give_zero() {
    let mut rng = SplitMix64(7);
    let pts = low_order_points();
    let k: Vec<_> = pts.iter().map(|_| rng.bytes()).collect();
    for b in backends() {
        let got = batch(b, &k, &pts);
        for ((k, u), g) in k.iter().zip(&pts).zip(&got) {
            assert_eq!(dalek(k, u), [0u8; 32], "oracle, u={}", hex::encode(u));
            assert_eq!(*g, [0u8; 32], "{b:?} u={}", hex::encode(u));
        }
    }
    for (k, u) in k.iter().zip(&pts) {
        assert_eq!(x25519(k, u), [0u8; 32]);
    }
}

#[test]
fn special_points_match_dalek() {
    let mut rng = SplitMix64(11);
    let pts = special_points();
    // Extreme scalars too: all-zero and all-one bytes (clamped).
    let mut k: Vec<_> = pts.iter().map(|_| rng.bytes()).collect();
    k[0] = [0u8; 32];
    k[1] = [0xffu8; 32];
    for b in backends() {
        let got = batch(b, &k, &pts);
        for ((k, u), g) in k.iter().zip(&pts).zip(&got) {
            assert_eq!(*g, dalek(k, u), "{b:?} u={}", hex::encode(u));
        }
    }
}

#[test]
fn top_bit_of_u_is_ignored_and_noncanonical_u_is_reduced() {
    let mut rng = SplitMix64(3);
    let k: Vec<_> = (0..16).map(|_| rng.bytes()).collect();
    let u: Vec<_> = (0..16)
        .map(|i| {
            let mut u = rng.bytes();
            if i % 2 == 0 {
                u[31] |= 0x80;
            } else {
                u[31] &= 0x7f;
            }
            u
        })
        .collect();
    let masked: Vec<_> = u
        .iter()
        .map(|u| {
            let mut u = *u;
            u[31] &= 0x7f;
            u
        })
        .collect();
    // p + k and k give the same result.
    let small: Vec<[u8; 32]> = (0u8..16)
        .map(|i| {
            let mut s = [0u8; 32];
            s[0] = i + 2;
            s
        })
        .collect();
    let big: Vec<_> = (0u8..16).map(|i| p_plus(i + 2)).collect();
    for b in backends() {
        assert_eq!(batch(b, &k, &u), batch(b, &k, &masked), "{b:?}");
        assert_eq!(batch(b, &k, &small), batch(b, &k, &big), "{b:?}");
    }
}

fn arb_u() -> impl Strategy<Value = [u8; 32]> {
    let special: Vec<[u8; 32]> = low_order_points()
        .into_iter()
        .chain(special_points())
        .collect();
    prop_oneof![
        4 => any::<[u8; 32]>(),
        1 => proptest::sample::select(special),
        1 => (0u8..=18).prop_map(p_plus),
        1 => any::<[u8; 32]>().prop_map(|mut u| {
            u[31] |= 0x80;
            u
        }),
        1 => any::<[u8; 32]>().prop_map(|mut u| {
            // >= p: top 250 bits set.
            u[1..].fill(0xff);
            u
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 24 } else { 128 }))]

    #[test]
    fn prop_batches_match_dalek(
        items in proptest::collection::vec((any::<[u8; 32]>(), arb_u()), 0..=20)
    ) {
        let k: Vec<_> = items.iter().map(|x| x.0).collect();
        let u: Vec<_> = items.iter().map(|x| x.1).collect();
        let want: Vec<_> = k.iter().zip(&u).map(|(k, u)| dalek(k, u)).collect();
        for b in backends() {
            prop_assert_eq!(&batch(b, &k, &u), &want, "{:?}", b);
        }
        for i in 0..k.len().min(2) {
            prop_assert_eq!(x25519(&k[i], &u[i]), want[i]);
        }
    }
}

#[test]
fn batches_mixing_low_order_and_regular_points_match_dalek() {
    // The portable backend shares one inversion per chunk: a zero z must
    // not spoil its neighbours. Low-order points at chunk edges and inside.
    let mut rng = SplitMix64(99);
    let low = low_order_points();
    for n in [1usize, 2, 15, 16, 17, 33] {
        let k: Vec<_> = (0..n).map(|_| rng.bytes()).collect();
        let u: Vec<_> = (0..n)
            .map(|i| {
                if i % 5 == 0 || i == n - 1 || i == 15 || i == 16 {
                    low[i % low.len()]
                } else {
                    rng.bytes()
                }
            })
            .collect();
        let want: Vec<_> = k.iter().zip(&u).map(|(k, u)| dalek(k, u)).collect();
        for b in backends() {
            assert_eq!(batch(b, &k, &u), want, "{b:?} n={n}");
        }
    }
}
