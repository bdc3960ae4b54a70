//! Drives one session's binary frames through both ends' ciphers under a fixed session key.
//! The input is a sequence of steps (structure-aware, read with `arbitrary`):
//!
//! * a client frame whose plaintext is fuzzed and sealed properly, so it gets past the
//!   authentication and reaches [`ClientFrame::decode`] (packets with and without the
//!   rotation byte, control frames);
//! * a gateway frame, likewise, reaching [`GatewayFrame::decode`];
//! * raw bytes, a replay of an earlier frame, or a sealed frame with one bit flipped, at the
//!   gateway: none may open, and the session must go on (the counter does not move).
//!
//! Checks that nothing panics, that every sealed frame opens to its plaintext, and that whatever
//! decodes encodes back to bytes that decode the same (byte-equal except a `0x03` frame with
//! the unknown rotation, which encodes as `0x01`).
#![no_main]

use gateway_protocol::handshake::derive_session_keys;
use gateway_protocol::{ClientControl, ClientFrame, GatewayFrame, SessionCipher, SharedKey};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use router_core::wire::KeyRotation;

fn check_client_frame(opened: &[u8]) {
    match ClientFrame::decode(opened) {
        Ok(ClientFrame::Packet {
            first_hop,
            size,
            key_rotation,
            packet,
        }) => {
            assert_eq!(packet.len(), size.size());
            let encoded = ClientFrame::encode_packet(&first_hop, key_rotation, packet);
            assert_eq!(ClientFrame::decode(&encoded), ClientFrame::decode(opened));
            if !(opened[0] == 3 && key_rotation == KeyRotation::Unknown) {
                assert_eq!(encoded, opened, "packet frame round trip");
            }
        }
        Ok(ClientFrame::Control(json)) => {
            if let Ok(request) = serde_json::from_slice::<ClientControl>(json) {
                let encoded = ClientFrame::encode_control(&request);
                let Ok(ClientFrame::Control(again)) = ClientFrame::decode(&encoded) else {
                    panic!("an encoded control frame does not decode");
                };
                let again: ClientControl = serde_json::from_slice(again).expect("decodes");
                assert_eq!(again.to_json(), request.to_json());
            }
        }
        Err(_) => {}
    }
}

fn check_gateway_frame(opened: &[u8]) {
    if let Ok(frame) = GatewayFrame::decode(opened) {
        assert_eq!(frame.encode(), opened, "gateway frame round trip");
    }
}

/// A plaintext that often looks like a frame: a kind byte, sometimes a rotation byte and a
/// well-formed first hop, then fuzzed bytes.
fn plaintext(u: &mut Unstructured) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match u.int_in_range(0..=3u8)? {
        0 => {}
        shape => {
            out.push(u.int_in_range(0..=4u8)?);
            if shape >= 2 {
                out.push(u.int_in_range(0..=3u8)?);
            }
            if shape == 3 {
                let v6 = u.arbitrary::<bool>()?;
                let mut address = [0u8; 32];
                address[0] = if v6 { 6 } else { 4 };
                let ip_len = if v6 { 16 } else { 4 };
                u.fill_buffer(&mut address[1..3 + ip_len])?;
                out.extend_from_slice(&address);
                let sizes = router_core::wire::PacketSize::ALL;
                let size = sizes[u.choose_index(sizes.len())?].size();
                let fill = u.arbitrary::<u8>()?;
                out.resize(out.len() + size, fill);
                if u.arbitrary::<bool>()? {
                    out.pop();
                }
                return Ok(out);
            }
        }
    }
    let len = u.arbitrary_len::<u8>()?;
    out.extend_from_slice(u.bytes(len)?);
    Ok(out)
}

fn run(u: &mut Unstructured) -> Result<()> {
    let keys = derive_session_keys(&SharedKey::from_bytes([7; 32]), &[1; 32], &[2; 32]);
    let mut client = SessionCipher::client(&keys);
    let mut gateway = SessionCipher::gateway(&keys);
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for _ in 0..u.int_in_range(1..=16u8)? {
        match u.int_in_range(0..=4u8)? {
            0 => {
                let plain = plaintext(u)?;
                let sealed = client
                    .seal(&plain)
                    .expect("the counter is far from exhausted");
                let opened = gateway.open(&sealed).expect("a sealed frame opens");
                assert_eq!(opened, plain);
                check_client_frame(&opened);
                sent.push(sealed);
            }
            1 => {
                let plain = plaintext(u)?;
                let sealed = gateway
                    .seal(&plain)
                    .expect("the counter is far from exhausted");
                let opened = client.open(&sealed).expect("a sealed frame opens");
                assert_eq!(opened, plain);
                check_gateway_frame(&opened);
            }
            2 => {
                let len = u.arbitrary_len::<u8>()?;
                let raw = u.bytes(len)?;
                assert!(gateway.open(raw).is_err(), "forged frame opened");
            }
            3 => {
                if !sent.is_empty() {
                    let old = &sent[u.choose_index(sent.len())?];
                    assert!(gateway.open(old).is_err(), "replayed frame opened");
                }
            }
            _ => {
                let plain = plaintext(u)?;
                let sealed = client
                    .seal(&plain)
                    .expect("the counter is far from exhausted");
                let mut tampered = sealed.clone();
                let bit = u.choose_index(tampered.len() * 8)?;
                tampered[bit / 8] ^= 1 << (bit % 8);
                assert!(gateway.open(&tampered).is_err(), "tampered frame opened");
                assert!(
                    gateway.open(&sealed[..sealed.len() - 1]).is_err(),
                    "truncated"
                );
                assert_eq!(gateway.open(&sealed).expect("the original opens"), plain);
                sent.push(sealed);
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    // The raw bytes as an opened frame of either direction, without the cipher.
    check_client_frame(data);
    check_gateway_frame(data);
    let _ = run(&mut Unstructured::new(data));
});
