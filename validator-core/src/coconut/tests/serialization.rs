//! Byte, base58 and serde round trips; untrusted bytes are rejected without panicking.

use bls12_381::{G1Projective, G2Projective};
use ff::Field;
use group::Group;
use proptest::prelude::*;

use super::*;

fn random_g1(rng: &mut StdRng) -> G1Projective {
    G1Projective::random(rng)
}

fn random_g2(rng: &mut StdRng) -> G2Projective {
    G2Projective::random(rng)
}

fn scalars(n: usize, rng: &mut StdRng) -> Vec<Scalar> {
    (0..n).map(|_| Scalar::random(&mut *rng)).collect()
}

/// One random (not necessarily valid) instance of every wire type, with lists of length `n`.
struct Instances {
    signature: Signature,
    blinded: BlindedSignature,
    vk: VerificationKey,
    sk: SecretKey,
    pi_s: BlindSignProof,
    request: BlindSignRequest,
    pi_v: CredentialProof,
    theta: Theta,
    openings: CommitmentOpenings,
}

fn instances(seed: u64, n: usize) -> Instances {
    let mut rng = rng(seed);
    let rng = &mut rng;
    let pi_s = BlindSignProof {
        challenge: Scalar::random(&mut *rng),
        response_opening: Scalar::random(&mut *rng),
        response_attribute_openings: scalars(n, rng),
        response_attributes: scalars(n, rng),
    };
    let pi_v = CredentialProof {
        challenge: Scalar::random(&mut *rng),
        response_blinder: Scalar::random(&mut *rng),
        response_attributes: scalars(n, rng),
    };
    let signature = Signature {
        h: random_g1(rng),
        s: random_g1(rng),
    };
    Instances {
        signature,
        blinded: BlindedSignature {
            h: random_g1(rng),
            c: random_g1(rng),
        },
        vk: VerificationKey {
            alpha: random_g2(rng),
            beta_g1: (0..n).map(|_| random_g1(rng)).collect(),
            beta_g2: (0..n).map(|_| random_g2(rng)).collect(),
        },
        sk: SecretKey {
            x: Scalar::random(&mut *rng),
            ys: scalars(n, rng),
        },
        request: BlindSignRequest {
            commitment: random_g1(rng),
            commitment_hash: random_g1(rng),
            private_attributes_commitments: (0..n).map(|_| random_g1(rng)).collect(),
            pi_s: pi_s.clone(),
        },
        pi_s,
        theta: Theta {
            blinded_message: random_g2(rng),
            blinded_serial_number: G2Projective::identity(),
            credential: signature,
            pi_v: pi_v.clone(),
        },
        pi_v,
        openings: CommitmentOpenings {
            commitment_opening: Scalar::random(&mut *rng),
            attribute_openings: scalars(n, rng),
        },
    }
}

/// Applies `$check` to every wire type: `$check!(Type, value)`.
macro_rules! for_each_type {
    ($inst:expr, $check:ident) => {{
        let inst = &$inst;
        $check!(Signature, inst.signature);
        $check!(BlindedSignature, inst.blinded);
        $check!(VerificationKey, inst.vk);
        $check!(SecretKey, inst.sk);
        $check!(BlindSignProof, inst.pi_s);
        $check!(BlindSignRequest, inst.request);
        $check!(CredentialProof, inst.pi_v);
        $check!(Theta, inst.theta);
        $check!(CommitmentOpenings, inst.openings);
    }};
}

macro_rules! round_trip {
    ($ty:ty, $value:expr) => {{
        let value = &$value;
        let bytes = value.to_bytes();
        assert_eq!(
            &<$ty>::try_from_bytes(&bytes).unwrap(),
            value,
            "{}",
            stringify!($ty)
        );
        assert_eq!(&<$ty>::try_from_bs58(&value.to_bs58()).unwrap(), value);
        let json = serde_json::to_string(value).unwrap();
        assert_eq!(json, format!("\"{}\"", &*value.to_bs58()));
        assert_eq!(&serde_json::from_str::<$ty>(&json).unwrap(), value);
    }};
}

/// Decoding any bytes either fails or yields a value whose encoding is exactly those bytes.
macro_rules! decode_is_canonical {
    ($bytes:expr, $ty:ty) => {{
        let bytes: &[u8] = &$bytes;
        if let Ok(value) = <$ty>::try_from_bytes(bytes) {
            let encoded = value.to_bytes();
            let encoded: &[u8] = &encoded;
            assert_eq!(encoded, bytes, "{}", stringify!($ty));
        }
    }};
}

fn decode_everything(bytes: &[u8]) {
    decode_is_canonical!(bytes, Signature);
    decode_is_canonical!(bytes, BlindedSignature);
    decode_is_canonical!(bytes, VerificationKey);
    decode_is_canonical!(bytes, SecretKey);
    decode_is_canonical!(bytes, BlindSignProof);
    decode_is_canonical!(bytes, BlindSignRequest);
    decode_is_canonical!(bytes, CredentialProof);
    decode_is_canonical!(bytes, Theta);
    decode_is_canonical!(bytes, CommitmentOpenings);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_instances_round_trip(seed in any::<u64>(), n in 0usize..5) {
        for_each_type!(instances(seed, n), round_trip);
    }

    #[test]
    fn truncated_or_extended_encodings_are_rejected(
        seed in any::<u64>(),
        n in 0usize..4,
        cut in any::<prop::sample::Index>(),
        extra in any::<u8>(),
    ) {
        macro_rules! check {
            ($ty:ty, $value:expr) => {{
                let bytes = $value.to_bytes();
                let cut = cut.index(bytes.len());
                prop_assert!(<$ty>::try_from_bytes(&bytes[..cut]).is_err());
                let mut longer = bytes.to_vec();
                longer.push(extra);
                prop_assert_eq!(
                    <$ty>::try_from_bytes(&longer).unwrap_err(),
                    CoconutError::TrailingBytes { what: stringify!($ty), extra: 1 }
                );
            }};
        }
        for_each_type!(instances(seed, n), check);
    }

    #[test]
    fn mutated_encodings_never_panic_and_stay_canonical(
        seed in any::<u64>(),
        n in 0usize..4,
        position in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        macro_rules! check {
            ($ty:ty, $value:expr) => {{
                let mut bytes = $value.to_bytes().to_vec();
                let i = position.index(bytes.len());
                bytes[i] ^= xor;
                decode_everything(&bytes);
            }};
        }
        for_each_type!(instances(seed, n), check);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        decode_everything(&bytes);
    }
}

