use super::*;
use crate::coconut::dkg::domains::DST_COEFFICIENT;
use crate::coconut::dkg::shares::pedersen_h;
use crate::coconut::hash::hash_to_scalar;
use bls12_381::{G1Projective, G2Affine};

/// The aggregate `alpha` of the honest 2-of-3 run with tag 42 (see [`setup`]), compressed.
/// A regression vector produced by this implementation, not an external one: it changes iff
/// the derivation of seeds, coefficients or keys changes.
const ALPHA_2_OF_3: &str = "a0a8cae28b3e7e6912b70194a17d1f02d2a82dc930889754c4a81e0f0ba7e2e038fca23cad44e92c3dbdeb2b41de92b9047f51106f5bfeb7328b328bcaa3f4d937dd66729a527506db4755e9f988be27ec9c06c197d0dcc7bf525e4039394a18";

#[test]
fn known_answer_2_of_3() {
    let s = setup(2, 3, 42);
    let run = honest_run(&s);
    let alpha = G2Affine::from(run.outcome.aggregate_verification_key().alpha()).to_compressed();
    let hex: String = alpha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, ALPHA_2_OF_3);
}

#[test]
fn first_commitment_is_computed_as_specified() {
    // C_{0,0} of dealer 1, recomputed from the documented derivation:
    // hash_to_scalar(seed ‖ context ‖ dealer:u64 ‖ s:u32 ‖ blinding:u8 ‖ k:u32, DST_COEFFICIENT).
    let s = setup(2, 3, 42);
    let coefficient = |blinding: u8| {
        let mut message = Vec::new();
        message.extend_from_slice(s.seed(1));
        message.extend_from_slice(&[42u8; 32]);
        message.extend_from_slice(&1u64.to_le_bytes());
        message.extend_from_slice(&0u32.to_le_bytes());
        message.push(blinding);
        message.extend_from_slice(&0u32.to_le_bytes());
        hash_to_scalar(&message, DST_COEFFICIENT)
    };
    let expected = G1Projective::generator() * coefficient(0) + pedersen_h() * coefficient(1);
    let dealing = deal(&s.params, 1, s.seed(1)).unwrap();
    assert_eq!(dealing.commitments()[0][0], expected);
    // And the opening's x_0 is g2 to the same coefficient.
    let opening = open(&s.params, 1, s.seed(1)).unwrap();
    assert_eq!(opening.x()[0], G2Projective::generator() * coefficient(0));
}
