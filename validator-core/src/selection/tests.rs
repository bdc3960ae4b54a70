use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::ledger::Ledger;
use crate::test_util::{account_key, bond, genesis, identity, node, node_key, unbond};

fn record(seed: u32, role: NodeRole, stake: Amount) -> BondRecord {
    BondRecord {
        node: node(seed, role),
        stake,
        owner: identity(&account_key(0)),
    }
}

fn params(epoch: u64, k: usize, g: usize) -> SelectionParams {
    SelectionParams {
        genesis_hash: GenesisHash([3; 32]),
        epoch: EpochId(epoch),
        previous_topology_hash: TopologyHash::NONE,
        mixnodes: k,
        gateways: g,
        minimum_bond: 100,
    }
}

#[test]
fn seed_and_stream_follow_the_documented_formulas() {
    let mut p = params(0x0102, 3, 1);
    p.previous_topology_hash = TopologyHash([9; 32]);
    let mut h = Sha256::new();
    h.update(b"mixnet-validator-selection-v1");
    h.update([3; 32]);
    h.update(0x0102u64.to_be_bytes());
    h.update([9; 32]);
    let seed: [u8; 32] = h.finalize().into();
    assert_eq!(p.seed().0, seed);

    let role_seed: [u8; 32] = Sha256::digest([&seed[..], b"mixnodes"].concat()).into();
    let mut stream = role_stream(&p.seed(), b"mixnodes");
    for i in 0u64..3 {
        let block = Sha256::digest([&role_seed[..], &i.to_be_bytes()].concat());
        let expected = u128::from_be_bytes(block[..16].try_into().unwrap());
        assert_eq!(stream.next_u128(), expected);
    }

    // Every input moves the seed.
    let base = p.seed();
    let mut q = p.clone();
    q.epoch = EpochId(0x0103);
    assert_ne!(q.seed(), base);
    let mut q = p.clone();
    q.previous_topology_hash = TopologyHash::NONE;
    assert_ne!(q.seed(), base);
    let mut q = p.clone();
    q.genesis_hash = GenesisHash([4; 32]);
    assert_ne!(q.seed(), base);
}

#[test]
fn below_stays_in_range() {
    let mut s = SeedStream::new([1; 32]);
    assert_eq!(s.below(0), 0);
    assert_eq!(s.below(1), 0);
    for bound in [
        2u128,
        3,
        7,
        1000,
        u128::from(u64::MAX) * 3,
        (1 << 127) + 1,
        u128::MAX,
    ] {
        for _ in 0..200 {
            assert!(s.below(bound) < bound);
        }
    }
    // Small bound: all values show up.
    let mut seen = [false; 5];
    for _ in 0..200 {
        seen[s.below(5) as usize] = true;
    }
    assert!(seen.iter().all(|&x| x));
}

#[test]
fn weighted_sample_takes_everything_when_k_exceeds_n() {
    let mut s = SeedStream::new([2; 32]);
    let mut picked = weighted_sample(&mut s, &[5, 1, 9], 10);
    picked.sort_unstable();
    assert_eq!(picked, vec![0, 1, 2]);
    assert!(weighted_sample(&mut s, &[], 3).is_empty());
    assert!(weighted_sample(&mut s, &[5, 1], 0).is_empty());
}

#[test]
fn layers_balance_stake_and_start_one_per_layer() {
    let recs: Vec<BondRecord> = [500, 400, 300, 200, 100, 100]
        .iter()
        .enumerate()
        .map(|(i, &s)| record(i as u32, NodeRole::Mixnode, s))
        .collect();
    let refs: Vec<&BondRecord> = recs.iter().collect();
    let out = assign_layers(&refs);
    let layer_of = |stake: Amount| {
        out.iter()
            .filter(|m| m.stake == stake)
            .map(|m| m.layer.get())
            .collect::<Vec<_>>()
    };
    // 500 -> L1, 400 -> L2, 300 -> L3, 200 -> L3 (300 is lightest), 100 -> L2, 100 -> L1.
    assert_eq!(layer_of(500), vec![1]);
    assert_eq!(layer_of(400), vec![2]);
    assert_eq!(layer_of(300), vec![3]);
    assert_eq!(layer_of(200), vec![3]);
    let mut hundreds = layer_of(100);
    hundreds.sort_unstable();
    assert_eq!(hundreds, vec![1, 2]);
    // Equal stakes: round-robin by layer number in identity order.
    let eq: Vec<BondRecord> = (0..3).map(|i| record(i, NodeRole::Mixnode, 100)).collect();
    let refs: Vec<&BondRecord> = eq.iter().collect();
    let out = assign_layers(&refs);
    let mut by_identity: Vec<&SelectedMixnode> = out.iter().collect();
    by_identity.sort_by_key(|m| m.node.identity_key);
    let layers: Vec<u8> = by_identity.iter().map(|m| m.layer.get()).collect();
    assert_eq!(layers, vec![1, 2, 3]);
}

