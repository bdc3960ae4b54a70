//! Tests of the `wheel` module.

use super::*;
use crate::test_rng::SplitMix64;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

const MS: u64 = TICK_NANOS;

fn wheel(capacity: u32, policy: DropPolicy) -> TimingWheel<u32> {
    TimingWheel::new(
        WheelConfig {
            capacity,
            max_delay: Duration::from_secs(10),
            drop_policy: policy,
        },
        Timestamp::from_nanos(0),
    )
    .unwrap()
}

fn drain(w: &mut TimingWheel<u32>, now: Timestamp) -> Vec<u32> {
    std::iter::from_fn(|| w.poll_expired(now)).collect()
}

#[test]
fn entry_is_small() {
    assert!(TimingWheel::<u32>::entry_size_bytes() <= 32);
    assert_eq!(TimingWheel::<u32>::entry_size_bytes(), 24);
}

#[test]
fn config_validation() {
    let ok = WheelConfig::default();
    assert!(TimingWheel::<u32>::new(ok, Timestamp::default()).is_ok());
    let e = TimingWheel::<u32>::new(WheelConfig { capacity: 0, ..ok }, Timestamp::default());
    assert_eq!(e.unwrap_err(), WheelError::ZeroCapacity);
    let e = TimingWheel::<u32>::new(
        WheelConfig {
            max_delay: MAX_SUPPORTED_DELAY + Duration::from_nanos(1),
            ..ok
        },
        Timestamp::default(),
    );
    assert!(matches!(e, Err(WheelError::MaxDelayTooLarge { .. })));
    let e = TimingWheel::<u32>::new(
        WheelConfig {
            capacity: u32::MAX,
            ..ok
        },
        Timestamp::default(),
    );
    assert!(matches!(e, Err(WheelError::CapacityTooLarge(_))));
}

#[test]
fn released_in_deadline_order_within_one_tick() {
    let mut w = wheel(10_000, DropPolicy::DropNewest);
    let mut rng = SplitMix64(11);
    let mut deadlines = HashMap::new();
    // Insert at sub-millisecond times over the first 50 ms.
    let mut now = 0u64;
    for id in 0..5_000u32 {
        now += rng.next() % 10_000; // up to 10 us
        let delay = rng.next() % 10_000_000_000;
        let out = w.insert(
            Timestamp::from_nanos(now),
            Duration::from_nanos(delay),
            id,
            0,
        );
        assert_eq!(out, InsertOutcome::Scheduled { clamped: false });
        deadlines.insert(id, now + delay);
    }
    // Poll at every tick boundary and sometimes in between.
    let mut last_deadline_tick = 0;
    let mut released = 0;
    let mut t = now;
    let first_poll = now;
    while released < 5_000 {
        // Never skip a tick boundary, so lateness is bounded by a tick.
        let to_boundary = MS - t % MS;
        t += if rng.next().is_multiple_of(3) {
            to_boundary.min(333_333)
        } else {
            to_boundary
        };
        let at = Timestamp::from_nanos(t);
        while let Some(id) = w.poll_expired(at) {
            let d = deadlines[&id];
            assert!(t >= d, "item {id} released early: {t} < {d}");
            // Items that fell due during the insert phase are only
            // polled from `first_poll` on.
            let due = d.max(first_poll);
            assert!(t - due <= MS, "item {id} released late: {t} - {due}");
            let tick = d.div_ceil(MS);
            assert!(tick >= last_deadline_tick, "out of order");
            last_deadline_tick = tick;
            released += 1;
        }
    }
    assert!(w.is_empty());
    assert_eq!(w.poll_timeout(), None);
}

#[test]
fn clamps_to_max_delay() {
    let mut w = wheel(4, DropPolicy::DropNewest);
    let t0 = Timestamp::from_millis(1_000);
    let out = w.insert(t0, Duration::from_secs(60), 1, 0);
    assert_eq!(out, InsertOutcome::Scheduled { clamped: true });
    let out = w.insert(t0, Duration::from_secs(10), 2, 0);
    assert_eq!(out, InsertOutcome::Scheduled { clamped: false });
    assert_eq!(w.poll_timeout(), Some(Timestamp::from_millis(11_000)));
    assert_eq!(drain(&mut w, Timestamp::from_nanos(10_999_999_999)), vec![]);
    assert_eq!(drain(&mut w, Timestamp::from_millis(11_000)), vec![1, 2]);
}

