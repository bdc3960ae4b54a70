//! Tests of the `replay` module.

use super::persist::{tmp_path, CHECKSUM_LEN, HEADER_LEN};
use super::*;
use crate::test_rng::SplitMix64;
use proptest::prelude::*;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

const KEY_A: [u8; 32] = [0xa1; 32];
const KEY_B: [u8; 32] = [0xb2; 32];

fn small_params() -> ReplayFilterParams {
    ReplayFilterParams::for_capacity(10_000, 1e-9).unwrap()
}

/// Insert `n` tags from `seed`, then query `trials` tags from another
/// stream; returns the fraction reported present.
fn measure_fpr(params: ReplayFilterParams, n: u64, trials: u64, seed: u64) -> f64 {
    let f = ReplayFilter::new(params, KEY_A);
    let mut rng = SplitMix64(seed);
    for _ in 0..n {
        let _ = f.check_and_insert(&rng.bytes());
    }
    let mut probe = SplitMix64(seed ^ 0xdead_beef_cafe_f00d);
    let hits = (0..trials).filter(|_| f.contains(&probe.bytes())).count();
    hits as f64 / trials as f64
}

#[test]
fn fresh_then_replayed() {
    let f = ReplayFilter::new(small_params(), KEY_A);
    let tag = [7u8; 32];
    assert!(!f.contains(&tag));
    assert_eq!(f.check_and_insert(&tag), ReplayCheck::Fresh);
    assert!(f.contains(&tag));
    assert_eq!(f.check_and_insert(&tag), ReplayCheck::Replayed);
    assert_eq!(f.check_and_insert(&tag), ReplayCheck::Replayed);
    assert_eq!(f.inserted(), 1);
}

#[test]
fn distinct_tags_all_fresh_and_over_capacity() {
    let params = ReplayFilterParams::for_capacity(2_000, 1e-9).unwrap();
    let f = ReplayFilter::new(params, KEY_A);
    let mut rng = SplitMix64(1);
    let tags: Vec<_> = (0..2_000).map(|_| rng.bytes()).collect();
    for t in &tags {
        assert_eq!(f.check_and_insert(t), ReplayCheck::Fresh);
    }
    assert!(tags.iter().all(|t| f.contains(t)));
    assert_eq!(f.inserted(), 2_000);
    assert!(!f.is_over_capacity());
    assert_eq!(f.check_and_insert(&rng.bytes()), ReplayCheck::Fresh);
    assert!(f.is_over_capacity());
}

