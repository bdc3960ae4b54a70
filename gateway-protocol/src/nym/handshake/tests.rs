use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A whole registration: the gateway's and the client's keys, and the four messages.
fn register(gateway: &SigningKey, client: &SigningKey) -> (NymSharedKey, NymSharedKey) {
    let (client_state, m1) = ClientRegistration::start(client, [11; 32], [12; 16]);
    assert_eq!(m1.len(), 80);
    let init = Init::parse(&m1).unwrap();
    assert_eq!(init.identity, client.verifying_key());
    let (gateway_state, m2) =
        GatewayRegistration::respond(gateway, &init, [21; 32], [22; 12]).unwrap();
    assert_eq!(m2.len(), 124);
    let (client_key, m3) = client_state
        .on_material(&gateway.verifying_key(), &m2, [13; 12])
        .unwrap();
    assert_eq!(m3.len(), 92);
    let (who, gateway_key) = gateway_state.finish(&m3).unwrap();
    assert_eq!(who, client.verifying_key());
    check_finalization(&FINALIZATION).unwrap();
    (client_key, gateway_key)
}

#[test]
fn both_ends_derive_the_same_key() {
    let (client_key, gateway_key) = register(&key(1), &key(2));
    assert_eq!(client_key, gateway_key);
    // and it is HKDF-HMAC-BLAKE3 of the ephemeral DH with the client's salt
    let dh = StaticSecret::from([11; 32])
        .diffie_hellman(&PublicKey::from(&StaticSecret::from([21; 32])));
    assert_eq!(client_key, NymSharedKey::derive(dh.as_bytes(), &[12; 16]));
}

/// HKDF over HMAC-BLAKE3, against Python's `hmac` with the `blake3` package:
/// `hmac(hmac(salt, ikm, blake3), b"\x01", blake3)` for a 32-byte output and empty info.
#[test]
fn the_key_derivation_is_hkdf_over_hmac_blake3() {
    let salt: [u8; 16] = std::array::from_fn(|i| i as u8);
    let okm = NymSharedKey::derive(&[0x42; 32], &salt);
    let expected = "d84edcc2b8054295d0f6af08cb73a4e62e7ef5878dca9340206b51a695b6c44a";
    let hex: String = okm.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, expected);
}

#[test]
fn a_client_refuses_a_gateway_that_is_not_the_one_it_looked_up() {
    let (client_state, m1) = ClientRegistration::start(&key(2), [11; 32], [12; 16]);
    let init = Init::parse(&m1).unwrap();
    let (_, m2) = GatewayRegistration::respond(&key(3), &init, [21; 32], [22; 12]).unwrap();
    assert_eq!(
        client_state
            .on_material(&key(1).verifying_key(), &m2, [13; 12])
            .unwrap_err(),
        NymHandshakeError::Signature
    );
}

#[test]
fn a_gateway_refuses_a_third_message_it_cannot_open_or_check() {
    let client = key(2);
    let (client_state, m1) = ClientRegistration::start(&client, [11; 32], [12; 16]);
    let init = Init::parse(&m1).unwrap();
    let respond = || GatewayRegistration::respond(&key(1), &init, [21; 32], [22; 12]).unwrap();
    let (_, m2) = respond();
    let (_, m3) = client_state
        .on_material(&key(1).verifying_key(), &m2, [13; 12])
        .unwrap();
    for i in 0..m3.len() {
        let mut bad = m3.clone();
        bad[i] ^= 0x10;
        assert_eq!(
            respond().0.finish(&bad).unwrap_err(),
            NymHandshakeError::Sealed,
            "byte {i}"
        );
    }
    // a client that signed with another identity than it announced
    let (impostor, _) = ClientRegistration::start(&key(9), [11; 32], [12; 16]);
    let (_, m3) = impostor
        .on_material(&key(1).verifying_key(), &m2, [13; 12])
        .unwrap();
    assert_eq!(
        respond().0.finish(&m3).unwrap_err(),
        NymHandshakeError::Signature
    );
}

#[test]
fn wrong_lengths_low_order_keys_and_bad_identities_are_refused() {
    for len in [0, 79, 81, 200] {
        assert_eq!(
            Init::parse(&vec![1; len]).unwrap_err(),
            NymHandshakeError::Length {
                message: 1,
                expected: 80,
                got: len
            }
        );
    }
    let mut m1 = ClientRegistration::start(&key(2), [11; 32], [12; 16]).1;
    m1[32..64].fill(0); // the identity point's neighbour: an all-zero (low order) ephemeral key
    let init = Init::parse(&m1).unwrap();
    assert_eq!(
        GatewayRegistration::respond(&key(1), &init, [21; 32], [22; 12]).unwrap_err(),
        NymHandshakeError::LowOrderKey
    );
    // an identity that is no curve point
    let not_a_point = (0u8..=255)
        .map(|b| {
            let mut bytes = [0u8; 32];
            bytes[0] = b;
            bytes
        })
        .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
        .expect("some small y is not on the curve");
    let mut bad_identity = m1.clone();
    bad_identity[..32].copy_from_slice(&not_a_point);
    assert_eq!(
        Init::parse(&bad_identity).unwrap_err(),
        NymHandshakeError::Identity
    );
    let (state, m1) = ClientRegistration::start(&key(2), [11; 32], [12; 16]);
    let init = Init::parse(&m1).unwrap();
    let (gateway_state, _) =
        GatewayRegistration::respond(&key(1), &init, [21; 32], [22; 12]).unwrap();
    assert!(matches!(
        gateway_state.finish(&[0; 91]),
        Err(NymHandshakeError::Length { message: 3, .. })
    ));
    assert!(matches!(
        state.on_material(&key(1).verifying_key(), &[0; 96], [0; 12]),
        Err(NymHandshakeError::Length { message: 2, .. })
    ));
    assert_eq!(
        check_finalization(&[0]),
        Err(NymHandshakeError::NotFinished)
    );
    assert!(check_finalization(&[1, 1]).is_err());
}