#[test]
fn zero_delay_is_returned_by_next_poll() {
    let mut w = wheel(4, DropPolicy::DropNewest);
    let now = Timestamp::from_nanos(123_456_789);
    let _ = w.insert(now, Duration::from_millis(5), 1, 0);
    let _ = w.insert(now, Duration::ZERO, 2, 0);
    assert!(w.poll_timeout().unwrap() <= now);
    assert_eq!(w.poll_expired(now), Some(2));
    assert_eq!(w.poll_expired(now), None);
    assert_eq!(w.len(), 1);
}

#[test]
fn sub_tick_deadline_never_early() {
    let mut w = wheel(4, DropPolicy::DropNewest);
    let now = Timestamp::from_nanos(500_000);
    let _ = w.insert(now, Duration::from_millis(1), 7, 0);
    // Deadline 1.5 ms rounds up to tick 2.
    assert_eq!(w.poll_timeout(), Some(Timestamp::from_millis(2)));
    assert_eq!(w.poll_expired(Timestamp::from_nanos(1_999_999)), None);
    assert_eq!(w.poll_expired(Timestamp::from_millis(2)), Some(7));
}

#[test]
fn drop_newest_rejects_new_item() {
    let mut w = wheel(3, DropPolicy::DropNewest);
    let now = Timestamp::from_millis(5);
    for id in 0..3 {
        let out = w.insert(now, Duration::from_millis(10 + u64::from(id)), id, 0);
        assert!(matches!(out, InsertOutcome::Scheduled { .. }));
    }
    assert_eq!(
        w.insert(now, Duration::from_millis(1), 99, 0),
        InsertOutcome::Rejected(99)
    );
    assert_eq!(w.len(), 3);
    assert_eq!(drain(&mut w, Timestamp::from_millis(1_000)), vec![0, 1, 2]);
}

#[test]
fn drop_random_evicts_exactly_one_and_accounts_for_all() {
    let cap = 64u32;
    let mut w = wheel(cap, DropPolicy::DropRandom);
    let mut rng = SplitMix64(99);
    let mut now = 0u64;
    let mut evicted = Vec::new();
    let mut released = Vec::new();
    let total = 5_000u32;
    for id in 0..total {
        now += rng.next() % 3 * MS;
        let at = Timestamp::from_nanos(now);
        // Mix of levels: some within 256 ms, some far out, some zero.
        let delay = match rng.next() % 4 {
            0 => 0,
            1 => rng.next() % 200,
            _ => rng.next() % 10_000,
        };
        let full = w.len() == w.capacity();
        match w.insert(at, Duration::from_millis(delay), id, rng.next()) {
            InsertOutcome::Scheduled { .. } => assert!(!full),
            InsertOutcome::ScheduledEvicting { evicted: e, .. } => {
                assert!(full);
                assert_ne!(e, id);
                evicted.push(e);
            }
            InsertOutcome::Rejected(_) => panic!("DropRandom never rejects"),
        }
        assert!(w.len() <= cap as usize);
        if full {
            assert_eq!(w.len(), cap as usize);
        }
        if rng.next().is_multiple_of(8) {
            released.extend(drain(&mut w, at));
        }
    }
    assert!(!evicted.is_empty());
    released.extend(drain(&mut w, Timestamp::from_nanos(now + 20_000 * MS)));
    assert!(w.is_empty());
    let mut all: Vec<u32> = evicted.iter().chain(released.iter()).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..total).collect::<Vec<_>>(), "lost or duplicated");
}

#[test]
fn long_idle_gap_returns_everything() {
    let mut w = wheel(20_000, DropPolicy::DropNewest);
    let t = Timestamp::from_millis(7_777_777);
    let mut rng = SplitMix64(5);
    let mut expect = Vec::new();
    for id in 0..10_000u32 {
        let d = rng.next() % 9_900_000_000;
        let _ = w.insert(t, Duration::from_nanos(d), id, 0);
        expect.push((d.div_ceil(MS), id));
    }
    expect.sort_unstable();
    let got = drain(&mut w, t.saturating_add(Duration::from_millis(9_900)));
    let want: Vec<u32> = expect.iter().map(|&(_, id)| id).collect();
    assert_eq!(got, want);
    assert!(w.is_empty());
    // An idle gap of days with an empty wheel is immediate too.
    assert_eq!(w.poll_expired(Timestamp::from_millis(1 << 40)), None);
    let _ = w.insert(
        Timestamp::from_millis(1 << 40),
        Duration::from_secs(3),
        1,
        0,
    );
    assert_eq!(
        w.poll_timeout(),
        Some(Timestamp::from_millis((1 << 40) + 3_000))
    );
}

