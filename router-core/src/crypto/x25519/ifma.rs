//! AVX-512 IFMA backend: 8-lane multi-buffer Montgomery ladder.
//!
//! # Representation
//!
//! A batch of 8 field elements mod p = 2^255 - 19 is an [`Fe`]: five
//! `__m512i` limb vectors, lane `i` of limb vector `j` being limb `j` of
//! element `i`, value `sum(l_j * 2^(52 j))`. Two forms are used:
//!
//! * **carried** (the only form allowed as a multiplication input):
//!   produced by [`carry`]. `vpmadd52{lo,hi}uq` read only the low 52 bits
//!   of their multiplicands, so the carry does not mask limbs 0..3 after
//!   moving their bits >= 52 up: the *effective* limbs (limb mod 2^52 for
//!   limbs 0..3, limb 4 as is) are < 2^52 and limb 4 < 2^47 + 2^12, and the
//!   effective value is what every consumer sees. A carried value must only
//!   be used as an IFMA multiplicand (or moved/selected), never added.
//! * **loose**: the output of [`mul`] / [`sqr`] after folding the upper
//!   product columns, without carry propagation: every limb < 2^56. The
//!   *biased* variants (`BIAS = true`) start their accumulators at the bias
//!   [`K`] (a multiple of p with limbs in [2^57, 2^58)), giving limbs in
//!   [2^57, 2^59). Loose values are only added / subtracted and then
//!   carried, which saves a carry chain on 6 of the 9 products per ladder
//!   step; a biased minuend minus an unbiased loose subtrahend cannot go
//!   negative, so `sub` is one instruction per limb.
//!
//! Products are accumulated in ten 64-bit columns (column k has weight
//! 2^(52 k); lo halves of `a_i b_j` go to column i+j, hi halves to i+j+1,
//! each column < 10 * 2^52) and columns 5..9 are folded with
//! 2^260 = 608 (mod p), again with IFMA, so nothing overflows 64 bits.
//! Every bound above is exercised at its extreme by the unit tests below.
//!
//! # Ladder and scheduling
//!
//! RFC 7748 ladder, 255 iterations, a24 = 121665, 5 multiplications + 4
//! squarings + 1 small multiplication per step (11 carry chains). The
//! differential addition is symmetric in the two points, so instead of a
//! conditional swap of both points only the doubling input is selected per
//! lane (10 blends per step instead of 20); the RFC's final swap becomes a
//! select of the result. The inversion is Fermat's `z^(p-2)`, also 8 lanes
//! wide.
//!
//! The code is bound by vector-port throughput (IFMA, add, shift and logic
//! all issue at 2 per cycle on the two 512-bit ports of the CPU this was
//! tuned on), so the design minimises vector instructions: the lazy
//! carries and the unmasked carry above remove ~10 % of them. Full chunks
//! of 16 items run two independent 8-lane ladders interleaved operation by
//! operation ([`GROUPS`] = 2), which hides the 4-cycle IFMA latency and the
//! serial inversion chain: ~10 % faster than one 8-lane ladder at a time;
//! 3 or 4 interleaved groups were slower (register spills). A remainder of
//! at most 8 items runs a single 8-lane ladder, 9..15 items a padded
//! 16-lane one.
//!
//! # Constant time
//!
//! All arithmetic is straight-line SIMD code; the ladder always runs 255
//! iterations and the per-lane conditional swap is a `vpblendmq` under a
//! mask register built from the scalar bits ([`super::field52::LadderMasks`]).
//! No branch or memory index depends on secret data.
//!
//! # Safety
//!
//! Every function that uses AVX-512 is a safe `#[target_feature]` function
//! (no raw pointers: lanes are moved with `_mm512_set_epi64` /
//! `_mm256_extract_epi64`); the only `unsafe` is the call into them from
//! [`x25519_batch`] (and the unit tests), guarded by a run-time CPU feature
//! check.

use core::arch::x86_64::*;

use zeroize::Zeroize;

