//! Tests of the replay journal: round trips, torn tails at every byte, corruption at every byte.

use super::*;
use crate::mix::ReplayFilterParams;
use crate::test_rng::SplitMix64;
use std::fs;

const KEY: [u8; 32] = [0x4b; 32];
const OTHER_KEY: [u8; 32] = [0x4c; 32];

fn filter() -> ReplayFilter {
    ReplayFilter::new(
        ReplayFilterParams::for_capacity(200_000, 1e-9).unwrap(),
        KEY,
    )
}

fn tags(rng: &mut SplitMix64, n: usize) -> Vec<[u8; 32]> {
    (0..n).map(|_| rng.bytes()).collect()
}

/// A journal of three chunks (2, 3 and 4 tags); returns the bytes, the chunks' tags and
/// where the last chunk starts.
fn three_chunks(dir: &Path) -> (Vec<u8>, Vec<Vec<[u8; 32]>>, usize) {
    let path = dir.join("three");
    let mut rng = SplitMix64(3);
    let mut journal = ReplayJournal::create(&path, KEY).unwrap();
    let chunks: Vec<Vec<[u8; 32]>> = [2, 3, 4].iter().map(|&n| tags(&mut rng, n)).collect();
    let mut last_start = 0;
    for chunk in &chunks {
        last_start = fs::metadata(&path).unwrap().len() as usize;
        journal.append(chunk);
        journal.sync().unwrap();
    }
    let bytes = fs::read(&path).unwrap();
    assert_eq!(bytes.len(), last_start + 16 + 4 * 32);
    (bytes, chunks, last_start)
}

fn replay_bytes(dir: &Path, bytes: &[u8]) -> (Result<JournalReplay, ReplayError>, ReplayFilter) {
    let path = dir.join("copy");
    fs::write(&path, bytes).unwrap();
    let filter = filter();
    (replay_journal(&path, KEY, &filter), filter)
}

#[test]
fn round_trip_across_syncs_and_chunk_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    let mut rng = SplitMix64(1);
    let mut journal = ReplayJournal::create(&path, KEY).unwrap();
    assert_eq!(
        journal.sync().unwrap(),
        0,
        "nothing appended, nothing written"
    );
    let first = tags(&mut rng, 10);
    journal.append(&first[..4]);
    journal.append(&first[4..]);
    assert_eq!(journal.pending(), 10);
    assert_eq!(journal.sync().unwrap(), 10);
    assert_eq!(journal.pending(), 0);
    // more than one chunk's worth in one sync
    let second = tags(&mut rng, MAX_CHUNK_TAGS as usize + 5);
    journal.append(&second);
    assert_eq!(journal.sync().unwrap(), 10 + second.len() as u64);
    assert_eq!(journal.durable_tags(), 10 + second.len() as u64);
    drop(journal);

    let restored = filter();
    let replay = replay_journal(&path, KEY, &restored).unwrap();
    assert_eq!(replay.tags, 10 + second.len() as u64);
    assert!(!replay.torn_tail);
    assert_eq!(replay.valid_len, fs::metadata(&path).unwrap().len());
    assert!(first.iter().chain(&second).all(|t| restored.contains(t)));
    assert_eq!(restored.inserted(), replay.tags);
    let stranger = rng.bytes();
    assert!(!restored.contains(&stranger));
}

#[test]
fn a_cut_inside_the_last_chunk_is_a_torn_tail_and_the_earlier_chunks_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, chunks, last_start) = three_chunks(dir.path());
    for cut in last_start..bytes.len() {
        let (replay, restored) = replay_bytes(dir.path(), &bytes[..cut]);
        let replay = replay.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(replay.tags, 5, "cut at {cut}");
        assert_eq!(replay.torn_tail, cut > last_start, "cut at {cut}");
        assert_eq!(replay.valid_len, last_start as u64);
        assert!(chunks[..2].iter().flatten().all(|t| restored.contains(t)));
        assert!(
            !chunks[2].iter().any(|t| restored.contains(t)),
            "cut at {cut}"
        );
    }
    let (whole, _) = replay_bytes(dir.path(), &bytes);
    assert_eq!(whole.unwrap().tags, 9);
}

#[test]
fn a_garbled_last_chunk_or_a_zero_filled_tail_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, last_start) = three_chunks(dir.path());
    for at in last_start..bytes.len() {
        let mut garbled = bytes.clone();
        garbled[at] ^= 0x10;
        let (replay, _) = replay_bytes(dir.path(), &garbled);
        let replay = replay.unwrap_or_else(|e| panic!("flip at {at}: {e}"));
        assert_eq!((replay.tags, replay.torn_tail), (5, true), "flip at {at}");
    }
    // a filesystem that extended the file before the data arrived
    for zeros in [1, 7, 8, 100, 4096] {
        let mut extended = bytes.clone();
        extended.resize(bytes.len() + zeros, 0);
        let (replay, _) = replay_bytes(dir.path(), &extended);
        let replay = replay.unwrap();
        assert_eq!((replay.tags, replay.torn_tail), (9, true), "{zeros} zeros");
    }
}

