//! Scalar (one element at a time) helpers for the radix-2^52 representation
//! used by the vectorised backend: byte decoding/encoding, canonical
//! reduction, scalar clamping and the per-lane conditional-swap schedule.
//!
//! A field element mod p = 2^255 - 19 is held as five unsigned 64-bit limbs
//! `l[0..5]` with value `sum(l[i] * 2^(52 i))`. Limbs may exceed 52 bits
//! between operations; [`encode`] accepts any limbs below 2^62.
//!
//! Everything here is straight-line code without secret-dependent branches
//! or memory indices.

use zeroize::Zeroize;

/// Low 52 bits.
pub(crate) const MASK52: u64 = (1 << 52) - 1;
/// Low 47 bits (limb 4 covers bits 208..255 of a value below 2^255).
pub(crate) const MASK47: u64 = (1 << 47) - 1;

/// RFC 7748 `decodeUCoordinate`: little-endian, bit 255 ignored. The result
/// is *not* reduced mod p (values in [p, 2^255) are kept as they are; the
/// field arithmetic is correct for them), limbs 0..3 are below 2^52 and limb
/// 4 is below 2^47.
#[inline]
pub(crate) fn decode_u(u: &[u8; 32]) -> [u64; 5] {
    let w = words(u);
    [
        w[0] & MASK52,
        ((w[0] >> 52) | (w[1] << 12)) & MASK52,
        ((w[1] >> 40) | (w[2] << 24)) & MASK52,
        ((w[2] >> 28) | (w[3] << 36)) & MASK52,
        (w[3] >> 16) & MASK47,
    ]
}

#[inline]
fn words(b: &[u8; 32]) -> [u64; 4] {
    let mut w = [0u64; 4];
    for (i, chunk) in b.chunks_exact(8).enumerate() {
        let mut x = [0u8; 8];
        x.copy_from_slice(chunk);
        w[i] = u64::from_le_bytes(x);
    }
    w
}

/// One carry pass: folds bits >= 255 back with weight 19, then propagates
/// 52-bit carries from limb 0 to limb 4. Requires every limb < 2^62.
#[inline]
fn carry_pass(l: &mut [u64; 5]) {
    let c = l[4] >> 47;
    l[4] &= MASK47;
    l[0] += 19 * c;
    for i in 0..4 {
        let c = l[i] >> 52;
        l[i] &= MASK52;
        l[i + 1] += c;
    }
}

