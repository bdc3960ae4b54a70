//! `zeta` as a double-spend tag.

use std::collections::HashSet;

use super::*;

#[test]
fn same_credential_gives_same_zeta_and_is_caught() {
    let mut rng = rng(40);
    let auth = authorities(2, 3, &mut rng);
    let alice = user(&mut rng);
    let bob = user(&mut rng);
    let alice_credential = credential(&auth, &alice, &mut rng);
    let bob_credential = credential(&auth, &bob, &mut rng);

    let mut spent: HashSet<[u8; 96]> = HashSet::new();
    let mut spend = |signature: &Signature, user: &User, rng: &mut rand::rngs::StdRng| {
        let theta = prove_credential(
            &auth.params,
            &auth.vk,
            signature,
            &user.private,
            CONTEXT,
            rng,
        )
        .unwrap();
        // Over the wire and back, as a gateway would receive it.
        let theta = Theta::try_from_bytes(&theta.to_bytes()).unwrap();
        verify_credential(&auth.params, &auth.vk, &theta, &user.public, CONTEXT).unwrap();
        (theta.clone(), spent.insert(theta.zeta_bytes()))
    };

    let (first, fresh) = spend(&alice_credential, &alice, &mut rng);
    assert!(fresh);
    let (second, fresh) = spend(&alice_credential, &alice, &mut rng);
    assert!(
        !fresh,
        "second spend of the same credential must be detected"
    );
    assert_eq!(first.zeta_bytes(), second.zeta_bytes());
    // ... although the two presentations are otherwise different (unlinkable).
    assert_ne!(first.to_bytes(), second.to_bytes());
    assert_ne!(first.credential(), second.credential());

    let (other, fresh) = spend(&bob_credential, &bob, &mut rng);
    assert!(fresh);
    assert_ne!(other.zeta_bytes(), first.zeta_bytes());
}

#[test]
fn zeta_depends_only_on_the_serial_number() {
    let mut rng = rng(41);
    let auth = authorities(1, 1, &mut rng);
    let a = user(&mut rng);
    // Same serial, different binding number: same zeta (serial numbers must be unique).
    let b = User {
        private: vec![a.private[0], a.private[1] + Scalar::one()],
        public: a.public.clone(),
    };
    let c = User {
        private: vec![a.private[0] + Scalar::one(), a.private[1]],
        public: a.public.clone(),
    };
    let zeta = |u: &User, rng: &mut rand::rngs::StdRng| {
        let signature = credential(&auth, u, rng);
        prove_credential(&auth.params, &auth.vk, &signature, &u.private, CONTEXT, rng)
            .unwrap()
            .zeta_bytes()
    };
    let za = zeta(&a, &mut rng);
    assert_eq!(za, zeta(&b, &mut rng));
    assert_ne!(za, zeta(&c, &mut rng));
}
