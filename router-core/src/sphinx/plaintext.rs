//! The plaintext inside a fully peeled Sphinx payload.
//!
//! A sender encapsulates its message as `[0; 16] ‖ message ‖ 0x01 ‖ 0x00…` (16 zero bytes the
//! last hop checks, the message, a one-byte delimiter, zero padding up to the payload size),
//! which is why a payload is its plaintext plus 17 bytes. After the last layer is removed the
//! exit node recovers the message with [`recover_plaintext`].
//!
//! Difference from `sphinx-packet`, on purpose: it takes the *last* `0x01` as the delimiter
//! whatever follows it; this refuses a payload with anything but zeros after the delimiter, so
//! a corrupted payload is reported instead of delivered truncated. Every payload a sender
//! built is accepted by both, with the same result.

/// Bytes of zeros before the message.
pub const INTEGRITY_PREFIX_LEN: usize = 16;

/// Why a peeled payload holds no valid plaintext.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextError {
    /// Fewer than the 17 bytes of overhead.
    #[error("a payload of {0} bytes is shorter than its 17 bytes of overhead")]
    TooShort(usize),
    /// The 16 leading bytes are not zero: wrong key, or a payload tampered with on the way.
    #[error("the payload's integrity prefix is not zero (tampered or wrongly keyed)")]
    IntegrityPrefix,
    /// No `0x01` delimiter before the zero padding.
    #[error("the payload has no 0x01 delimiter before its zero padding")]
    Padding,
}

/// The message inside a fully peeled payload (a borrowed slice: nothing is copied).
pub fn recover_plaintext(payload: &[u8]) -> Result<&[u8], PlaintextError> {
    if payload.len() < INTEGRITY_PREFIX_LEN + 1 {
        return Err(PlaintextError::TooShort(payload.len()));
    }
    let (prefix, padded) = payload.split_at(INTEGRITY_PREFIX_LEN);
    if prefix.iter().any(|b| *b != 0) {
        return Err(PlaintextError::IntegrityPrefix);
    }
    match padded.iter().rposition(|b| *b != 0) {
        Some(end) if padded[end] == 1 => Ok(&padded[..end]),
        _ => Err(PlaintextError::Padding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encapsulate(message: &[u8], payload_len: usize) -> Vec<u8> {
        let mut payload = vec![0u8; payload_len];
        payload[16..16 + message.len()].copy_from_slice(message);
        payload[16 + message.len()] = 1;
        payload
    }

    #[test]
    fn bad_payloads_are_refused_with_their_reason() {
        assert_eq!(
            recover_plaintext(&[0; 16]),
            Err(PlaintextError::TooShort(16))
        );
        let mut tampered = encapsulate(b"hi", 64);
        tampered[3] = 9;
        assert_eq!(
            recover_plaintext(&tampered),
            Err(PlaintextError::IntegrityPrefix)
        );
        assert_eq!(recover_plaintext(&[0; 64]), Err(PlaintextError::Padding));
        let mut trailing = encapsulate(b"hi", 64);
        trailing[40] = 7;
        assert_eq!(recover_plaintext(&trailing), Err(PlaintextError::Padding));
    }

    proptest! {
        #[test]
        fn encapsulated_messages_come_back(message in proptest::collection::vec(any::<u8>(), 0..200), extra in 0usize..50) {
            let payload = encapsulate(&message, 16 + message.len() + 1 + extra);
            prop_assert_eq!(recover_plaintext(&payload), Ok(&message[..]));
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_agree_with_sphinx_packet_when_accepted(
            bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..80),
        ) {
            if let Ok(ours) = recover_plaintext(&bytes) {
                let reference = sphinx_packet::payload::Payload::from_bytes(&bytes)
                    .and_then(|p| p.recover_plaintext())
                    .expect("the reference accepts what we accept");
                prop_assert_eq!(ours, &reference[..]);
            }
        }
    }
}