/// Encodes the value of `l` mod p as 32 canonical little-endian bytes.
///
/// Requires every limb < 2^62. Constant time.
#[inline]
pub(crate) fn encode(limbs: &[u64; 5]) -> [u8; 32] {
    let mut l = *limbs;
    // After the first pass the value is < 2^255 + 2^220; after the second it
    // is < 2^255 with limbs 0..3 < 2^52 and limb 4 < 2^47.
    carry_pass(&mut l);
    carry_pass(&mut l);
    // q = 1 iff value >= p, i.e. iff value + 19 >= 2^255.
    let mut c = (l[0] + 19) >> 52;
    for x in &l[1..4] {
        c = (x + c) >> 52;
    }
    let q = (l[4] + c) >> 47;
    // value - q p = value + 19 q - q 2^255.
    l[0] += 19 * q;
    for i in 0..4 {
        let c = l[i] >> 52;
        l[i] &= MASK52;
        l[i + 1] += c;
    }
    l[4] &= MASK47;
    let w = [
        l[0] | (l[1] << 52),
        (l[1] >> 12) | (l[2] << 40),
        (l[2] >> 24) | (l[3] << 28),
        (l[3] >> 36) | (l[4] << 16),
    ];
    let mut out = [0u8; 32];
    for (chunk, x) in out.chunks_exact_mut(8).zip(w) {
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    l.zeroize();
    out
}

/// RFC 7748 `decodeScalar25519` (clamping).
#[inline]
pub(crate) fn clamp(k: &[u8; 32]) -> [u8; 32] {
    let mut k = *k;
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

/// Number of Montgomery-ladder iterations (bits 254 down to 0).
pub(crate) const LADDER_STEPS: usize = 255;

/// Per-lane conditional-swap schedule of an 8-lane ladder.
///
/// `steps[j]` has bit `i` set iff lane `i` must select its second ladder
/// point as the one to double in iteration `j` (scalar bit `t = 254 - j`),
/// i.e. `k_t xor k_(t+1)` of the clamped scalar `k` of lane `i` (the
/// standard RFC 7748 swap bit). `last` holds `k_0` per lane (the final
/// swap). Secret; wiped on drop.
pub(crate) struct LadderMasks {
    pub(crate) steps: [u8; LADDER_STEPS],
    pub(crate) last: u8,
}

impl LadderMasks {
    /// Builds the schedule for up to 8 scalars (lane `i` = `scalars[i]`);
    /// missing lanes get the all-zero scalar (clamped to 2^254).
    pub(crate) fn new(scalars: &[[u8; 32]]) -> Self {
        debug_assert!(scalars.len() <= 8);
        let mut m = LadderMasks {
            steps: [0u8; LADDER_STEPS],
            last: 0,
        };
        for lane in 0..8 {
            let mut k = clamp(scalars.get(lane).unwrap_or(&[0u8; 32]));
            let mut prev = 0u8; // bit 255 of a clamped scalar
            for (j, s) in m.steps.iter_mut().enumerate() {
                let t = LADDER_STEPS - 1 - j;
                let bit = (k[t >> 3] >> (t & 7)) & 1;
                *s |= (bit ^ prev) << lane;
                prev = bit;
            }
            m.last |= prev << lane;
            k.zeroize();
        }
        m
    }
}

impl Drop for LadderMasks {
    fn drop(&mut self) {
        self.steps.zeroize();
        self.last.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_encode_roundtrip_and_reduction() {
        let mut b = [0u8; 32];
        b[0] = 9;
        assert_eq!(encode(&decode_u(&b)), b);
        // p encodes as 0, p + 1 as 1, 2^255 - 1 as 18; top bit ignored.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert_eq!(encode(&decode_u(&p)), [0u8; 32]);
        let mut p1 = p;
        p1[0] = 0xee;
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(encode(&decode_u(&p1)), one);
        let mut eighteen = [0u8; 32];
        eighteen[0] = 18;
        assert_eq!(encode(&decode_u(&[0xff; 32])), eighteen);
        // p - 1 stays.
        let mut pm1 = p;
        pm1[0] = 0xec;
        assert_eq!(encode(&decode_u(&pm1)), pm1);
    }

    #[test]
    fn encode_handles_wide_limbs() {
        // 2^62 - 1 in every limb: compare with a direct computation of the
        // value mod p using 2^260 = 608 (mod p).
        let l = [(1u64 << 62) - 1; 5];
        // value = (2^62 - 1) * (1 + 2^52 + 2^104 + 2^156 + 2^208).
        // Check via re-encoding a split form: move 10 high bits of each
        // limb into the next limb by hand.
        let mut s = [0u64; 5];
        let mut carry = 0u64;
        for i in 0..5 {
            let v = l[i] + carry;
            s[i] = v & MASK52;
            carry = v >> 52;
        }
        // carry has weight 2^260 = 608 mod p.
        s[0] += 608 * carry;
        assert_eq!(encode(&l), encode(&s));
    }

    #[test]
    fn masks_follow_swap_rule() {
        let mut k = [0u8; 32];
        k[0] = 0b1000; // bit 3; clamping adds bit 254
        let m = LadderMasks::new(&[k]);
        // iteration 0: bit 254 = 1, bit 255 = 0 -> swap.
        assert_eq!(m.steps[0] & 1, 1);
        // bits 253..4 are 0, so swap bits 1 at j=1 (254->253), then 0.
        assert_eq!(m.steps[1] & 1, 1);
        assert!(m.steps[2..250].iter().all(|s| s & 1 == 0));
        // t = 3 (j = 251) -> bit 1 vs 0 -> swap, t = 2 -> swap back.
        assert_eq!(m.steps[251] & 1, 1);
        assert_eq!(m.steps[252] & 1, 1);
        assert_eq!(m.steps[253] & 1, 0);
        assert_eq!(m.last & 1, 0);
        // Missing lanes behave as the zero scalar (only bit 254).
        assert_eq!(m.steps[0] & 0xfe, 0xfe);
        assert_eq!(m.steps[1] & 0xfe, 0xfe);
    }
}
