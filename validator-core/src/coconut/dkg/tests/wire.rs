use super::*;
use bls12_381::G1Projective;
use proptest::prelude::*;

#[test]
fn wire_sizes() {
    for (t, n, dealing_bytes, opening_bytes) in [(3u64, 4u64, 2072, 2032), (11, 16, 7832, 7408)] {
        let s = setup(t, n, 20);
        let dealing = deal(&s.params, 1, s.seed(1)).unwrap();
        let opening = open(&s.params, 1, s.seed(1)).unwrap();
        assert_eq!(
            dealing.to_bytes().len(),
            dealing_bytes,
            "dealing t={t} n={n}"
        );
        assert_eq!(
            opening.to_bytes().len(),
            opening_bytes,
            "opening t={t} n={n}"
        );
    }
}

#[test]
fn round_trips_through_bytes_base58_and_json() {
    let s = setup(3, 4, 21);
    let dealing = deal(&s.params, 2, s.seed(2)).unwrap();
    let opening = open(&s.params, 2, s.seed(2)).unwrap();
    let disclosure = disclose(&s.params, &dealing, 1, s.sk(1), &mut rng(1)).unwrap();
    let pk = s.sk(1).public();

    assert_eq!(
        Dealing::try_from_bytes(&dealing.to_bytes()).unwrap(),
        dealing
    );
    assert_eq!(
        Opening::try_from_bytes(&opening.to_bytes()).unwrap(),
        opening
    );
    assert_eq!(
        Disclosure::try_from_bytes(&disclosure.to_bytes()).unwrap(),
        disclosure
    );
    assert_eq!(disclosure.to_bytes().len(), Disclosure::BYTES);
    assert_eq!(DkgPublicKey::try_from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(Dealing::try_from_hex(&dealing.to_hex()).unwrap(), dealing);
    assert_eq!(
        Dealing::try_from_hex(&dealing.to_hex().to_uppercase()).unwrap(),
        dealing
    );

    let json = serde_json::to_string(&(&dealing, &opening, &disclosure, &pk)).unwrap();
    let back: (Dealing, Opening, Disclosure, DkgPublicKey) = serde_json::from_str(&json).unwrap();
    assert_eq!(back, (dealing, opening, disclosure, pk));
}

#[test]
fn malformed_bytes_are_typed_errors() {
    let s = setup(3, 4, 22);
    let dealing = deal(&s.params, 2, s.seed(2)).unwrap().to_bytes();
    let opening = open(&s.params, 2, s.seed(2)).unwrap().to_bytes();

    // Truncated anywhere.
    for cut in [0, 7, 8, 60, dealing.len() / 2, dealing.len() - 1] {
        assert!(
            matches!(
                Dealing::try_from_bytes(&dealing[..cut]),
                Err(DkgError::Coconut(CoconutError::InvalidLength { .. }))
            ),
            "cut {cut}"
        );
    }
    for cut in [0, 15, opening.len() - 1] {
        assert!(
            Opening::try_from_bytes(&opening[..cut]).is_err(),
            "cut {cut}"
        );
    }
    // Trailing bytes.
    let mut long = dealing.clone();
    long.push(0);
    assert_eq!(
        Dealing::try_from_bytes(&long),
        Err(DkgError::Coconut(CoconutError::TrailingBytes {
            what: "Dealing",
            extra: 1
        }))
    );
    // An invalid point: R with every bit set is not on the curve.
    let mut bad_point = dealing.clone();
    bad_point[8..56].fill(0xff);
    assert_eq!(
        Dealing::try_from_bytes(&bad_point),
        Err(DkgError::Coconut(CoconutError::InvalidPoint {
            what: "Dealing"
        }))
    );
    // A forged huge count.
    let mut huge = dealing.clone();
    huge[56..60].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Dealing::try_from_bytes(&huge),
        Err(DkgError::TooLarge { .. })
    ));
    // Non-canonical scalar in a disclosure's proof.
    let disclosure = Disclosure {
        dealer: 1,
        receiver: 1,
        key: G1Projective::generator(),
        proof: DleqProof {
            challenge: Scalar::one(),
            response: Scalar::one(),
        },
    };
    let mut bytes = disclosure.to_bytes();
    bytes[64..96].fill(0xff);
    assert_eq!(
        Disclosure::try_from_bytes(&bytes),
        Err(DkgError::Coconut(CoconutError::InvalidScalar {
            what: "Disclosure"
        }))
    );
    assert!(Dealing::try_from_hex("0g").is_err());
    assert!(Dealing::try_from_hex("abc").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Dealing::try_from_bytes(&bytes);
        let _ = Opening::try_from_bytes(&bytes);
        let _ = Disclosure::try_from_bytes(&bytes);
        let _ = DkgPublicKey::try_from_bytes(&bytes);
        let _ = DleqProof::try_from_bytes(&bytes);
    }

    #[test]
    fn decoding_mutated_encodings_never_panics(index in any::<prop::sample::Index>(), value in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let s = setup(2, 3, 23);
        let mut dealing = deal(&s.params, 1, s.seed(1)).unwrap().to_bytes();
        let i = index.index(dealing.len());
        dealing[i] = value;
        if let Ok(decoded) = Dealing::try_from_bytes(&dealing) {
            prop_assert_eq!(decoded.to_bytes(), dealing.clone());
        }
        let _ = Dealing::try_from_bytes(&dealing[..cut.index(dealing.len())]);
        let mut opening = open(&s.params, 1, s.seed(1)).unwrap().to_bytes();
        let i = index.index(opening.len());
        opening[i] = value;
        if let Ok(decoded) = Opening::try_from_bytes(&opening) {
            prop_assert_eq!(decoded.to_bytes(), opening.clone());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn encode_decode_round_trips(tag in any::<u8>(), t in 1u64..=3, extra in 0u64..=2, j in any::<prop::sample::Index>()) {
        let s = setup(t, t + extra, tag);
        let n = s.n();
        let dealer = j.index(n as usize) as u64 + 1;
        let dealing = deal(&s.params, dealer, s.seed(dealer)).unwrap();
        let opening = open(&s.params, dealer, s.seed(dealer)).unwrap();
        let disclosure = disclose(&s.params, &dealing, n, s.sk(n), &mut rng(tag.into())).unwrap();
        prop_assert_eq!(Dealing::try_from_bytes(&dealing.to_bytes()).unwrap(), dealing);
        prop_assert_eq!(Opening::try_from_bytes(&opening.to_bytes()).unwrap(), opening);
        prop_assert_eq!(Disclosure::try_from_bytes(&disclosure.to_bytes()).unwrap(), disclosure);
    }
}