use super::field52::{self, LadderMasks, LADDER_STEPS, MASK47};

/// Number of batch items processed by one ladder (lanes of a `__m512i`).
pub(crate) const LANES: usize = 8;

/// True if this CPU can run this backend.
pub(crate) fn is_available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512ifma")
}

/// Eight field elements, one per lane (see module docs for the invariants).
#[derive(Clone, Copy)]
struct Fe([__m512i; 5]);

impl Zeroize for Fe {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

/// 2^260 mod p.
const C608: i64 = 608;
/// 2^255 mod p.
const C19: i64 = 19;
/// (A - 2) / 4 for Curve25519 (RFC 7748 `a24`).
const A24: i64 = 121665;

/// A multiple of p whose limbs are all in [2^57, 2^57 + 2^52): the initial
/// accumulator of the `*_k` products, so that subtracting a loose value
/// (limbs < 2^56) from their outputs cannot make a limb negative.
const K: [u64; 5] = [
    0x020f_ffff_ffff_b3ed,
    0x020f_ffff_ffff_ffdf,
    0x020f_ffff_ffff_ffdf,
    0x020f_ffff_ffff_ffdf,
    0x0200_7fff_ffff_ffdf,
];

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn splat(x: i64) -> __m512i {
    _mm512_set1_epi64(x)
}

/// Loads one limb of 8 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn from_lanes(x: &[u64; LANES]) -> __m512i {
    _mm512_set_epi64(
        x[7] as i64,
        x[6] as i64,
        x[5] as i64,
        x[4] as i64,
        x[3] as i64,
        x[2] as i64,
        x[1] as i64,
        x[0] as i64,
    )
}

/// Extracts the 8 lanes of one limb.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn to_lanes(v: __m512i) -> [u64; LANES] {
    let lo = _mm512_castsi512_si256(v);
    let hi = _mm512_extracti64x4_epi64::<1>(v);
    [
        _mm256_extract_epi64::<0>(lo) as u64,
        _mm256_extract_epi64::<1>(lo) as u64,
        _mm256_extract_epi64::<2>(lo) as u64,
        _mm256_extract_epi64::<3>(lo) as u64,
        _mm256_extract_epi64::<0>(hi) as u64,
        _mm256_extract_epi64::<1>(hi) as u64,
        _mm256_extract_epi64::<2>(hi) as u64,
        _mm256_extract_epi64::<3>(hi) as u64,
    ]
}

impl Fe {
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn splat(x: u64) -> Fe {
        let z = _mm512_setzero_si512();
        Fe([splat(x as i64), z, z, z, z])
    }

    /// Lane i = `limbs[i]` (limbs in radix 2^52).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn from_limbs(limbs: &[[u64; 5]; LANES]) -> Fe {
        let mut t = [[0u64; LANES]; 5];
        for (lane, l) in limbs.iter().enumerate() {
            for j in 0..5 {
                t[j][lane] = l[j];
            }
        }
        let r = Fe([
            from_lanes(&t[0]),
            from_lanes(&t[1]),
            from_lanes(&t[2]),
            from_lanes(&t[3]),
            from_lanes(&t[4]),
        ]);
        t.zeroize();
        r
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn to_limbs(self) -> [[u64; 5]; LANES] {
        let mut out = [[0u64; 5]; LANES];
        for j in 0..5 {
            let mut v = to_lanes(self.0[j]);
            for (lane, o) in out.iter_mut().enumerate() {
                o[j] = v[lane];
            }
            v.zeroize();
        }
        out
    }
}

/// Limb-wise sum (no carry).
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn add(a: &Fe, b: &Fe) -> Fe {
    let mut r = a.0;
    for (r, b) in r.iter_mut().zip(&b.0) {
        *r = _mm512_add_epi64(*r, *b);
    }
    Fe(r)
}

