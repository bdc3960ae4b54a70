//! Variable-time scalar multiplication, for **public** inputs only.
//!
//! Verifiers (authorities checking `pi_s`, gateways checking `pi_v`, anyone aggregating public
//! keys and partial signatures) handle no secrets, so they can use width-4 wNAF, which is
//! markedly faster than the constant-time double-and-add of `bls12_381`'s `*` operator. Anything
//! that touches a secret key, an opening, a witness or a private attribute keeps using `*`.

use bls12_381::{G1Projective, G2Projective, Scalar};
use group::Wnaf;

/// `point · scalar` in variable time. Both inputs must be public.
pub(crate) fn mul_g1(point: &G1Projective, scalar: &Scalar) -> G1Projective {
    Wnaf::new().scalar(scalar).base(*point)
}

/// `point · scalar` in variable time. Both inputs must be public.
pub(crate) fn mul_g2(point: &G2Projective, scalar: &Scalar) -> G2Projective {
    Wnaf::new().scalar(scalar).base(*point)
}

/// `Σ points_i · scalars_i` over G2 in variable time (pairs beyond the shorter input are
/// ignored; callers check lengths first). All inputs must be public.
pub(crate) fn sum_g2<'a>(
    points: impl IntoIterator<Item = &'a G2Projective>,
    scalars: &[Scalar],
) -> G2Projective {
    points
        .into_iter()
        .zip(scalars)
        .map(|(p, s)| mul_g2(p, s))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ff::Field;
    use group::Group;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn matches_constant_time_multiplication() {
        let mut rng = StdRng::seed_from_u64(60);
        for _ in 0..8 {
            let s = Scalar::random(&mut rng);
            let p1 = G1Projective::random(&mut rng);
            let p2 = G2Projective::random(&mut rng);
            assert_eq!(mul_g1(&p1, &s), p1 * s);
            assert_eq!(mul_g2(&p2, &s), p2 * s);
        }
        let p1 = G1Projective::generator();
        assert_eq!(mul_g1(&p1, &Scalar::zero()), G1Projective::identity());
        assert_eq!(mul_g1(&p1, &-Scalar::one()), -p1);
    }
}