#[test]
fn real_protocol_values_round_trip_and_still_work() {
    let mut rng = rng(50);
    let auth = authorities(2, 3, &mut rng);
    let user = user(&mut rng);
    let (openings, request) =
        prepare_blind_sign(&auth.params, &user.private, &user.public, &mut rng).unwrap();
    let request = BlindSignRequest::try_from_bytes(&request.to_bytes()).unwrap();
    let openings = CommitmentOpenings::try_from_bytes(&openings.to_bytes()).unwrap();
    let key = &auth.keys[1];
    let sk = SecretKey::try_from_bs58(&key.secret_key().to_bs58()).unwrap();
    let blinded = blind_sign(&auth.params, &sk, &request, &user.public).unwrap();
    let blinded = BlindedSignature::try_from_bytes(&blinded.to_bytes()).unwrap();
    let vk: VerificationKey =
        serde_json::from_str(&serde_json::to_string(key.verification_key()).unwrap()).unwrap();
    let partial = unblind_and_verify(
        &auth.params,
        &vk,
        &request,
        &blinded,
        &openings,
        &user.private,
        &user.public,
    )
    .unwrap();
    round_trip!(Signature, partial);

    let signature = credential(&auth, &user, &mut rng);
    let theta = prove_credential(
        &auth.params,
        &auth.vk,
        &signature,
        &user.private,
        CONTEXT,
        &mut rng,
    )
    .unwrap();
    let expected_len = 2 * 96 + 2 * 48 + 2 * 32 + 4 + 2 * 32;
    assert_eq!(theta.to_bytes().len(), expected_len);
    let decoded: Theta = serde_json::from_str(&serde_json::to_string(&theta).unwrap()).unwrap();
    verify_credential(&auth.params, &auth.vk, &decoded, &user.public, CONTEXT).unwrap();
    round_trip!(Theta, theta);
    round_trip!(VerificationKey, auth.vk);
    round_trip!(BlindSignRequest, request);
}

#[test]
fn invalid_points_scalars_and_counts_are_reported() {
    let inst = instances(51, 2);

    // Not a point: all-ones is not a valid compressed encoding.
    let mut bytes = inst.signature.to_bytes();
    bytes[48..].fill(0xff);
    assert_eq!(
        Signature::try_from_bytes(&bytes),
        Err(CoconutError::InvalidPoint { what: "Signature" })
    );
    // x = 1 with the compression flag: (1, ±√5) is either off the curve or outside the
    // prime-order subgroup; both must be rejected.
    let mut off_curve = [0u8; 48];
    off_curve[0] = 0x80;
    off_curve[47] = 1;
    let mut bytes = inst.signature.to_bytes();
    bytes[..48].copy_from_slice(&off_curve);
    assert!(matches!(
        Signature::try_from_bytes(&bytes),
        Err(CoconutError::InvalidPoint { .. })
    ));

    // Non-canonical scalar (>= field modulus).
    let mut bytes = inst.pi_v.to_bytes();
    bytes[..32].fill(0xff);
    assert_eq!(
        CredentialProof::try_from_bytes(&bytes),
        Err(CoconutError::InvalidScalar {
            what: "CredentialProof"
        })
    );

    // A forged count must not allocate or read beyond the input.
    let mut bytes = inst.vk.to_bytes()[..96].to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        VerificationKey::try_from_bytes(&bytes),
        Err(CoconutError::InvalidLength {
            what: "VerificationKey",
            ..
        })
    ));

    // Request whose proof has a different number of responses than commitments.
    let mut request = inst.request.clone();
    request.private_attributes_commitments.pop();
    assert!(matches!(
        BlindSignRequest::try_from_bytes(&request.to_bytes()),
        Err(CoconutError::LengthMismatch { .. })
    ));

    assert_eq!(
        Signature::try_from_bytes(&[]),
        Err(CoconutError::InvalidLength {
            what: "Signature",
            expected: 48,
            actual: 0
        })
    );
}

#[test]
fn bad_base58_and_serde_inputs_are_errors() {
    assert!(matches!(
        Signature::try_from_bs58("0OIl"),
        Err(CoconutError::InvalidBase58(_))
    ));
    assert!(serde_json::from_str::<Signature>("\"0OIl\"").is_err());
    assert!(serde_json::from_str::<Theta>("\"\"").is_err());
    assert!(serde_json::from_str::<VerificationKey>("42").is_err());
    let short = bs58::encode([1u8, 2, 3]).into_string();
    assert!(matches!(
        Signature::try_from_bs58(&short),
        Err(CoconutError::InvalidLength { .. })
    ));
}