#[test]
fn under_bonded_and_unbonded_nodes_are_never_selected() {
    let g = genesis(2, 100_000, 1, 1);
    let h = g.genesis_hash();
    let mut ledger = Ledger::from_genesis(&g);
    let mut statements = Vec::new();
    for i in 0..5u32 {
        statements.push(bond(
            h,
            0,
            u64::from(i),
            i,
            NodeRole::Mixnode,
            200 + u64::from(i),
        ));
    }
    statements.push(bond(h, 0, 5, 5, NodeRole::Mixnode, 99)); // under minimum_bond = 100
    statements.push(bond(h, 1, 0, 10, NodeRole::Gateway, 100));
    statements.push(bond(h, 1, 1, 11, NodeRole::Gateway, 50)); // under-bonded gateway
    for s in &statements {
        ledger.apply(s).unwrap();
    }

    let p = SelectionParams::from_genesis(&g, EpochId(0), TopologyHash::NONE);
    assert_eq!((p.mixnodes, p.gateways), (6, 2));
    let set = select_active_set(&p, ledger.bonded_nodes()).unwrap();
    let ids: Vec<IdentityKey> = set.mixnodes.iter().map(|m| m.node.identity_key).collect();
    assert_eq!(
        ids.len(),
        5,
        "K = 6 > 5 eligible: all eligible are selected"
    );
    assert!(!ids.contains(&identity(&node_key(5))));
    assert_eq!(set.gateways.len(), 1);
    assert_eq!(set.gateways[0].node.identity_key, identity(&node_key(10)));

    assert!(ledger.apply(&unbond(h, 0, 6, 2)).is_ok());
    let set = select_active_set(&p, ledger.bonded_nodes()).unwrap();
    let ids: Vec<IdentityKey> = set.mixnodes.iter().map(|m| m.node.identity_key).collect();
    assert_eq!(ids.len(), 4);
    assert!(!ids.contains(&identity(&node_key(2))));
}

#[test]
fn duplicate_candidates_are_refused() {
    let a = record(1, NodeRole::Mixnode, 100);
    assert_eq!(
        select_active_set(&params(0, 3, 1), [&a, &a]),
        Err(SelectionError::DuplicateCandidate(a.node.identity_key))
    );
}

#[test]
fn selection_varies_across_epochs() {
    let recs: Vec<BondRecord> = (0..20).map(|i| record(i, NodeRole::Mixnode, 100)).collect();
    let sets: BTreeSet<Vec<IdentityKey>> = (0..10)
        .map(|e| {
            select_active_set(&params(e, 3, 0), &recs)
                .unwrap()
                .mixnodes
                .iter()
                .map(|m| m.node.identity_key)
                .collect()
        })
        .collect();
    assert!(
        sets.len() >= 8,
        "only {} distinct sets in 10 epochs",
        sets.len()
    );
}

/// Exact inclusion probabilities of successive weighted sampling of `k` out of `weights`.
fn inclusion_probabilities(weights: &[f64], k: usize) -> Vec<f64> {
    fn go(w: &[f64], remaining: &[usize], k: usize, p: f64, out: &mut [f64]) {
        if k == 0 || remaining.is_empty() {
            return;
        }
        let total: f64 = remaining.iter().map(|&i| w[i]).sum();
        for (pos, &i) in remaining.iter().enumerate() {
            let q = p * w[i] / total;
            out[i] += q;
            let mut rest = remaining.to_vec();
            rest.remove(pos);
            go(w, &rest, k - 1, q, out);
        }
    }
    let mut out = vec![0.0; weights.len()];
    let all: Vec<usize> = (0..weights.len()).collect();
    go(weights, &all, k, 1.0, &mut out);
    out
}

/// Candidate set for the statistical tests: node 0 has 4x the stake of the nine others.
fn skewed() -> Vec<BondRecord> {
    (0..10)
        .map(|i| record(i, NodeRole::Mixnode, if i == 0 { 400 } else { 100 }))
        .collect()
}

const EPOCHS: u64 = 2000;

fn frequencies(recs: &[BondRecord], k: usize) -> Vec<f64> {
    let mut counts = vec![0u64; recs.len()];
    for e in 0..EPOCHS {
        let set = select_active_set(&params(e, k, 0), recs).unwrap();
        assert_eq!(set.mixnodes.len(), k);
        for m in &set.mixnodes {
            let i = recs
                .iter()
                .position(|r| r.node.identity_key == m.node.identity_key)
                .unwrap();
            counts[i] += 1;
        }
    }
    counts.iter().map(|&c| c as f64 / EPOCHS as f64).collect()
}

#[test]
fn single_draw_follows_stake_chi_square() {
    let recs = skewed();
    let freq = frequencies(&recs, 1);
    let total: f64 = recs.iter().map(|r| r.stake as f64).sum();
    let n = EPOCHS as f64;
    let chi2 = |expected: &dyn Fn(usize) -> f64| -> f64 {
        freq.iter()
            .enumerate()
            .map(|(i, f)| {
                let e = expected(i);
                (f * n - e).powi(2) / e
            })
            .sum()
    };
    let weighted = chi2(&|i| n * recs[i].stake as f64 / total);
    let uniform = chi2(&|_| n / recs.len() as f64);
    // 9 degrees of freedom: P(chi2 > 27.88) = 0.001.
    assert!(weighted < 27.88, "chi2 vs stake-weighted = {weighted}");
    assert!(
        uniform > 100.0,
        "chi2 vs uniform = {uniform}: uniform selection not rejected"
    );
}

