use super::*;
use crate::coconut::aggregate_verification_keys;
use proptest::prelude::*;

/// `(t, n, tag)` with `1 <= t <= n <= 4`.
fn sizes() -> impl Strategy<Value = (u64, u64, u8)> {
    (1u64..=4).prop_flat_map(|n| (1..=n, Just(n), any::<u8>()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn any_t_derived_keys_give_the_aggregate_and_t_minus_1_do_not(
        (t, n, tag) in sizes(),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 3),
    ) {
        let s = setup(t, n, tag);
        let run = honest_run(&s);
        let aggregate = run.outcome.aggregate_verification_key();
        let all: Vec<SignerIndex> = (1..=n).collect();
        prop_assert_eq!(aggregate.alpha(), &expected_alpha(&s, &all));
        for pick in picks {
            // A pseudo-random subset of t positions: a rotation of 0..n.
            let start = pick.index(n as usize);
            let which: Vec<usize> = (0..t as usize).map(|k| (start + k) % n as usize).collect();
            let keys = aggregate_verification_keys(&vk_pairs(&run.keys, &which)).unwrap();
            prop_assert_eq!(&keys, &aggregate);
            if t > 1 {
                let weak = aggregate_verification_keys(&vk_pairs(&run.keys, &which[1..])).unwrap();
                prop_assert_ne!(&weak, &aggregate);
            }
        }
    }
}
