use proptest::prelude::*;

use super::*;
use crate::pipeline::BufferPool;
use crate::wire::{FrameHeader, KeyRotation, PacketSize};

const US: u64 = 1_000;

fn policy(width: usize, linger_us: u64) -> BatchPolicy {
    BatchPolicy {
        width,
        linger: Duration::from_micros(linger_us),
    }
}

/// `count` frames that arrived at `at_us`, each tagged with `tag + i` in its first body byte.
fn frames(pool: &mut BufferPool, count: usize, at_us: u64, tag: u8) -> Vec<ReceivedFrame> {
    (0..count)
        .map(|i| {
            let mut buf = pool.take(PacketSize::Ack);
            if let Some(first) = buf.body_mut().first_mut() {
                *first = tag.wrapping_add(i as u8);
            }
            ReceivedFrame {
                header: FrameHeader::v8(PacketSize::Ack, KeyRotation::Unknown),
                buf,
                arrived: Timestamp::from_nanos(at_us * US),
                source: 0,
            }
        })
        .collect()
}

fn tags(frames: &[ReceivedFrame]) -> Vec<u8> {
    frames.iter().map(|f| f.buf.body()[0]).collect()
}

#[test]
fn whole_widths_go_at_once_and_the_rest_waits_for_its_deadline() {
    let mut pool = BufferPool::new(1 << 24);
    let mut pending = PendingBatch::new(policy(8, 500));
    let mut out = Vec::new();

    pending.push(&mut frames(&mut pool, 3, 100, 0));
    assert_eq!(
        pending.take_ready(Timestamp::from_nanos(100 * US), &mut out),
        0
    );
    assert_eq!(pending.deadline(), Some(Timestamp::from_nanos(600 * US)));

    // Ten more: the oldest eight of the thirteen go, in arrival order; five wait.
    pending.push(&mut frames(&mut pool, 10, 300, 3));
    assert_eq!(
        pending.take_ready(Timestamp::from_nanos(300 * US), &mut out),
        8
    );
    assert_eq!(tags(&out), (0..8).collect::<Vec<u8>>());
    out.clear();
    // The new oldest arrived at 300 µs: its deadline is 800 µs, not the first frames' 600.
    assert_eq!(pending.deadline(), Some(Timestamp::from_nanos(800 * US)));
    assert_eq!(
        pending.take_ready(Timestamp::from_nanos(799 * US), &mut out),
        0
    );
    assert_eq!(
        pending.take_ready(Timestamp::from_nanos(800 * US), &mut out),
        5
    );
    assert_eq!(tags(&out), (8..13).collect::<Vec<u8>>());
    assert!(pending.is_empty());
    assert_eq!(pending.deadline(), None);
}

#[test]
fn a_policy_that_never_waits_releases_everything_at_once() {
    let mut pool = BufferPool::new(1 << 24);
    let mut out = Vec::new();
    for policy in [policy(1, 0), policy(8, 0), policy(1, 500), policy(0, 500)] {
        let mut pending = PendingBatch::new(policy);
        pending.push(&mut frames(&mut pool, 3, 0, 0));
        assert_eq!(
            pending.take_ready(Timestamp::ZERO, &mut out),
            3,
            "{policy:?}"
        );
        assert!(pending.is_empty());
        for f in out.drain(..) {
            pool.give(f.buf);
        }
    }
}

#[test]
fn take_all_empties_the_batch_before_any_deadline() {
    let mut pool = BufferPool::new(1 << 24);
    let mut pending = PendingBatch::new(policy(8, 500));
    let mut out = Vec::new();
    pending.push(&mut frames(&mut pool, 5, 0, 0));
    assert_eq!(pending.take_all(&mut out), 5);
    assert!(pending.is_empty());
    assert_eq!(out.len(), 5);
}

#[test]
fn the_default_width_is_the_detected_backends_ladder() {
    let detected = crate::crypto::x25519::detected_backend();
    assert_eq!(BatchPolicy::default().width, detected.lanes());
    assert_eq!(BatchPolicy::default().linger, DEFAULT_LINGER);
    assert_eq!(Backend::Portable.lanes(), 1);
    assert_eq!(Backend::Avx512Ifma.lanes(), 8);
}

/// What one look by the runtime released: (tag, arrived, released at).
type Released = Vec<(u8, Timestamp, Timestamp)>;

/// The runtime looks at `now_us`: takes what is ready, checks the release rules, records it.
fn look(
    pending: &mut PendingBatch,
    now_us: u64,
    pool: &mut BufferPool,
    released: &mut Released,
) -> Result<(), TestCaseError> {
    let now = Timestamp::from_nanos(now_us * US);
    let policy = pending.policy();
    let was_due = pending.deadline().is_some_and(|d| d <= now);
    let mut out = Vec::new();
    let moved = pending.take_ready(now, &mut out);
    if !was_due && policy.width > 1 && !policy.linger.is_zero() {
        prop_assert_eq!(moved % policy.width, 0, "an early release is whole widths");
    }
    if let Some(deadline) = pending.deadline() {
        prop_assert!(deadline > now, "a frame past its deadline was kept");
    }
    for f in out {
        released.push((f.buf.body()[0], f.arrived, now));
        pool.give(f.buf);
    }
    Ok(())
}

proptest! {
    /// Whatever the reads and the times the runtime looks: frames leave in arrival order, no
    /// frame is lost or duplicated, releases before a deadline are whole widths, and no frame
    /// waits beyond its linger.
    #[test]
    fn frames_leave_in_order_on_time_and_in_whole_widths(
        width in 1usize..10,
        linger_us in 0u64..1_000,
        reads in prop::collection::vec((0usize..20, 0u64..400), 1..30),
    ) {
        let mut pool = BufferPool::new(1 << 26);
        let mut pending = PendingBatch::new(policy(width, linger_us));
        let mut released = Released::new();
        let mut now_us = 0u64;
        let mut tag = 0u8;
        for (count, gap_us) in reads {
            now_us += gap_us;
            // The runtime looks when a deadline passes before the next read...
            if let Some(deadline) = pending.deadline() {
                let deadline_us = deadline.as_nanos() / US;
                if deadline_us < now_us {
                    look(&mut pending, deadline_us, &mut pool, &mut released)?;
                }
            }
            // ...and after every read.
            let mut read = frames(&mut pool, count, now_us, tag);
            tag = tag.wrapping_add(count as u8);
            pending.push(&mut read);
            look(&mut pending, now_us, &mut pool, &mut released)?;
        }
        if let Some(deadline) = pending.deadline() {
            look(&mut pending, deadline.as_nanos() / US, &mut pool, &mut released)?;
        }
        prop_assert!(pending.is_empty());
        let expected: Vec<u8> = (0..released.len()).map(|i| i as u8).collect();
        prop_assert_eq!(released.iter().map(|r| r.0).collect::<Vec<_>>(), expected);
        for (_, arrived, left) in &released {
            prop_assert!(
                left.saturating_duration_since(*arrived) <= Duration::from_micros(linger_us)
            );
        }
    }
}
