//! Fixtures the targets share, each built once per process (`OnceLock`): the test chain and
//! its genesis state, and Coconut keys with one real credential and presentation. Included by
//! each target with `#[path = "common.rs"] mod common;`; not every target uses every item.
#![allow(dead_code)]

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::SeedableRng;
use validator_core::api::SpendBody;
use validator_core::chain::dkg::{KeyEpoch, KeyEpochId, Participant, Phase};
use validator_core::chain::{ChainState, SpendVerifier, Transaction};
use validator_core::coconut::dkg::{DkgParams, DkgSecretKey};
use validator_core::coconut::verification::ZETA_BYTES;
use validator_core::coconut::{
    aggregate_signatures, blind_sign, prepare_blind_sign, prove_credential, ttp_keygen,
    unblind_and_verify, BlindSignRequest, BlindedSignature, CommitmentOpenings, KeyPair,
    Parameters, Scalar, Signature, Theta,
};
use validator_core::credential::{
    parameters, PublicAttributes, SpendContext, SpendNonce, VerificationKeySet,
};
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::rotation::KeyRotationParams;
use validator_core::test_util::{identity, next_block, node_key, validator_key, FakeSpends};

/// Funded accounts `account_key(0..ACCOUNTS)`; `account_key(ACCOUNTS)` has no account.
pub const ACCOUNTS: u32 = 3;
/// Validators `validator_key(0..VALIDATORS)`, threshold 3.
pub const VALIDATORS: u32 = 4;
/// The topology threshold.
pub const THRESHOLD: u32 = 3;

/// The test chain: three accounts (one holding half of `u64::MAX`, so sums near the top of
/// the range are reachable), four validators with threshold 3, short key generation phases
/// and Sphinx key rotation every two epochs.
pub fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let mut g = validator_core::test_util::genesis(ACCOUNTS, 1_000_000, VALIDATORS, THRESHOLD);
        g.accounts[0].balance = u64::MAX / 2;
        g.accounts[1].balance = 10_000;
        g.dkg.phase_blocks = 3;
        g.key_rotation = Some(KeyRotationParams {
            length_ms: 2 * g.epoch_length_ms,
            overlap_ms: 10_000,
        });
        g.validate().expect("the fuzz genesis is valid");
        g
    })
}

pub fn genesis_hash() -> GenesisHash {
    static HASH: OnceLock<GenesisHash> = OnceLock::new();
    *HASH.get_or_init(|| genesis().genesis_hash())
}

/// The state at height 0 of [`genesis`].
pub fn genesis_state() -> &'static ChainState {
    static STATE: OnceLock<ChainState> = OnceLock::new();
    STATE.get_or_init(|| ChainState::genesis(genesis()).expect("the fuzz genesis starts a chain"))
}

/// Coconut keys (2 of 3, trusted dealer), one credential issued under them and a
/// presentation of it for gateway `node_key(1)` with nonce `[9; 32]`, with every
/// intermediate value.
pub struct Credentials {
    pub params: Parameters,
    pub keys: Vec<KeyPair>,
    pub key_set: VerificationKeySet,
    pub private: Vec<Scalar>,
    pub public: PublicAttributes,
    pub openings: CommitmentOpenings,
    pub request: BlindSignRequest,
    pub blinded: Vec<BlindedSignature>,
    pub signature: Signature,
    pub spend: SpendBody,
}

impl Credentials {
    pub fn theta(&self) -> &Theta {
        &self.spend.theta
    }
}

pub fn credentials() -> &'static Credentials {
    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(7);
        let params = parameters();
        let keys = ttp_keygen(&params, 2, 3, &mut rng).expect("2 of 3 keys");
        let key_set = VerificationKeySet::from_key_pairs(2, &keys).expect("a consistent key set");
        let private = vec![Scalar::from(1234u64), Scalar::from(5678u64)];
        let public = PublicAttributes::bandwidth_voucher(1 << 20);
        let (openings, request) =
            prepare_blind_sign(&params, &private, &public.scalars(), &mut rng).expect("request");
        let blinded: Vec<BlindedSignature> = keys
            .iter()
            .map(|k| {
                blind_sign(&params, k.secret_key(), &request, &public.scalars()).expect("signs")
            })
            .collect();
        let partials: Vec<_> = keys
            .iter()
            .zip(&blinded)
            .take(2)
            .map(|(k, b)| {
                let s = unblind_and_verify(
                    &params,
                    k.verification_key(),
                    &request,
                    b,
                    &openings,
                    &private,
                    &public.scalars(),
                )
                .expect("a partial signature verifies");
                (k.index(), s)
            })
            .collect();
        let signature = aggregate_signatures(&partials).expect("aggregates");
        let context = SpendContext {
            gateway: identity(&node_key(1)),
            nonce: SpendNonce([9; 32]),
        };
        let theta = prove_credential(
            &params,
            &key_set.aggregate,
            &signature,
            &private,
            &context.to_bytes(),
            &mut rng,
        )
        .expect("a presentation");
        let spend = SpendBody {
            theta,
            public_attributes: public.clone(),
            gateway: context.gateway,
            nonce: context.nonce,
            key_epoch: KeyEpochId(0),
        };
        Credentials {
            params,
            keys,
            key_set,
            private,
            public,
            openings,
            request,
            blinded,
            signature,
            spend,
        }
    })
}

/// The validator's real presentation check (what its issuer does: attributes valid, the
/// proof and the pairing under the key set's aggregate key), with [`credentials`]'s keys
/// whatever key epoch the spend names.
pub struct RealSpends;

