//! Drives the reassembly of proposal streams (what a validator does with every proposal
//! part the network hands it, from any peer) with a sequence of steps read with `arbitrary`:
//! an honest proposer streams blocks cut by [`streaming::split`], in any order; up to twenty
//! other peers send parts with fuzzed stream ids, sequence numbers, heights and sizes,
//! borsh-decoded parts, replays of the proposer's parts, and floods of streams that never
//! end; and the height moves on.
//! After every step it checks that:
//!
//! * the buffers stay within their limits: open streams in total and per peer, parts and
//!   data bytes per stream;
//! * the proposer's parts are never refused, and its block comes out exactly once, when its
//!   last part arrives, with its bytes and its `Fin` signature: twenty peers filling
//!   the table cannot keep it out (they are fewer than half the table, so one of them
//!   always holds more streams than the proposer);
//! * any block that comes out is for the current height or the next, and no longer than a
//!   block may be;
//! * a stream whose height has passed is gone.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use malachitebft_core_types::Round;
use validator_consensus::context::{Address, Height, ProposalPart};
use validator_consensus::signing::Signature;
use validator_consensus::streaming::{
    self, Limits, Reassembly, StreamPart, StreamedBlock, CHUNK_BYTES,
};
use validator_core::test_util::validator_key;

/// The proposer's peer id; the others are 1..=ATTACKERS.
const HONEST: u8 = 0;
const ATTACKERS: u8 = 20;

fn proposer() -> Address {
    static A: std::sync::OnceLock<Address> = std::sync::OnceLock::new();
    *A.get_or_init(|| Address(validator_key(0).verifying_key().to_bytes()))
}

/// The proposer's stream in flight: its block and the parts not yet delivered.
struct Honest {
    block: Vec<u8>,
    height: Height,
    round: Round,
    pending: Vec<StreamPart>,
    /// Its parts as another peer replays them.
    replays: Vec<StreamPart>,
    /// Our height when its first part arrived.
    opened_at: Option<Height>,
    /// Whether its `Init` (which names its height) arrived.
    init_delivered: bool,
}

fn check(r: &Reassembly<u8>, limits: &Limits) {
    assert!(r.len() <= limits.streams_total, "{} open streams", r.len());
    let max_parts = usize::try_from(limits.max_parts).unwrap_or(usize::MAX);
    let mut open = [0usize; ATTACKERS as usize + 1];
    for s in r.open_streams() {
        open[usize::from(*s.peer)] += 1;
        assert!(s.parts <= max_parts + 1, "{} parts buffered", s.parts);
        assert!(
            s.data_bytes <= limits.max_stream_bytes,
            "{} bytes",
            s.data_bytes
        );
    }
    for (peer, open) in open.into_iter().enumerate() {
        assert!(open <= limits.streams_per_peer, "peer {peer} holds {open}");
    }
}

fn check_block(block: &StreamedBlock, current: Height, limits: &Limits) {
    assert!(
        block.height.0 >= current.0 && block.height.0 <= current.0 + 1,
        "a block for height {} at {}",
        block.height,
        current
    );
    assert!(block.bytes.len() <= limits.max_stream_bytes);
}

fn stream_ids(honest: &Option<Honest>, current: Height) -> [Bytes; 4] {
    let theirs = honest
        .as_ref()
        .map(|h| streaming::stream_id(h.height, h.round))
        .unwrap_or_else(|| streaming::stream_id(current, Round::new(0)));
    [
        theirs,
        streaming::stream_id(current, Round::new(1)),
        Bytes::new(),
        Bytes::from_static(&[0xff; 3]),
    ]
}

fn attacker_part(u: &mut Unstructured, current: Height) -> Result<Option<ProposalPart>> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => None,
        1 => Some(ProposalPart::Init {
            height: Height(
                current
                    .0
                    .saturating_add(u.int_in_range(0..=3u64)?)
                    .saturating_sub(1),
            ),
            round: Round::new(u.int_in_range(0..=3u32)?),
            proposer: if u.arbitrary()? {
                proposer()
            } else {
                Address(u.arbitrary()?)
            },
        }),
        2 => {
            let len = if u.arbitrary()? {
                u.int_in_range(0..=64)?
            } else {
                u.int_in_range(0..=CHUNK_BYTES + 1)?
            };
            Some(ProposalPart::Data(vec![u.arbitrary()?; len]))
        }
        3 => Some(ProposalPart::Fin(Signature([u.arbitrary()?; 64]))),
        _ => {
            let len = u.int_in_range(0..=64usize)?;
            let bytes = u.bytes(len)?;
            match borsh::from_slice::<ProposalPart>(bytes) {
                Ok(part) => Some(part),
                Err(_) => return Ok(None),
            }
        }
    })
}