#[test]
fn concurrent_same_tags_accepted_exactly_once() {
    const THREADS: usize = 4;
    const TAGS: usize = 20_000;
    let f = Arc::new(ReplayFilter::new(
        ReplayFilterParams::for_capacity(TAGS as u64, 1e-9).unwrap(),
        KEY_A,
    ));
    let mut rng = SplitMix64(42);
    let tags: Arc<Vec<[u8; 32]>> = Arc::new((0..TAGS).map(|_| rng.bytes()).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (f, tags, barrier) = (f.clone(), tags.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Same order in every thread maximises same-instant races.
                tags.iter()
                    .map(|tag| u32::from(f.check_and_insert(tag) == ReplayCheck::Fresh))
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut fresh = vec![0u32; TAGS];
    for h in handles {
        for (i, v) in h.join().unwrap().into_iter().enumerate() {
            fresh[i] += v;
        }
    }
    assert!(
        fresh.iter().all(|&c| c == 1),
        "a tag was accepted != 1 times"
    );
    assert_eq!(f.inserted(), TAGS as u64);
}

#[test]
fn measured_fpr_within_target() {
    let n = 20_000;
    let target = 0.01;
    let trials = 200_000u64;
    let bound = 1.5 * target + 3.0 / (trials as f64).sqrt();
    let params = ReplayFilterParams::for_capacity(n, target).unwrap();
    assert!(params.false_positive_rate(n) <= target);
    let measured = measure_fpr(params, n, trials, 7);
    assert!(measured <= bound, "measured {measured} > bound {bound}");

    // The same measurement on a filter a quarter the size must fail,
    // proving the check above can fail.
    let small = ReplayFilterParams::new(params.words() / 4, params.k(), n).unwrap();
    let measured_small = measure_fpr(small, n, trials, 7);
    assert!(
        measured_small > bound,
        "undersized filter measured {measured_small} <= bound {bound}"
    );
}

#[test]
fn model_agrees_with_measurement() {
    let n = 100_000u64;
    let trials = 1_000_000u64;
    // Loads chosen so the rate (~5 %) is measurable to ~0.4 % (1σ), with
    // enough words that the particular filter realisation adds little
    // noise. For k >= 8 the independent-bits approximation is off by
    // 7-12 % here, so this test tells the two models apart.
    for (words, k, seed) in [(10_000u64, 4u32, 1u64), (12_500, 8, 2), (15_000, 12, 3)] {
        let p = ReplayFilterParams::new(words, k, n).unwrap();
        let model = p.false_positive_rate(n);
        let measured = measure_fpr(p, n, trials, seed);
        let sigma = (model * (1.0 - model) / trials as f64).sqrt();
        let tol = 4.0 * sigma + 0.015 * model;
        assert!(
            (measured - model).abs() <= tol,
            "words={words} k={k}: model {model}, measured {measured}"
        );
        let lambda = n as f64 / words as f64;
        let mut pmf = (-lambda).exp();
        let mut naive = 0.0;
        for l in 0..400 {
            if l > 0 {
                pmf *= lambda / f64::from(l);
            }
            naive += pmf * (1.0 - (63.0f64 / 64.0).powi((k * l) as i32)).powi(k as i32);
        }
        if k >= 8 {
            assert!(
                (measured - naive).abs() > tol,
                "k={k}: the naive formula {naive} fits {measured} too"
            );
        }
    }
}

#[test]
fn model_edge_cases() {
    assert_eq!(model_fpr(0, 10, 4), 0.0);
    assert_eq!(model_fpr(u64::MAX, 1, 4), 1.0);
    assert_eq!(model_fpr(10, 0, 4), 1.0);
    let a = model_fpr(1_000, 1_000, 8);
    let b = model_fpr(1_000, 2_000, 8);
    assert!(a > b && b > 0.0 && a < 1.0);
    // k = 1 has a closed form: Σ_L Poisson(L; λ)·(1 − (63/64)^L)
    // = 1 − e^(−λ/64).
    for (items, words) in [(1u64, 1u64), (3, 1), (5_000, 1_000), (70, 1)] {
        let lambda = items as f64 / words as f64;
        let got = model_fpr(items, words, 1);
        let want = 1.0 - (-lambda / 64.0).exp();
        assert!(
            (got - want).abs() < 1e-12 * want.max(1e-3),
            "{got} vs {want}"
        );
    }
    // Large lambda near saturation goes through the tail path.
    let big = model_fpr(400_000, 100, 1);
    assert!(big > 0.999_999 && big <= 1.0);
}

#[test]
fn params_rejects_nonsense() {
    assert!(matches!(
        ReplayFilterParams::for_capacity(0, 0.01),
        Err(ReplayError::ZeroCapacity)
    ));
    for bad in [0.0, 1.0, -0.5, 2.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            ReplayFilterParams::for_capacity(1000, bad),
            Err(ReplayError::InvalidFalsePositiveRate(_))
        ));
    }
    assert!(matches!(
        ReplayFilterParams::for_capacity(u64::MAX, 1e-12),
        Err(ReplayError::TargetUnreachable { .. })
    ));
    assert!(ReplayFilterParams::new(0, 4, 1).is_err());
    assert!(ReplayFilterParams::new(MAX_WORDS + 1, 4, 1).is_err());
    assert!(ReplayFilterParams::new(1, 0, 1).is_err());
    assert!(ReplayFilterParams::new(1, 17, 1).is_err());
    assert!(ReplayFilterParams::new(1, 16, 0).is_err());
    assert!(ReplayFilterParams::new(MAX_WORDS, 16, 1).is_ok());
}

