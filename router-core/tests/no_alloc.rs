//! Unwrapping allocates nothing: a counting global allocator watches the forward and final
//! paths (and the refusals) of packets of every size.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::strategies::{packet_spec, SIZES};
use proptest::strategy::{Strategy, ValueTree};
use router_core::sphinx::{
    unwrap_in_place, BatchUnwrapper, Hop, KeyChoice, MultiKeyUnwrapper, SphinxSecretKey,
};

/// Counts allocations made by the current thread (the test harness runs other threads).
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates every call to the system allocator unchanged; the counter is a
// thread-local `Cell` with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as our caller's
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn unwrapping_a_whole_route_allocates_nothing() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut seen_forward = 0;
    let mut seen_final = 0;
    for size in SIZES {
        for _ in 0..4 {
            let mut spec = packet_spec().new_tree(&mut runner).unwrap().current();
            spec.packet_size = size;
            spec.message.truncate(size - 348 - 17);
            let mut packet = spec.build().to_bytes();
            let keys: Vec<SphinxSecretKey> = spec
                .node_secrets
                .iter()
                .map(|s| SphinxSecretKey::from_bytes(*s))
                .collect();

            for key in &keys {
                let before = allocations();
                let result = unwrap_in_place(&mut packet, key);
                let after = allocations();
                assert_eq!(after, before, "unwrap allocated ({size}-byte packet)");
                match result.unwrap().hop {
                    Hop::Forward { .. } => seen_forward += 1,
                    Hop::Final { .. } => seen_final += 1,
                }
            }

            // a refused packet allocates nothing either
            let before = allocations();
            assert!(unwrap_in_place(&mut packet, &keys[0]).is_err());
            assert_eq!(allocations(), before, "a refusal allocated");
        }
    }
    assert!(seen_forward > 0 && seen_final > 0);
    // the counter works: this allocates
    let before = allocations();
    let boxed = std::hint::black_box(Box::new(1u64));
    assert!(allocations() > before);
    drop(boxed);
}

#[test]
fn a_warm_batch_unwrapper_allocates_nothing() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let secret = [0x33; 32];
    let batch: Vec<Vec<u8>> = (0..24)
        .map(|_| {
            let mut spec = packet_spec().new_tree(&mut runner).unwrap().current();
            spec.node_secrets[0] = secret;
            spec.build().to_bytes()
        })
        .collect();
    let mut unwrapper = BatchUnwrapper::new(SphinxSecretKey::from_bytes(secret));
    let mut results = Vec::new();
    // the first batch sizes the scratch space
    unwrapper.unwrap_batch(&mut batch.clone(), &mut results);
    assert!(results.iter().all(Result::is_ok));

    let mut packets = batch.clone();
    let before = allocations();
    unwrapper.unwrap_batch(&mut packets, &mut results);
    assert_eq!(allocations(), before, "a warm batch allocated");
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn a_warm_multi_key_unwrapper_allocates_nothing_even_when_it_tries_the_second_key() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let secrets = [[0x44; 32], [0x55; 32]];
    let batch: Vec<Vec<u8>> = (0..24)
        .map(|i| {
            let mut spec = packet_spec().new_tree(&mut runner).unwrap().current();
            spec.node_secrets[0] = secrets[i % 2];
            spec.build().to_bytes()
        })
        .collect();
    let keys = secrets.map(SphinxSecretKey::from_bytes);
    let mut unwrapper = MultiKeyUnwrapper::new();
    let mut results = Vec::new();
    // the newest key first: half the batch needs the second round
    let choose = |_: &Vec<u8>| KeyChoice::Either { first: 0, then: 1 };
    unwrapper.unwrap_batch_keyed(&mut batch.clone(), &keys, choose, &mut results);
    assert!(results.iter().all(Result::is_ok));

    let mut packets = batch.clone();
    let before = allocations();
    unwrapper.unwrap_batch_keyed(&mut packets, &keys, choose, &mut results);
    assert_eq!(allocations(), before, "a warm batch allocated");
    let opened_by_second = results.iter().filter(|r| matches!(r, Ok((_, 1)))).count();
    assert_eq!(opened_by_second, 12);
}