impl SpendVerifier for RealSpends {
    fn verify_spend(
        &self,
        spend: &SpendBody,
        _keys: Option<&VerificationKeySet>,
    ) -> Result<[u8; ZETA_BYTES], String> {
        let c = credentials();
        spend
            .public_attributes
            .validate()
            .map_err(|e| e.to_string())?;
        validator_core::coconut::verify_credential(
            &c.params,
            &c.key_set.aggregate,
            &spend.theta,
            &spend.public_attributes.scalars(),
            &spend.context().to_bytes(),
        )
        .map_err(|e| e.to_string())?;
        Ok(spend.theta.zeta_bytes())
    }
}

/// JSON decode, encode, decode: the value comes back, and its encoding is a fixed point.
pub fn json_round_trip<T>(bytes: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value: T = serde_json::from_slice(bytes).ok()?;
    let encoded = serde_json::to_vec(&value).expect("a decoded value encodes");
    let again: T = serde_json::from_slice(&encoded).expect("an encoding decodes");
    assert_eq!(again, value, "JSON round trip");
    assert_eq!(
        serde_json::to_vec(&again).expect("encodes"),
        encoded,
        "re-encoding is a fixed point"
    );
    Some(value)
}

/// The topology the test validators sign in the fixtures (three mixnodes, one per layer, and
/// a gateway): the only topology they ever signed, so the only one a threshold of their
/// signatures can vouch for.
pub fn signed_topology() -> &'static validator_core::topology::SignedTopology {
    use validator_core::test_util::{noise_key, sphinx_key, validator_key};
    use validator_core::topology::{
        EpochId, Layer, SignedTopology, Topology, TopologyGateway, TopologyMixnode,
    };
    static SIGNED: OnceLock<SignedTopology> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let address = |i: u8| std::net::SocketAddr::from(([10, 0, 0, i], 1789));
        let topology = Topology {
            epoch_id: EpochId(3),
            height: 17,
            valid_from_ms: 1_180_000,
            valid_until_ms: 1_240_000,
            rotation: Some(validator_core::rotation::RotationId(1)),
            mixnodes: (1..=3u8)
                .map(|l| TopologyMixnode {
                    identity_key: identity(&node_key(u32::from(l))),
                    sphinx_key: sphinx_key(u32::from(l)),
                    next_sphinx_key: (l == 2).then(|| sphinx_key(20)),
                    address: address(l),
                    layer: Layer::new(l).expect("layers 1 to 3"),
                    noise_key: (l == 1).then(|| noise_key(1)),
                })
                .collect(),
            gateways: vec![TopologyGateway {
                identity_key: identity(&node_key(4)),
                sphinx_key: sphinx_key(4),
                next_sphinx_key: None,
                address: address(4),
                clients_address: Some("wss://gw.example:9000".into()),
                noise_key: Some(noise_key(4)),
            }],
        };
        let signatures = (0..VALIDATORS)
            .map(|v| topology.sign(&genesis_hash(), &validator_key(v)))
            .collect();
        SignedTopology {
            topology,
            signatures,
        }
    })
}

/// The chain at the start of a phase, with what the receivers need.
pub struct PhaseState {
    pub state: ChainState,
    /// Its parameters, once registration ended.
    pub params: Option<DkgParams>,
    /// Receiver keys by index - 1.
    pub sks: Vec<DkgSecretKey>,
}

impl PhaseState {
    pub fn run(&self) -> &KeyEpoch {
        self.state.key_epochs().running().expect("a running phase")
    }
}

/// The key generation of the test chain played once through honest blocks (validator 4
/// withholds its opening, so the run reconstructs it): the states at the start of each phase
/// (registration first), and the completed run (with every dealing and
/// opening).
pub fn phases() -> &'static (Vec<PhaseState>, KeyEpoch) {
    static PHASES: OnceLock<(Vec<PhaseState>, KeyEpoch)> = OnceLock::new();
    PHASES.get_or_init(|| {
        let (g, gh) = (genesis(), genesis_hash());
        let parts: Vec<Participant> = (0..VALIDATORS)
            .map(|i| Participant::new(validator_key(i)))
            .collect();
        let mut rng = StdRng::seed_from_u64(3);
        let mut state = genesis_state().clone();
        let mut phases: Vec<PhaseState> = Vec::new();
        let mut last = None;
        for _ in 0..60 {
            let Some(run) = state.key_epochs().running().cloned() else {
                break;
            };
            if last != Some(run.phase) {
                last = Some(run.phase);
                phases.push(PhaseState {
                    params: run.params(g, &gh).ok(),
                    sks: parts.iter().map(|p| p.receiver_key(&gh, &run)).collect(),
                    state: state.clone(),
                });
            }
            let txs = parts
                .iter()
                .filter_map(|p| p.message(g, &gh, &run, &mut rng).expect("owes"))
                .filter(|m| !(m.validator == parts[3].identity() && run.phase == Phase::Opening))
                .map(|m| Transaction::Dkg(Box::new(m)))
                .collect();
            let time = state.last_time_ms() + 1_000;
            state = state
                .validate_block(&next_block(&state, time, txs), &FakeSpends)
                .expect("an honest block");
        }
        let done = state
            .key_epochs()
            .runs()
            .next_back()
            .expect("a run")
            .clone();
        assert_eq!(done.phase, Phase::Complete, "the fixture run completes");
        assert!(
            phases
                .iter()
                .any(|p| p.run().phase == Phase::Reconstruction),
            "the fixture run reconstructs"
        );
        (phases, done)
    })
}
