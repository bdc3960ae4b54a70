//! Drives the client core's fragment reassembly (what a client does with every fragment the
//! mixnet delivers, from anyone) with a sequence of steps read with `arbitrary`, under small
//! fuzzed limits: fragments with fuzzed headers (a handful of message ids, so they collide),
//! arbitrary bytes decoded as a fragment, fragments of real messages split by
//! [`fragment::split`], resent and in any order, and the clock moving on. After every step it
//! checks that:
//!
//! * the table stays within its limits: at most `max_partial_messages` partial messages and
//!   `max_partial_bytes` bytes, and no bytes held when no partial message is;
//! * no message id is delivered twice (the limits remember more completed ids than the input
//!   can name), and no delivered message is longer than `max_message_bytes`;
//! * a delivered message decodes as an envelope or not without panicking, and one that does
//!   encodes back to an envelope that decodes the same.
#![no_main]

use std::collections::HashSet;
use std::time::Duration;

use client::core::envelope::Envelope;
use client::core::fragment::{
    self, FragmentHeader, Reassembled, Reassembler, ReassemblyLimits, FRAGMENT_HEADER_LEN,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// Message ids the input picks from: 1..=IDS (and 0, cover traffic).
const IDS: u64 = 12;

fn check(r: &Reassembler, limits: &ReassemblyLimits) {
    assert!(
        r.partial_messages() <= limits.max_partial_messages,
        "{} partial messages, limit {}",
        r.partial_messages(),
        limits.max_partial_messages
    );
    assert!(
        r.partial_bytes() <= limits.max_partial_bytes,
        "{} partial bytes, limit {}",
        r.partial_bytes(),
        limits.max_partial_bytes
    );
    if r.partial_messages() == 0 {
        assert_eq!(r.partial_bytes(), 0, "bytes held with no partial message");
    }
}

struct Run {
    r: Reassembler,
    limits: ReassemblyLimits,
    delivered: HashSet<u64>,
    now: Duration,
}

impl Run {
    fn insert(&mut self, header: FragmentHeader, data: &[u8]) {
        let outcome = self.r.insert(header, data, self.now);
        if let Reassembled::Complete(message) = outcome {
            assert!(
                self.delivered.insert(header.message_id),
                "message {} delivered twice",
                header.message_id
            );
            assert!(message.len() <= self.limits.max_message_bytes);
            if let Ok(envelope) = Envelope::decode(&message) {
                let again = Envelope::decode(&envelope.encode()).expect("re-decodes");
                assert_eq!(again, envelope, "envelope round trip");
            }
        }
        check(&self.r, &self.limits);
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let limits = ReassemblyLimits {
        max_message_bytes: u.int_in_range(0..=4096usize)?,
        max_partial_messages: u.int_in_range(1..=6usize)?,
        max_partial_bytes: u.int_in_range(0..=40_000usize)?,
        partial_timeout: Duration::from_secs(u.int_in_range(1..=60u64)?),
        // More than the input can name: a completed id is never forgotten here.
        remembered_completed: 1024,
    };
    let mut run = Run {
        r: Reassembler::new(limits),
        limits,
        delivered: HashSet::new(),
        now: Duration::ZERO,
    };
    while !u.is_empty() {
        match u.int_in_range(0..=4u8)? {
            0 => {
                // A fuzzed header, made consistent by the decoder or refused by it.
                let mut bytes = Vec::with_capacity(FRAGMENT_HEADER_LEN + 64);
                bytes.extend_from_slice(&u.int_in_range(0..=IDS)?.to_be_bytes());
                let set_count = u.int_in_range(1..=3u16)?;
                bytes.extend_from_slice(&u.int_in_range(0..=set_count)?.to_be_bytes());
                bytes.extend_from_slice(&set_count.to_be_bytes());
                let set_len = if u.arbitrary::<bool>()? {
                    255
                } else {
                    u.int_in_range(0..=8u8)?
                };
                bytes.push(set_len);
                bytes.push(u.int_in_range(0..=set_len)?);
                let len = u.int_in_range(0..=64usize)?;
                bytes.extend_from_slice(u.bytes(len)?);
                if let Ok((header, data)) = FragmentHeader::decode(&bytes) {
                    run.insert(header, data);
                }
            }
            1 => {
                let len = u.arbitrary_len::<u8>()?.min(300);
                let bytes = u.bytes(len)?;
                if let Ok((header, data)) = FragmentHeader::decode(bytes) {
                    run.insert(header, data);
                }
            }
            2 => {
                // Some fragments of a real message, in a fuzzed order, maybe resent.
                let id = u.int_in_range(1..=IDS)?;
                let len = u.int_in_range(0..=3000usize)?;
                let capacity =
                    u.int_in_range(FRAGMENT_HEADER_LEN + 1..=FRAGMENT_HEADER_LEN + 64)?;
                let fill = u.arbitrary::<u8>()?;
                let message = vec![fill; len];
                let fragments = fragment::split(id, &message, capacity).expect("splits");
                for _ in 0..u.int_in_range(1..=fragments.len().min(600))? {
                    let f = &fragments[u.choose_index(fragments.len())?];
                    let (header, data) = FragmentHeader::decode(f).expect("split's own fragment");
                    run.insert(header, data);
                }
            }
            3 => {
                // All of a message's fragments in order: completes it (or refuses it).
                let id = u.int_in_range(1..=IDS)?;
                let len = u.int_in_range(0..=2000usize)?;
                let capacity =
                    u.int_in_range(FRAGMENT_HEADER_LEN + 1..=FRAGMENT_HEADER_LEN + 400)?;
                let message: Vec<u8> = (0..len).map(|i| (i as u8) ^ (id as u8)).collect();
                for f in fragment::split(id, &message, capacity).expect("splits") {
                    let (header, data) = FragmentHeader::decode(&f).expect("split's own fragment");
                    run.insert(header, data);
                }
            }
            _ => {
                run.now += Duration::from_millis(u.int_in_range(0..=20_000u64)?);
                run.r.expire(run.now);
                check(&run.r, &run.limits);
            }
        }
    }
    run.now += run.limits.partial_timeout;
    run.r.expire(run.now);
    assert_eq!(run.r.partial_messages(), 0, "expired at the timeout");
    assert_eq!(run.r.partial_bytes(), 0, "expired at the timeout");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