#[test]
fn reset_clears_and_rekeys() {
    let mut f = ReplayFilter::new(small_params(), KEY_A);
    let tag = [9u8; 32];
    let _ = f.check_and_insert(&tag);
    f.reset(KEY_B);
    assert_eq!(f.key_id(), KEY_B);
    assert_eq!(f.inserted(), 0);
    assert!(!f.contains(&tag));
    assert_eq!(f.check_and_insert(&tag), ReplayCheck::Fresh);
}

#[test]
fn insert_tag_counts_a_tag_once_and_the_metrics_follow_the_count() {
    let params = ReplayFilterParams::for_capacity(1_000, 1e-6).unwrap();
    let f = ReplayFilter::new(params, KEY_A);
    assert_eq!(f.fill_ratio(), 0.0);
    assert_eq!(f.estimated_false_positive_rate(), 0.0);
    let mut rng = SplitMix64(5);
    let tags: Vec<[u8; 32]> = (0..250).map(|_| rng.bytes()).collect();
    for tag in &tags {
        f.insert_tag(tag);
        f.insert_tag(tag);
    }
    assert_eq!(f.inserted(), 250);
    assert!(tags.iter().all(|t| f.contains(t)));
    assert_eq!(f.check_and_insert(&tags[0]), ReplayCheck::Replayed);
    assert_eq!(f.fill_ratio(), 0.25);
    assert_eq!(
        f.estimated_false_positive_rate(),
        params.false_positive_rate(250)
    );
    for _ in 0..1_000 {
        f.insert_tag(&rng.bytes());
    }
    assert!(f.fill_ratio() > 1.0);
    assert!(f.estimated_false_positive_rate() > 1e-6);
}

fn saved_filter(dir: &Path) -> (PathBuf, ReplayFilterParams, Vec<[u8; 32]>) {
    let params = small_params();
    let f = ReplayFilter::new(params, KEY_A);
    let mut rng = SplitMix64(5);
    let tags: Vec<_> = (0..3_000).map(|_| rng.bytes()).collect();
    for t in &tags {
        assert_eq!(f.check_and_insert(t), ReplayCheck::Fresh);
    }
    let path = dir.join("replay.bin");
    f.save(&path).unwrap();
    (path, params, tags)
}

#[test]
fn save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (path, params, tags) = saved_filter(dir.path());
    assert!(!tmp_path(&path).exists());
    let expected_len = HEADER_LEN as u64 + params.memory_bytes() + CHECKSUM_LEN;
    assert_eq!(fs::metadata(&path).unwrap().len(), expected_len);
    let f = match ReplayFilter::load(&path, KEY_A, params).unwrap() {
        LoadOutcome::Restored(f) => f,
        other => panic!("expected restore, got {other:?}"),
    };
    assert_eq!(f.inserted(), tags.len() as u64);
    assert_eq!(f.key_id(), KEY_A);
    for t in &tags {
        assert_eq!(f.check_and_insert(t), ReplayCheck::Replayed);
    }
    // Saving again over an existing file works (rename replaces).
    f.save(&path).unwrap();
    assert!(matches!(
        ReplayFilter::load(&path, KEY_A, params).unwrap(),
        LoadOutcome::Restored(_)
    ));
}

#[test]
fn load_fresh_cases() {
    let dir = tempfile::tempdir().unwrap();
    let (path, params, tags) = saved_filter(dir.path());
    match ReplayFilter::load(&path, KEY_B, params).unwrap() {
        LoadOutcome::Fresh(f, FreshReason::KeyMismatch) => {
            assert_eq!(f.key_id(), KEY_B);
            assert_eq!(f.inserted(), 0);
            assert!(!f.contains(&tags[0]));
        }
        other => panic!("expected key mismatch, got {other:?}"),
    }
    let other = ReplayFilterParams::new(params.words() + 1, params.k(), 10).unwrap();
    assert!(matches!(
        ReplayFilter::load(&path, KEY_A, other).unwrap(),
        LoadOutcome::Fresh(_, FreshReason::ParamsMismatch)
    ));
    let missing = dir.path().join("nope.bin");
    let f = ReplayFilter::load(&missing, KEY_A, params).unwrap();
    assert!(matches!(f, LoadOutcome::Fresh(_, FreshReason::NoFile)));
    assert_eq!(f.into_filter().params(), params);
}