#[test]
fn poll_timeout_tracks_level_one_min_after_eviction() {
    let mut w = wheel(3, DropPolicy::DropRandom);
    let now = Timestamp::from_millis(0);
    // All in one far level-1 block: deadlines 5000, 5001, 5002 ms.
    for (id, d) in [(0u32, 5_000u64), (1, 5_001), (2, 5_002)] {
        let _ = w.insert(now, Duration::from_millis(d), id, 0);
    }
    assert_eq!(w.poll_timeout(), Some(Timestamp::from_millis(5_000)));
    // Slab index 0 holds id 0 (the minimum); evict it.
    let out = w.insert(now, Duration::from_millis(9_000), 3, 0);
    assert_eq!(
        out,
        InsertOutcome::ScheduledEvicting {
            evicted: 0,
            clamped: false
        }
    );
    assert_eq!(w.poll_timeout(), Some(Timestamp::from_millis(5_001)));
}

#[derive(Debug, Clone)]
enum Op {
    Insert { advance_ns: u64, delay_ns: u64 },
    Poll { advance_ns: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let delay = prop_oneof![
        Just(0u64),
        0u64..2_000_000,
        0u64..300_000_000,
        0u64..12_000_000_000,
        (0u64..20).prop_map(|t| t * MS),
    ];
    let advance = prop_oneof![
        Just(0u64),
        0u64..3_000_000,
        0u64..600_000_000,
        0u64..11_000_000_000,
    ];
    prop_oneof![
        3 => (advance.clone(), delay).prop_map(|(advance_ns, delay_ns)| Op::Insert { advance_ns, delay_ns }),
        2 => advance.prop_map(|advance_ns| Op::Poll { advance_ns }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn matches_reference_model(
        start in 0u64..1_000_000_000_000,
        cap in 1u32..80,
        random in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let max_delay = Duration::from_secs(10);
        let drop_policy = if random { DropPolicy::DropRandom } else { DropPolicy::DropNewest };
        let mut w = TimingWheel::new(
            WheelConfig { capacity: cap, max_delay, drop_policy },
            Timestamp::from_nanos(start),
        ).unwrap();
        // (deadline tick, insertion seq) -> id
        let mut model: BTreeMap<(u64, u64), u32> = BTreeMap::new();
        let mut now = start;
        let mut seq = 0u64;
        let mut seen = HashSet::new();
        let mut tick_of: HashMap<u32, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert { advance_ns, delay_ns } => {
                    now += advance_ns;
                    seq += 1;
                    let id = seq as u32;
                    let clamped = delay_ns > max_delay.as_nanos() as u64;
                    let d = delay_ns.min(max_delay.as_nanos() as u64);
                    let tick = if d == 0 { now / MS } else { (now + d).div_ceil(MS) };
                    let entropy = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    let out = w.insert(Timestamp::from_nanos(now), Duration::from_nanos(delay_ns), id, entropy);
                    let full = model.len() == cap as usize;
                    match out {
                        InsertOutcome::Rejected(r) => {
                            prop_assert!(full && !random);
                            prop_assert_eq!(r, id);
                        }
                        InsertOutcome::ScheduledEvicting { evicted, clamped: c } => {
                            // The victim is some held item: the model
                            // cannot predict which, but it must be held,
                            // and everything else must stay in order.
                            prop_assert!(full && random);
                            prop_assert_eq!(c, clamped);
                            let key = (tick_of[&evicted], u64::from(evicted));
                            prop_assert!(model.remove(&key).is_some());
                            prop_assert!(seen.insert(evicted));
                            model.insert((tick, seq), id);
                        }
                        InsertOutcome::Scheduled { clamped: c } => {
                            prop_assert!(!full);
                            prop_assert_eq!(c, clamped);
                            model.insert((tick, seq), id);
                        }
                    }
                    tick_of.insert(id, tick);
                }
                Op::Poll { advance_ns } => {
                    now += advance_ns;
                    let last_tick = now / MS;
                    let got = drain(&mut w, Timestamp::from_nanos(now));
                    let keep = model.split_off(&(last_tick + 1, 0));
                    let want: Vec<u32> = model.values().copied().collect();
                    model = keep;
                    prop_assert_eq!(&got, &want);
                    for id in got {
                        prop_assert!(seen.insert(id));
                    }
                }
            }
            prop_assert_eq!(w.len(), model.len());
            let want_timeout = model.keys().next().map(|&(tick, _)| {
                Timestamp::from_millis(tick.max(now / MS))
            });
            prop_assert_eq!(w.poll_timeout(), want_timeout);
        }
    }
}