fn run(u: &mut Unstructured) -> Result<()> {
    let max_block = u.int_in_range(1..=3 * CHUNK_BYTES + 100)?;
    let limits = Limits::for_blocks(max_block);
    let mut r: Reassembly<u8> = Reassembly::new(limits);
    let mut current = Height(u.int_in_range(1..=1_000u64)?);
    let mut honest: Option<Honest> = None;

    for _ in 0..500 {
        if u.is_empty() {
            break;
        }
        match u.int_in_range(0..=5u8)? {
            0 if honest.is_none() => {
                // Mostly small blocks (fast runs), sometimes up to the limit (several chunks).
                let len = if u.arbitrary()? {
                    u.int_in_range(0..=max_block.min(300))?
                } else {
                    u.int_in_range(0..=max_block)?
                };
                // Each chunk filled with its own byte, so chunks put back out of order show.
                let fill: u8 = u.arbitrary()?;
                let mut block = Vec::with_capacity(len);
                let mut i = 0u8;
                while block.len() < len {
                    let end = (block.len() + CHUNK_BYTES).min(len);
                    block.resize(end, fill.wrapping_add(i));
                    i = i.wrapping_add(1);
                }
                let height = Height(current.0 + u64::from(u.arbitrary::<bool>()?));
                let round = Round::new(u.int_in_range(0..=2u32)?);
                // Signatures are the application's to check, after reassembly: the proposer's
                // is a marker here, which must come out with its block.
                let signature = Signature([0xa5; 64]);
                let mut pending = streaming::split(height, round, proposer(), &block, signature);
                // What a peer replaying the stream would send (under a signature of its own).
                let replays =
                    streaming::split(height, round, proposer(), &block, Signature([0; 64]));
                // Any delivery order: a few fuzzed swaps.
                for _ in 0..u.int_in_range(0..=8u8)? {
                    let a = u.choose_index(pending.len())?;
                    let b = u.choose_index(pending.len())?;
                    pending.swap(a, b);
                }
                pending.reverse();
                honest = Some(Honest {
                    block,
                    height,
                    round,
                    pending,
                    replays,
                    opened_at: None,
                    init_delivered: false,
                });
            }
            0 | 1 => {
                let Some(h) = honest.as_mut() else { continue };
                for _ in 0..u.int_in_range(1..=4u8)? {
                    let Some(part) = h.pending.pop() else { break };
                    h.opened_at.get_or_insert(current);
                    h.init_delivered |= matches!(part.content, Some(ProposalPart::Init { .. }));
                    let out = r
                        .insert(HONEST, part, current)
                        .unwrap_or_else(|e| panic!("the proposer's part was refused: {e}"));
                    match out {
                        Some(block) => {
                            assert!(h.pending.is_empty(), "complete before its last part");
                            check_block(&block, current, &limits);
                            assert_eq!(block.bytes, h.block);
                            assert_eq!((block.height, block.round), (h.height, h.round));
                            assert_eq!(block.proposer, proposer());
                            assert_eq!(block.signature, Signature([0xa5; 64]));
                            honest = None;
                            break;
                        }
                        None => assert!(!h.pending.is_empty(), "its last part did not complete it"),
                    }
                }
            }
            2 => {
                let peer = u.int_in_range(1..=ATTACKERS)?;
                let ids = stream_ids(&honest, current);
                let stream_id = u.choose(&ids)?.clone();
                let sequence = u.int_in_range(0..=limits.max_parts + 2)?;
                let content = attacker_part(u, current)?;
                let msg = StreamPart {
                    stream_id,
                    sequence,
                    content,
                };
                if let Ok(Some(block)) = r.insert(peer, msg, current) {
                    check_block(&block, current, &limits);
                }
            }
            3 => {
                // A flood: peers from `first` on open streams that never end, one small
                // `Data` part each, as many as the table and their shares take.
                let first = u.int_in_range(1..=ATTACKERS)?;
                let ids = stream_ids(&honest, current);
                for n in 0..u.int_in_range(1..=ATTACKERS as usize * ids.len())? {
                    let peer = 1 + (first as usize - 1 + n / ids.len()) % ATTACKERS as usize;
                    let msg = StreamPart {
                        stream_id: ids[n % ids.len()].clone(),
                        sequence: 1,
                        content: Some(ProposalPart::Data(vec![0; 8])),
                    };
                    let _ = r.insert(peer as u8, msg, current);
                    check(&r, &limits);
                }
            }
            4 => {
                // A replay of the proposer's stream under another peer's id.
                let peer = u.int_in_range(1..=ATTACKERS)?;
                let Some(h) = honest.as_ref() else { continue };
                let part = u.choose(&h.replays)?.clone();
                if let Ok(Some(block)) = r.insert(peer, part, current) {
                    check_block(&block, current, &limits);
                }
            }
            _ => {
                current = Height(current.0 + u.int_in_range(0..=2u64)?);
                r.retain_heights(current);
                if let Some(h) = honest.take_if(|h| h.height.0 < current.0) {
                    // A stream that never said its height may be for the height after the
                    // one it was opened at: it goes once that one has passed too.
                    let may_linger =
                        !h.init_delivered && h.opened_at.is_some_and(|at| at.0 + 1 >= current.0);
                    if !may_linger {
                        assert_eq!(
                            r.open_streams().filter(|s| *s.peer == HONEST).count(),
                            0,
                            "a stream for a height that has passed is still open"
                        );
                    }
                }
            }
        }
        check(&r, &limits);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