/// `a - b` limb-wise (no carry). `a` must be a biased loose value (every
/// limb at least 2^57, from a `BIAS = true` product) and `b` an unbiased
/// loose value (limbs < 2^56), so that no limb goes negative.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn sub(a: &Fe, b: &Fe) -> Fe {
    let mut r = a.0;
    for (r, b) in r.iter_mut().zip(&b.0) {
        *r = _mm512_sub_epi64(*r, *b);
    }
    Fe(r)
}

/// Carry propagation to the carried form (see module docs). Input limbs
/// < 2^62; output: effective limbs 0..3 < 2^52, limb 4 < 2^47 + 2^12, i.e.
/// effective value < 2^255 + 2^220. Limbs 0..3 keep their (already
/// propagated) bits >= 52, which IFMA ignores.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn carry(a: &Fe) -> Fe {
    let mut t = a.0;
    // Bits >= 255 of limb 4 fold back with weight 19 (c < 2^15).
    let c = _mm512_srli_epi64::<47>(t[4]);
    t[4] = _mm512_and_si512(t[4], splat(MASK47 as i64));
    t[0] = _mm512_madd52lo_epu64(t[0], c, splat(C19));
    for j in 0..4 {
        t[j + 1] = _mm512_add_epi64(t[j + 1], _mm512_srli_epi64::<52>(t[j]));
    }
    Fe(t)
}

/// Folds product columns 5..9 into 0..4 using 2^260 = 608 (mod p).
///
/// Requires columns 5..8 < 2^56 and column 9 < 2^42.1 (true for carried
/// inputs: column 9 is the high half of `a_4 b_4` < 2^94.1). Output limb j
/// is column j plus less than 2^52 + 2^10 + 2^13, i.e. < 2^56 for the
/// column bounds of [`mul`] / [`sqr`] (columns < 10 * 2^52) and < 2^59
/// with the bias.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn fold(t: [__m512i; 10]) -> Fe {
    let c608 = splat(C608);
    let mut r = [t[0], t[1], t[2], t[3], t[4]];
    // Column 9: 608 * t9 < 2^52, so only its low half is non-zero.
    r[4] = _mm512_madd52lo_epu64(r[4], t[9], c608);
    for k in 5..9 {
        // t_k = s * 2^52 + l:  608 t_k = lo(608 l) + 2^52 (hi(608 l) + 608 s).
        let s = _mm512_srli_epi64::<52>(t[k]);
        r[k - 5] = _mm512_madd52lo_epu64(r[k - 5], t[k], c608);
        r[k - 4] = _mm512_madd52hi_epu64(r[k - 4], t[k], c608);
        r[k - 4] = _mm512_madd52lo_epu64(r[k - 4], s, c608);
    }
    Fe(r)
}

/// Initial product accumulators: zero, or [`K`] in columns 0..4.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn acc_init<const BIAS: bool>() -> [__m512i; 10] {
    let z = _mm512_setzero_si512();
    let mut t = [z; 10];
    if BIAS {
        for (t, k) in t.iter_mut().zip(K) {
            *t = splat(k as i64);
        }
    }
    t
}

/// `a * b` (+ [`K`] if `BIAS`), inputs carried, output loose.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul_b<const BIAS: bool>(a: &Fe, b: &Fe) -> Fe {
    let mut t = acc_init::<BIAS>();
    for i in 0..5 {
        for j in 0..5 {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a.0[i], b.0[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a.0[i], b.0[j]);
        }
    }
    fold(t)
}

/// `a^2` (+ 2 [`K`] if `BIAS`), input carried, output loose. 15 products
/// instead of 25: the cross products are accumulated once and the columns
/// doubled.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn sqr_b<const BIAS: bool>(a: &Fe) -> Fe {
    // With BIAS the accumulators start at K in columns 1..4 and 2 K in
    // column 0: after the doubling of columns 1..8 that adds 2 K.
    let mut t = acc_init::<BIAS>();
    if BIAS {
        t[0] = _mm512_add_epi64(t[0], t[0]);
    }
    for i in 0..5 {
        for j in (i + 1)..5 {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a.0[i], a.0[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a.0[i], a.0[j]);
        }
    }
    for c in t[1..9].iter_mut() {
        *c = _mm512_add_epi64(*c, *c);
    }
    for i in 0..5 {
        t[2 * i] = _mm512_madd52lo_epu64(t[2 * i], a.0[i], a.0[i]);
        t[2 * i + 1] = _mm512_madd52hi_epu64(t[2 * i + 1], a.0[i], a.0[i]);
    }
    fold(t)
}

