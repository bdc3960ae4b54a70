//! The proof of work a registration carries, so that identities cost the client something.
//!
//! Work is a nonce `n` such that SHA-256(`WORK_DOMAIN` ‖ gateway identity ‖ client identity ‖
//! `n` as u64 big-endian) starts with at least `bits` zero bits; finding one takes 2^`bits`
//! hashes on average, checking it one. It is bound to both identities, so one solution
//! registers one identity at one gateway (and can be kept for that pair: a re-registration
//! of the same identity makes no new record). The gateway sets `bits` (`[clients]
//! registration_work_bits`); a client that sent too little is refused with
//! [`ErrorKind::WorkRequired`](crate::ErrorKind::WorkRequired) and the error's `work_bits`,
//! solves and registers again. A client refuses to work for more than
//! [`MAX_WORK_BITS`], so a hostile gateway cannot make it spin forever.

use sha2::{Digest, Sha256};

const WORK_DOMAIN: &[u8] = b"mixnet/gateway/registration-work/v1";

/// The most work bits a gateway may ask for and a client does (2^28 hashes: tens of seconds).
pub const MAX_WORK_BITS: u8 = 28;

/// The hash a work nonce is judged by.
pub fn work_hash(gateway: &[u8; 32], client: &[u8; 32], nonce: u64) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(WORK_DOMAIN);
    hash.update(gateway);
    hash.update(client);
    hash.update(nonce.to_be_bytes());
    hash.finalize().into()
}

/// Leading zero bits of `hash`.
pub fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut zeros = 0;
    for byte in hash {
        zeros += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    zeros
}

/// Whether `nonce` is work of at least `bits` for this client at this gateway.
pub fn is_enough(gateway: &[u8; 32], client: &[u8; 32], nonce: u64, bits: u8) -> bool {
    leading_zero_bits(&work_hash(gateway, client, nonce)) >= u32::from(bits)
}

/// The first nonce from `start` on that is work of `bits`, trying at most `tries` nonces.
pub fn solve(
    gateway: &[u8; 32],
    client: &[u8; 32],
    bits: u8,
    start: u64,
    tries: u64,
) -> Option<u64> {
    (0..tries)
        .map(|i| start.wrapping_add(i))
        .find(|nonce| is_enough(gateway, client, *nonce, bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        let mut hash = [0xFF; 32];
        assert_eq!(leading_zero_bits(&hash), 0);
        hash[0] = 0;
        hash[1] = 0b0001_0000;
        assert_eq!(leading_zero_bits(&hash), 11);
        assert_eq!(leading_zero_bits(&[0; 32]), 256);
    }

    #[test]
    fn solved_work_is_enough_and_bound_to_both_identities() {
        let (gateway, client) = ([1; 32], [2; 32]);
        let nonce = solve(&gateway, &client, 12, 0, 1 << 24).expect("found");
        assert!(is_enough(&gateway, &client, nonce, 12));
        assert!(leading_zero_bits(&work_hash(&gateway, &client, nonce)) >= 12);
        // Other identities: the same nonce is (almost surely) not enough; 12 bits fail with
        // probability 1 - 2^-12 each.
        assert!(!is_enough(&gateway, &[3; 32], nonce, 12));
        assert!(!is_enough(&[4; 32], &client, nonce, 12));
        // Too little work: the nonce before the first solution is not enough.
        let first = solve(&gateway, &client, 12, 0, 1 << 24).unwrap();
        assert!((0..first).all(|n| !is_enough(&gateway, &client, n, 12)));
        // Zero bits: anything.
        assert!(is_enough(&gateway, &client, 0, 0));
        // A bounded search gives up.
        assert_eq!(solve(&gateway, &client, 200, 0, 1000), None);
    }
}