#[test]
fn a_flipped_byte_in_a_middle_chunk_is_corruption_wherever_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, chunks, last_start) = three_chunks(dir.path());
    let middle_start = HEADER_LEN + 16 + 2 * 32;
    assert_eq!(middle_start + 16 + 3 * 32, last_start);
    for at in middle_start..last_start {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let (replay, restored) = replay_bytes(dir.path(), &damaged);
        match replay {
            Err(ReplayError::JournalCorrupt { offset, .. }) => {
                assert_eq!(offset, middle_start as u64, "flip at {at}")
            }
            other => panic!("flip at {at}: {other:?}"),
        }
        // the chunk before the damage was applied
        assert!(chunks[0].iter().all(|t| restored.contains(t)));
    }
    // zeros over a middle chunk's header, with a good chunk after them
    let mut zeroed = bytes.clone();
    zeroed[middle_start..middle_start + 8].fill(0);
    assert!(matches!(
        replay_bytes(dir.path(), &zeroed).0,
        Err(ReplayError::JournalCorrupt { .. })
    ));
}

#[test]
fn a_damaged_header_is_an_error_and_another_keys_journal_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, _) = three_chunks(dir.path());
    for at in 0..HEADER_LEN {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x80;
        let (replay, restored) = replay_bytes(dir.path(), &damaged);
        assert!(
            matches!(
                replay,
                Err(ReplayError::BadMagic { .. }
                    | ReplayError::UnsupportedVersion { .. }
                    | ReplayError::ChecksumMismatch { .. })
            ),
            "flip at {at}: {replay:?}"
        );
        assert_eq!(restored.inserted(), 0);
    }

    let path = dir.path().join("other");
    let mut journal = ReplayJournal::create(&path, OTHER_KEY).unwrap();
    journal.append(&[[1; 32]]);
    journal.sync().unwrap();
    let restored = filter();
    match replay_journal(&path, KEY, &restored) {
        Err(ReplayError::JournalKeyMismatch { found, .. }) => assert_eq!(found, OTHER_KEY),
        other => panic!("{other:?}"),
    }
    assert_eq!(restored.inserted(), 0);
}

#[test]
fn a_journal_torn_while_being_created_holds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, _) = three_chunks(dir.path());
    for cut in [0, 1, HEADER_LEN - 1] {
        let (replay, _) = replay_bytes(dir.path(), &bytes[..cut]);
        assert_eq!(
            replay.unwrap(),
            JournalReplay {
                tags: 0,
                torn_tail: true,
                valid_len: 0
            }
        );
    }
    let missing = replay_journal(&dir.path().join("missing"), KEY, &filter());
    assert!(matches!(missing, Err(ReplayError::Io { .. })));
}

#[test]
fn resume_cuts_a_torn_tail_and_appends_after_the_verified_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, chunks, last_start) = three_chunks(dir.path());
    let path = dir.path().join("resumed");
    fs::write(&path, &bytes[..last_start + 50]).unwrap();

    let first_life = filter();
    let (mut journal, replay) = ReplayJournal::resume(&path, KEY, &first_life).unwrap();
    assert_eq!((replay.tags, replay.torn_tail), (5, true));
    assert_eq!(fs::metadata(&path).unwrap().len(), last_start as u64);
    assert_eq!(journal.durable_tags(), 5);
    let mut rng = SplitMix64(9);
    let later = tags(&mut rng, 6);
    journal.append(&later);
    assert_eq!(journal.sync().unwrap(), 11);
    // appended but never synced: a crash loses these and only these
    journal.append(&tags(&mut rng, 3));
    drop(journal);

    let second_life = filter();
    let (journal, replay) = ReplayJournal::resume(&path, KEY, &second_life).unwrap();
    assert_eq!((replay.tags, replay.torn_tail), (11, false));
    assert_eq!(journal.durable_tags(), 11);
    assert!(chunks[..2]
        .iter()
        .flatten()
        .chain(&later)
        .all(|t| second_life.contains(t)));
    assert!(!chunks[2].iter().any(|t| second_life.contains(t)));

    // without a file, resume starts a new journal
    let fresh = dir.path().join("fresh");
    let (mut journal, replay) = ReplayJournal::resume(&fresh, KEY, &filter()).unwrap();
    assert_eq!((replay.tags, replay.torn_tail), (0, false));
    journal.append(&later);
    journal.sync().unwrap();
    assert_eq!(replay_journal(&fresh, KEY, &filter()).unwrap().tags, 6);
}

#[test]
fn resume_refuses_another_keys_journal_and_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _, _) = three_chunks(dir.path());
    let path = dir.path().join("three");
    let result = ReplayJournal::resume(&path, OTHER_KEY, &filter());
    assert!(matches!(
        result,
        Err(ReplayError::JournalKeyMismatch { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), bytes);
}