/// `a + a24 * e`, `a` loose (limbs < 2^59), `e` carried; output limbs
/// < 2^60 (carry before use).
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn add_mul_a24(a: &Fe, e: &Fe) -> Fe {
    let a24 = splat(A24);
    let mut r = a.0;
    let mut top = _mm512_setzero_si512();
    for j in 0..5 {
        r[j] = _mm512_madd52lo_epu64(r[j], e.0[j], a24);
        if j < 4 {
            r[j + 1] = _mm512_madd52hi_epu64(r[j + 1], e.0[j], a24);
        } else {
            top = _mm512_madd52hi_epu64(top, e.0[j], a24);
        }
    }
    // top = hi(e_4 a24) < 2^13 has weight 2^260 = 608 (mod p).
    r[0] = _mm512_madd52lo_epu64(r[0], top, splat(C608));
    Fe(r)
}

/// Per lane: `b` where the mask bit is set, else `a`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn select(m: __mmask8, a: &Fe, b: &Fe) -> Fe {
    let mut r = a.0;
    for (r, b) in r.iter_mut().zip(&b.0) {
        *r = _mm512_mask_blend_epi64(m, *r, *b);
    }
    Fe(r)
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul(a: &Fe, b: &Fe) -> Fe {
    mul_b::<false>(a, b)
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn sqr(a: &Fe) -> Fe {
    sqr_b::<false>(a)
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul_c(a: &Fe, b: &Fe) -> Fe {
    carry(&mul(a, b))
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn sqr_c(a: &Fe) -> Fe {
    carry(&sqr(a))
}

/// `N` independent 8-lane field elements, processed together so that the
/// instruction stream interleaves independent dependency chains.
type FeN<const N: usize> = [Fe; N];

/// Applies a field operation to each of the `N` groups (loops over a
/// constant `N` are fully unrolled).
macro_rules! each {
    ($n:expr, |$i:ident| $e:expr) => {{
        let mut r = [Fe::zero(); $n];
        for $i in 0..$n {
            r[$i] = $e;
        }
        r
    }};
}

impl Fe {
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn zero() -> Fe {
        Fe([_mm512_setzero_si512(); 5])
    }
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn sqr_n<const N: usize>(a: &FeN<N>, n: usize) -> FeN<N> {
    let mut r = *a;
    for _ in 0..n {
        r = each!(N, |i| sqr_c(&r[i]));
    }
    r
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul_n<const N: usize>(a: &FeN<N>, b: &FeN<N>) -> FeN<N> {
    each!(N, |i| mul_c(&a[i], &b[i]))
}

/// `z^(p-2)` (= 1/z, and 0 for z = 0), input carried, output carried.
/// Standard addition chain: 254 squarings, 11 multiplications.
#[target_feature(enable = "avx512f,avx512ifma")]
fn invert<const N: usize>(z: &FeN<N>) -> FeN<N> {
    let z2 = sqr_n(z, 1);
    let z8 = sqr_n(&z2, 2);
    let z9 = mul_n(z, &z8);
    let z11 = mul_n(&z2, &z9);
    let z22 = sqr_n(&z11, 1);
    let e5 = mul_n(&z9, &z22); // z^(2^5 - 1)
    let e10 = mul_n(&sqr_n(&e5, 5), &e5);
    let e20 = mul_n(&sqr_n(&e10, 10), &e10);
    let e40 = mul_n(&sqr_n(&e20, 20), &e20);
    let e50 = mul_n(&sqr_n(&e40, 10), &e10);
    let e100 = mul_n(&sqr_n(&e50, 50), &e50);
    let e200 = mul_n(&sqr_n(&e100, 100), &e100);
    let e250 = mul_n(&sqr_n(&e200, 50), &e50);
    mul_n(&sqr_n(&e250, 5), &z11) // z^(2^255 - 32 + 11)
}

/// State of `N` 8-lane ladders: two projective points per lane (loose
/// limbs). `p` is the point that was doubled last, `q` the differential sum;
/// `q - p` is always the input point. Which of them is `R0` of the RFC
/// ladder is implicit in the swap schedule.
struct Ladder<const N: usize> {
    px: FeN<N>,
    pz: FeN<N>,
    qx: FeN<N>,
    qz: FeN<N>,
}

impl<const N: usize> Drop for Ladder<N> {
    fn drop(&mut self) {
        for f in [&mut self.px, &mut self.pz, &mut self.qx, &mut self.qz] {
            for e in f.iter_mut() {
                e.zeroize();
            }
        }
    }
}

impl<const N: usize> Ladder<N> {
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn new(u: &FeN<N>) -> Ladder<N> {
        // px and qx must be biased (limbs >= 2^57 above the subtrahend).
        let [k0, k1, k2, k3, k4, ..] = acc_init::<true>();
        let k = Fe([k0, k1, k2, k3, k4]);
        Ladder {
            px: each!(N, |i| add(&k, &Fe::splat(1))),
            pz: [Fe::splat(0); N],
            qx: each!(N, |i| add(&k, &u[i])),
            qz: [Fe::splat(1); N],
        }
    }

    /// One RFC 7748 ladder step for every group. `m[i]` selects, per lane,
    /// which point is doubled (`q` where set), i.e. the RFC's `swap` bit. The
    /// differential addition is symmetric in the two points, so only the
    /// doubling input needs a select (10 blends instead of a 20-blend swap).
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn step(&mut self, x1: &FeN<N>, m: &[__mmask8; N]) {
        // px, qx and da are biased (`BIAS = true`) so that the subtractions
        // below need no bias of their own.
        let a_p = each!(N, |i| carry(&add(&self.px[i], &self.pz[i])));
        let b_p = each!(N, |i| carry(&sub(&self.px[i], &self.pz[i])));
        let a_q = each!(N, |i| carry(&add(&self.qx[i], &self.qz[i])));
        let b_q = each!(N, |i| carry(&sub(&self.qx[i], &self.qz[i])));
        // Differential addition (symmetric under p <-> q).
        let da = each!(N, |i| mul_b::<true>(&b_q[i], &a_p[i]));
        let cb = each!(N, |i| mul(&a_q[i], &b_p[i]));
        // Doubling of the selected point.
        let a = each!(N, |i| select(m[i], &a_p[i], &a_q[i]));
        let b = each!(N, |i| select(m[i], &b_p[i], &b_q[i]));
        let aa_l = each!(N, |i| sqr_b::<true>(&a[i]));
        let bb_l = each!(N, |i| sqr(&b[i]));
        let aa = each!(N, |i| carry(&aa_l[i]));
        let bb = each!(N, |i| carry(&bb_l[i]));
        let e = each!(N, |i| carry(&sub(&aa_l[i], &bb_l[i])));
        let f = each!(N, |i| carry(&add_mul_a24(&aa_l[i], &e[i])));
        self.px = each!(N, |i| mul_b::<true>(&aa[i], &bb[i]));
        self.pz = each!(N, |i| mul(&e[i], &f[i]));
        let g = each!(N, |i| carry(&add(&da[i], &cb[i])));
        let h = each!(N, |i| carry(&sub(&da[i], &cb[i])));
        self.qx = each!(N, |i| sqr_b::<true>(&g[i]));
        let h2 = each!(N, |i| sqr_c(&h[i]));
        self.qz = each!(N, |i| mul(&x1[i], &h2[i]));
    }
}

/// X25519 for up to `8 N` items at once (item `8 g + l` in lane `l` of group
/// `g`). The three slices have equal lengths of at most `8 N`; missing
/// lanes compute a dummy multiplication whose result is discarded.
#[target_feature(enable = "avx512f,avx512ifma")]
fn x25519_groups<const N: usize>(scalars: &[[u8; 32]], points: &[[u8; 32]], out: &mut [[u8; 32]]) {
    debug_assert!(scalars.len() == points.len() && points.len() == out.len());
    debug_assert!(points.len() <= LANES * N);
    let mut masks: [LadderMasks; N] = core::array::from_fn(|_| LadderMasks::new(&[]));
    let mut x1 = [Fe::zero(); N];
    for g in 0..N {
        let lo = (g * LANES).min(points.len());
        let hi = ((g + 1) * LANES).min(points.len());
        masks[g] = LadderMasks::new(&scalars[lo..hi]);
        // Dummy lanes: u = 9.
        let mut limbs = [field52::decode_u(&[9; 32]); LANES];
        for (l, u) in limbs.iter_mut().zip(&points[lo..hi]) {
            *l = field52::decode_u(u);
        }
        x1[g] = Fe::from_limbs(&limbs);
    }
    let mut ladder = Ladder::<N>::new(&x1);
    let mut m = [0u8; N];
    for j in 0..LADDER_STEPS {
        for g in 0..N {
            m[g] = masks[g].steps[j];
        }
        ladder.step(&x1, &m);
    }
    for g in 0..N {
        m[g] = masks[g].last;
    }
    m.zeroize();
    let mut x = each!(N, |i| carry(&select(m[i], &ladder.px[i], &ladder.qx[i])));
    let mut z = each!(N, |i| carry(&select(m[i], &ladder.pz[i], &ladder.qz[i])));
    drop(ladder);
    let mut zi = invert(&z);
    for g in 0..N {
        let lo = (g * LANES).min(out.len());
        let hi = ((g + 1) * LANES).min(out.len());
        let mut r = mul(&x[g], &zi[g]).to_limbs();
        for (o, l) in out[lo..hi].iter_mut().zip(r.iter()) {
            *o = field52::encode(l);
        }
        r.zeroize();
    }
    for f in [&mut x, &mut z, &mut zi] {
        for e in f.iter_mut() {
            e.zeroize();
        }
    }
}

/// Number of 8-lane groups interleaved per ladder for full chunks.
const GROUPS: usize = 2;

#[target_feature(enable = "avx512f,avx512ifma")]
fn x25519_batch_impl(scalars: &[[u8; 32]], points: &[[u8; 32]], out: &mut [[u8; 32]]) {
    const CHUNK: usize = LANES * GROUPS;
    let full = scalars.len() / CHUNK * CHUNK;
    for ((k, u), o) in scalars[..full]
        .chunks(CHUNK)
        .zip(points[..full].chunks(CHUNK))
        .zip(out[..full].chunks_mut(CHUNK))
    {
        x25519_groups::<GROUPS>(k, u, o);
    }
    let (k, u, o) = (&scalars[full..], &points[full..], &mut out[full..]);
    if k.len() > LANES {
        x25519_groups::<GROUPS>(k, u, o);
    } else if !k.is_empty() {
        x25519_groups::<1>(k, u, o);
    }
}

/// Batched X25519 on this backend. Returns `false` (and leaves `out`
/// untouched) if the CPU lacks AVX-512F/IFMA. Panics if the slice lengths
/// differ (the public API checks them first).
pub(crate) fn x25519_batch(
    scalars: &[[u8; 32]],
    points: &[[u8; 32]],
    out: &mut [[u8; 32]],
) -> bool {
    assert!(scalars.len() == points.len() && points.len() == out.len());
    if !is_available() {
        return false;
    }
    // SAFETY: `x25519_batch_impl` only requires the `avx512f` and
    // `avx512ifma` target features, which were detected at run time just
    // above. It performs no raw-pointer access.
    unsafe { x25519_batch_impl(scalars, points, out) };
    true
}

#[cfg(test)]
mod tests {
    //! Field-level tests at the limb bounds the module docs promise (random
    //! ladder inputs essentially never reach them), against a simple
    //! 4x64-bit schoolbook reference.
    use super::super::tests::reference::{add_bytes, mul_bytes, neg_bytes};
    use super::field52::MASK52;
    use super::*;

    fn run<R>(f: impl FnOnce() -> R) -> Option<R> {
        if !is_available() {
            eprintln!("note: CPU lacks AVX-512F/IFMA, field tests skipped");
            return None;
        }
        Some(f())
    }

    /// Largest reduced limbs: 2^52 - 1 and 2^47 + 2^12 - 1.
    const MAX_RED: [u64; 5] = [MASK52, MASK52, MASK52, MASK52, (1 << 47) + (1 << 12) - 1];

    fn lanes(e: &[[u64; 5]; LANES]) -> Fe {
        // SAFETY: only called from `run`, i.e. after the feature check.
        unsafe { Fe::from_limbs(e) }
    }

    fn limbs(f: &Fe) -> [[u64; 5]; LANES] {
        // SAFETY: as above.
        unsafe { f.to_limbs() }
    }

    /// Effective limbs of a carried value (what IFMA reads).
    fn eff(l: &[u64; 5]) -> [u64; 5] {
        [
            l[0] & MASK52,
            l[1] & MASK52,
            l[2] & MASK52,
            l[3] & MASK52,
            l[4],
        ]
    }

    /// Value of lane `i` of a carried value.
    fn val_c(f: &Fe, i: usize) -> [u8; 32] {
        field52::encode(&eff(&limbs(f)[i]))
    }

    fn check_carried(f: &Fe) {
        for l in limbs(f) {
            assert!(l.iter().all(|&x| x < 1 << 62), "{l:x?}");
            assert!(l[4] < (1 << 47) + (1 << 12), "{l:x?}");
        }
    }

    fn bias() -> Fe {
        // SAFETY: only called from `run`, i.e. after the feature check.
        Fe(unsafe { acc_init::<true>() }[..5].try_into().unwrap())
    }

    fn check_loose(f: &Fe) {
        for l in limbs(f) {
            assert!(l.iter().all(|&x| x < 1 << 56), "{l:x?}");
        }
    }

    fn test_inputs(seed: u64) -> [[u64; 5]; LANES] {
        let mut s = seed;
        let mut next = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s >> 11
        };
        let mut e = [[0u64; 5]; LANES];
        e[0] = MAX_RED;
        e[1] = [0; 5];
        e[2] = [MASK52, 0, MASK52, 0, (1 << 47) + (1 << 12) - 1];
        for x in e[3..].iter_mut() {
            for (j, l) in x.iter_mut().enumerate() {
                *l = next()
                    & if j < 4 {
                        MASK52
                    } else {
                        (1 << 47) + (1 << 12) - 1
                    };
            }
        }
        e
    }

    #[test]
    fn mul_sqr_carry_at_bounds() {
        run(|| {
            for seed in 0..64 {
                let ea = test_inputs(seed);
                let eb = test_inputs(seed + 1000);
                let (a, b) = (lanes(&ea), lanes(&eb));
                // SAFETY: feature checked by `run`.
                let (m, s, mk, sk) = unsafe {
                    (
                        mul(&a, &b),
                        sqr(&a),
                        mul_b::<true>(&a, &b),
                        sqr_b::<true>(&a),
                    )
                };
                check_loose(&m);
                check_loose(&s);
                for l in limbs(&mk).iter().chain(&limbs(&sk)) {
                    assert!(l.iter().all(|&x| (1 << 57..1 << 59).contains(&x)));
                }
                // SAFETY: as above.
                let (mc, sc) = unsafe { (carry(&m), carry(&s)) };
                check_carried(&mc);
                check_carried(&sc);
                // Carried values work as multiplicands (unmasked limbs).
                // SAFETY: as above.
                let (m2, s2) = unsafe { (mul(&mc, &sc), sqr(&mc)) };
                for i in 0..LANES {
                    let (x, y) = (field52::encode(&ea[i]), field52::encode(&eb[i]));
                    let xy = mul_bytes(&x, &y);
                    let xx = mul_bytes(&x, &x);
                    assert_eq!(field52::encode(&limbs(&m)[i]), xy);
                    assert_eq!(field52::encode(&limbs(&mk)[i]), xy);
                    assert_eq!(val_c(&mc, i), xy);
                    assert_eq!(field52::encode(&limbs(&s)[i]), xx);
                    assert_eq!(field52::encode(&limbs(&sk)[i]), xx);
                    assert_eq!(val_c(&sc, i), xx);
                    assert_eq!(field52::encode(&limbs(&m2)[i]), mul_bytes(&xy, &xx));
                    assert_eq!(field52::encode(&limbs(&s2)[i]), mul_bytes(&xy, &xy));
                }
            }
        });
    }

    #[test]
    fn add_sub_a24_at_bounds() {
        run(|| {
            for seed in 0..64 {
                let ea = test_inputs(seed);
                let eb = test_inputs(seed + 77);
                let (a, b) = (lanes(&ea), lanes(&eb));
                // Worst case loose operands: products of maximal inputs,
                // biased (minuends) or not.
                // SAFETY: feature checked by `run`.
                let (la, lb, lk) = unsafe { (mul(&a, &a), sqr(&b), sqr_b::<true>(&a)) };
                let k = bias();
                // SAFETY: as above.
                let (s1, s2, d1, d2, d3, f) = unsafe {
                    (
                        carry(&add(&lk, &lb)),
                        carry(&add(&a, &b)),
                        carry(&sub(&lk, &lb)),
                        carry(&sub(&add(&k, &a), &b)),
                        carry(&sub(&k, &la)),
                        carry(&add_mul_a24(&lk, &b)),
                    )
                };
                for r in [&s1, &s2, &d1, &d2, &d3, &f] {
                    check_carried(r);
                }
                let mut a24 = [0u8; 32];
                a24[..4].copy_from_slice(&121665u32.to_le_bytes());
                for i in 0..LANES {
                    let x = field52::encode(&ea[i]);
                    let y = field52::encode(&eb[i]);
                    let lx = field52::encode(&limbs(&la)[i]);
                    let ly = field52::encode(&limbs(&lb)[i]);
                    let v = |f: &Fe| val_c(f, i);
                    assert_eq!(v(&s1), add_bytes(&lx, &ly));
                    assert_eq!(v(&s2), add_bytes(&x, &y));
                    assert_eq!(v(&d1), add_bytes(&lx, &neg_bytes(&ly)));
                    assert_eq!(v(&d2), add_bytes(&x, &neg_bytes(&y)));
                    assert_eq!(v(&d3), neg_bytes(&lx));
                    assert_eq!(v(&f), add_bytes(&lx, &mul_bytes(&a24, &y)));
                }
            }
        });
    }

    #[test]
    fn invert_is_inverse() {
        run(|| {
            let e = test_inputs(5);
            let z = lanes(&e);
            // SAFETY: feature checked by `run`.
            let (inv, prod) = unsafe {
                let inv = invert(&[z])[0];
                (inv, carry(&mul(&z, &inv)))
            };
            check_carried(&inv);
            let mut one = [0u8; 32];
            one[0] = 1;
            for (i, l) in e.iter().enumerate() {
                let want = if field52::encode(l) == [0u8; 32] {
                    [0u8; 32]
                } else {
                    one
                };
                assert_eq!(val_c(&prod, i), want, "lane {i}");
            }
        });
    }

    #[test]
    fn k_is_a_multiple_of_p() {
        assert_eq!(field52::encode(&K), [0u8; 32]);
        assert!(K.iter().all(|&k| k >= 1 << 57));
    }
}