#[test]
fn inclusion_frequency_follows_stake_without_replacement() {
    let recs = skewed();
    let k = 3;
    let weights: Vec<f64> = recs.iter().map(|r| r.stake as f64).collect();
    let p = inclusion_probabilities(&weights, k);
    assert!((p.iter().sum::<f64>() - k as f64).abs() < 1e-9);
    let freq = frequencies(&recs, k);
    let n = EPOCHS as f64;
    for (i, (&f, &pi)) in freq.iter().zip(&p).enumerate() {
        let sigma = (pi * (1.0 - pi) / n).sqrt();
        assert!(
            (f - pi).abs() < 4.5 * sigma,
            "node {i}: frequency {f:.4}, exact probability {pi:.4}, sigma {sigma:.4}"
        );
    }
    // Uniform selection would put every node at k/n = 0.3, far outside the heavy node's band.
    let sigma0 = (p[0] * (1.0 - p[0]) / n).sqrt();
    assert!((p[0] - 0.3).abs() > 10.0 * sigma0);
    let light = freq[1..].iter().sum::<f64>() / 9.0;
    let ratio = freq[0] / light;
    let expected_ratio = p[0] / (p[1..].iter().sum::<f64>() / 9.0);
    assert!(
        ratio > 1.8 && (ratio - expected_ratio).abs() < 0.25 * expected_ratio,
        "heavy/light frequency ratio {ratio:.3}, expected {expected_ratio:.3} (uniform: 1)"
    );
}

fn candidates() -> impl Strategy<Value = Vec<(bool, Amount)>> {
    prop::collection::vec((any::<bool>(), prop_oneof![0..100u64, 100..2000u64]), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn selection_properties(
        (specs, shuffled) in candidates().prop_flat_map(|v| {
            let idx: Vec<usize> = (0..v.len()).collect();
            (Just(v), Just(idx).prop_shuffle())
        }),
        k in 3usize..9,
        g in 1usize..4,
        epoch in any::<u64>(),
        prev in any::<[u8; 32]>(),
    ) {
        let recs: Vec<BondRecord> = specs
            .iter()
            .enumerate()
            .map(|(i, &(gw, stake))| {
                let role = if gw { NodeRole::Gateway } else { NodeRole::Mixnode };
                record(i as u32, role, stake)
            })
            .collect();
        let mut p = params(epoch, k, g);
        p.previous_topology_hash = TopologyHash(prev);
        let set = select_active_set(&p, &recs).unwrap();

        // Deterministic, and independent of candidate order.
        prop_assert_eq!(&select_active_set(&p, &recs).unwrap(), &set);
        let reordered: Vec<&BondRecord> = shuffled.iter().map(|&i| &recs[i]).collect();
        prop_assert_eq!(&select_active_set(&p, reordered).unwrap(), &set);

        let eligible = |role| recs.iter().filter(|r| r.node.role == role && r.stake >= 100).count();
        prop_assert_eq!(set.mixnodes.len(), k.min(eligible(NodeRole::Mixnode)));
        prop_assert_eq!(set.gateways.len(), g.min(eligible(NodeRole::Gateway)));

        let mut ids = BTreeSet::new();
        for m in &set.mixnodes {
            prop_assert!(m.stake >= 100);
            prop_assert_eq!(m.node.role, NodeRole::Mixnode);
            prop_assert!(recs.iter().any(|r| r.node == m.node && r.stake == m.stake));
            prop_assert!(ids.insert(m.node.identity_key));
        }
        for gw in &set.gateways {
            prop_assert!(gw.stake >= 100);
            prop_assert_eq!(gw.node.role, NodeRole::Gateway);
            prop_assert!(recs.iter().any(|r| r.node == gw.node && r.stake == gw.stake));
            prop_assert!(ids.insert(gw.node.identity_key));
        }

        // Canonical order.
        let mix_sorted = set.mixnodes.windows(2).all(|w| {
            (w[0].layer, w[0].node.identity_key) < (w[1].layer, w[1].node.identity_key)
        });
        prop_assert!(mix_sorted);
        let gw_sorted = set
            .gateways
            .windows(2)
            .all(|w| w[0].node.identity_key < w[1].node.identity_key);
        prop_assert!(gw_sorted);

        // Layers: all non-empty once there are three mixnodes, and balanced within one stake.
        if set.mixnodes.len() >= 3 {
            for l in Layer::ALL {
                prop_assert!(set.mixnodes.iter().any(|m| m.layer == l), "layer {} empty", l.get());
            }
            let sums = set.layer_stakes();
            let max_stake = set.mixnodes.iter().map(|m| u128::from(m.stake)).max().unwrap();
            let spread = sums.iter().max().unwrap() - sums.iter().min().unwrap();
            prop_assert!(spread <= max_stake, "layer stakes {:?}", sums);
        }
    }
}