#[test]
fn truncated_file_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, params, _) = saved_filter(dir.path());
    let bytes = fs::read(&path).unwrap();
    for cut in [0, 7, HEADER_LEN - 1, HEADER_LEN + 8, bytes.len() - 1] {
        fs::write(&path, &bytes[..cut]).unwrap();
        let r = ReplayFilter::load(&path, KEY_A, params);
        assert!(
            matches!(r, Err(ReplayError::Truncated { .. })),
            "cut {cut}: {r:?}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    fs::write(&path, &longer).unwrap();
    assert!(matches!(
        ReplayFilter::load(&path, KEY_A, params),
        Err(ReplayError::TrailingData { .. })
    ));
}

#[test]
fn flipped_byte_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let (path, params, _) = saved_filter(dir.path());
    let bytes = fs::read(&path).unwrap();
    let len = bytes.len();
    // Every byte of the header and a spread of body bytes and the
    // checksum: all must be rejected, never restored or panicking.
    let offsets = (0..HEADER_LEN)
        .chain((HEADER_LEN..len).step_by(len / 40))
        .chain(len - 8..len);
    for off in offsets {
        let mut b = bytes.clone();
        b[off] ^= 0x10;
        fs::write(&path, &b).unwrap();
        let r = ReplayFilter::load(&path, KEY_A, params);
        assert!(r.is_err(), "offset {off} accepted: {r:?}");
    }
    let mut b = bytes.clone();
    b[0] ^= 1;
    fs::write(&path, &b).unwrap();
    assert!(matches!(
        ReplayFilter::load(&path, KEY_A, params),
        Err(ReplayError::BadMagic { .. })
    ));
    let mut b = bytes.clone();
    b[20] ^= 1; // inside the key id
    fs::write(&path, &b).unwrap();
    assert!(matches!(
        ReplayFilter::load(&path, KEY_A, params),
        Err(ReplayError::ChecksumMismatch { .. })
    ));
    let mut b = bytes;
    b[8] = 2; // version
    fs::write(&path, &b).unwrap();
    assert!(matches!(
        ReplayFilter::load(&path, KEY_A, params),
        Err(ReplayError::UnsupportedVersion { version: 2, .. })
    ));
}

#[test]
fn save_to_missing_directory_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = ReplayFilter::new(small_params(), KEY_A);
    let r = f.save(&dir.path().join("no/such/dir/replay.bin"));
    assert!(matches!(r, Err(ReplayError::Io { .. })));
}

#[test]
fn distinct_tags_differ_in_location() {
    // Sanity for the mapping: many tags spread over many words.
    let f = ReplayFilter::new(ReplayFilterParams::new(1_000, 8, 1).unwrap(), KEY_A);
    let mut rng = SplitMix64(3);
    let words: HashSet<usize> = (0..5_000).map(|_| f.locate(&rng.bytes()).0).collect();
    assert!(words.len() > 990);
    assert!(words.iter().all(|&w| w < 1_000));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn for_capacity_meets_target_minimally(
        items in 1u64..2_000_000_000_000,
        exp in -12.0f64..-0.05,
    ) {
        let target = 10f64.powf(exp);
        match ReplayFilterParams::for_capacity(items, target) {
            Ok(p) => {
                prop_assert!((1..=MAX_HASHES).contains(&p.k()));
                prop_assert!(p.memory_bytes() <= MAX_MEMORY_BYTES);
                prop_assert!(p.false_positive_rate(items) <= target);
                prop_assert_eq!(p.capacity(), items);
                if p.words() > 1 {
                    // One word fewer misses the target for every k.
                    for k in 1..=MAX_HASHES {
                        prop_assert!(model_fpr(items, p.words() - 1, k) > target);
                    }
                }
            }
            Err(ReplayError::TargetUnreachable { .. }) => {
                for k in 1..=MAX_HASHES {
                    prop_assert!(model_fpr(items, MAX_WORDS, k) > target);
                }
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn for_capacity_never_panics(items in any::<u64>(), rate in any::<f64>()) {
        let _ = ReplayFilterParams::for_capacity(items, rate);
    }
}
