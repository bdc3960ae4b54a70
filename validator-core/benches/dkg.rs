//! The key generation's cost: one whole run among `n` validators driven through chain
//! blocks (every validator's messages built, every block validated once, as one validator
//! sees the run), for 3 of 4 and 11 of 16. Prints the bytes the run writes to the chain.

use criterion::{criterion_group, criterion_main, Criterion};

use validator_core::chain::dkg::{KeyEpochId, Participant};
use validator_core::chain::{Block, BlockHeader, ChainState, Transaction};
use validator_core::test_util::{genesis, validator_key, FakeSpends};

/// Runs key epoch 0 to completion; returns the bytes of its transactions and the blocks.
fn run(n: u32, t: u32) -> (usize, u64) {
    let g = genesis(1, 1_000, n, t);
    let hash = g.genesis_hash();
    let parts: Vec<Participant> = (0..n).map(|i| Participant::new(validator_key(i))).collect();
    let mut state = ChainState::genesis(&g).expect("a valid genesis");
    let mut bytes = 0;
    let mut time_ms = g.genesis_time_unix_ms;
    while let Some(running) = state.key_epochs().running() {
        let txs: Vec<Transaction> = parts
            .iter()
            .filter_map(|p| {
                p.message(&g, &hash, running, &mut rand::rng())
                    .expect("an honest participant's message")
            })
            .map(|m| Transaction::Dkg(Box::new(m)))
            .collect();
        bytes += txs.iter().map(Transaction::encoded_len).sum::<usize>();
        time_ms += 1_000;
        let header = BlockHeader {
            height: state.height() + 1,
            time_ms,
            parent: state.last_block(),
            proposer: validator_core::primitives::IdentityKey::from(&validator_key(0)),
            state_hash: state.state_hash(),
        };
        let block = Block {
            header,
            transactions: txs,
        };
        state = state
            .validate_block(&block, &FakeSpends)
            .expect("a valid block");
    }
    assert!(state
        .key_epochs()
        .get(KeyEpochId(0))
        .is_some_and(|r| r.keys_out.is_some()));
    (bytes, state.height())
}

fn bench_dkg(c: &mut Criterion) {
    for (n, t) in [(4, 3), (16, 11)] {
        let (bytes, blocks) = run(n, t);
        println!("dkg {t} of {n}: {bytes} bytes of transactions in {blocks} blocks");
        let mut group = c.benchmark_group("dkg");
        group.sample_size(10);
        group.bench_function(format!("whole run, {t} of {n}"), |b| b.iter(|| run(n, t)));
        group.finish();
    }
}

criterion_group!(benches, bench_dkg);
criterion_main!(benches);
