#![forbid(unsafe_code)]
//! # validator-client
//!
//! The validators' HTTP API client: what mixnodes, gateways and native clients use to read
//! the network and obtain credentials (the types are `validator-core`'s).
//!
//! * [`ValidatorClient`]: one validator's HTTP API, typed.
//! * [`TopologyFetcher`]: asks every genesis validator, pools the signatures they collected for
//!   the same topology bytes, and accepts a topology only when `threshold` distinct genesis
//!   validators signed it ([`verify_signed_topology_for`]).
//! * [`obtain_credential`]: pays for and collects a bandwidth credential from `t` of the
//!   validators, checking every partial signature before aggregating.
//! * [`load_or_fetch_genesis`]: the chain's genesis, pinned in a file on first use.
//! * [`ValidatorClient::post_as_peer`]: a validator's signed relay to another
//!   ([`validator_core::peer_auth`]).

use std::collections::BTreeMap;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use validator_core::api::{
    self, AccountView, ApiError, BlindSignAnswer, BlindSignBody, BlockSummary, SpendAnswer,
    SpendBody, SpentAnswer, StatementAccepted, Status,
};
use validator_core::chain::dkg::KeyEpochId;
use validator_core::coconut::{
    aggregate_signatures, prepare_blind_sign, prove_credential, unblind_and_verify,
    BlindSignRequest, CommitmentOpenings, Signature, SignerIndex, Theta,
};
use validator_core::credential::{
    parameters, request_digest, PrivateAttributes, PublicAttributes, SpendContext, SpendNonce,
    VerificationKeySet,
};
use validator_core::genesis::{Genesis, GenesisHash};
use validator_core::ledger::BondRecord;
use validator_core::peer_auth::PeerAuth;
use validator_core::primitives::IdentityKey;
use validator_core::statement::{SignedStatement, Statement};
use validator_core::topology::{verify_signed_topology_for, EpochId, SignedTopology, Topology};

/// Timeout of one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer body read from a validator. The largest honest answer is a topology
/// with its signatures (about 300 bytes per node); 16 MiB leaves room for tens of thousands
/// of nodes while a validator that streams without end costs a reader at most that much.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The validator could not be reached, or the connection failed (with every cause: a
    /// refused certificate reads "invalid peer certificate: …").
    #[error("{url}: {}", error_chain(source))]
    Transport {
        /// The URL asked.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The validator answered with an error.
    #[error("{url}: {status} {}: {}", .body.kind, .body.error)]
    Api {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The error body.
        body: ApiError,
    },
    /// The answer could not be decoded.
    #[error("{url}: unexpected answer: {reason}")]
    Decode {
        /// The URL asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// No validator served a topology signed by the threshold.
    #[error("no topology with enough signatures: {0}")]
    NoVerifiedTopology(String),
    /// The credential could not be obtained.
    #[error("credential: {0}")]
    Credential(String),
    /// The answer's body is larger than [`MAX_ANSWER_BYTES`]; it was not read further.
    #[error("{url}: the answer is larger than {limit} bytes")]
    TooLarge {
        /// The URL asked.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// Fewer than the needed number of validators served the same verification keys.
    #[error("no verification key set served alike by {needed} of {asked} validators: {errors}")]
    NoAgreedKeys {
        /// How many had to agree.
        needed: usize,
        /// How many were asked.
        asked: usize,
        /// What the others answered or why they failed.
        errors: String,
    },
}

impl ClientError {
    /// The HTTP status, for an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One validator's API.
#[derive(Debug, Clone)]
pub struct ValidatorClient {
    http: reqwest::Client,
    base: String,
}

impl ValidatorClient {
    /// A client of the validator at `base_url` (`http://host:port`).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        // Timeouts are per request (`request`): a browser's fetch has no client-wide one.
        let builder = reqwest::Client::builder();
        // `https://` validators: the process's trust roots (the platform's and its config's
        // CA files, `tls::client`). A browser uses its own.
        #[cfg(not(target_arch = "wasm32"))]
        let builder = builder
            .connect_timeout(Duration::from_secs(3))
            .use_preconfigured_tls(rustls_config());
        let http = builder.build().map_err(|source| ClientError::Transport {
            url: base_url.to_owned(),
            source,
        })?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The body of a successful answer; an error status becomes [`ClientError::Api`].
    async fn success_body(
        url: &str,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<bytes::Bytes, ClientError> {
        let transport = |source| ClientError::Transport {
            url: url.to_owned(),
            source,
        };
        let response = sent.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = read_capped(url, response, MAX_ANSWER_BYTES).await?;
        if !(200..300).contains(&status) {
            let body = serde_json::from_slice::<ApiError>(&bytes).unwrap_or_else(|_| ApiError {
                kind: "http".into(),
                error: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
            return Err(ClientError::Api {
                url: url.to_owned(),
                status,
                body,
            });
        }
        Ok(bytes)
    }

    async fn answer<T: DeserializeOwned>(
        url: String,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, ClientError> {
        let bytes = Self::success_body(&url, sent).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// A request to `url` that gives up after [`REQUEST_TIMEOUT`]. The timeout is set per
    /// request because a browser's fetch has no client-wide one.
    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).timeout(REQUEST_TIMEOUT)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let sent = self.request(reqwest::Method::GET, &url).send().await;
        Self::answer(url, sent).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let sent = self
            .request(reqwest::Method::POST, &url)
            .json(body)
            .send()
            .await;
        Self::answer(url, sent).await
    }

    /// Posts a message from one validator to another, signed with the sender's identity
    /// `key` for the chain `genesis` at the current time
    /// ([`validator_core::peer_auth`]); the answer has no body.
    pub async fn post_as_peer<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        key: &SigningKey,
        genesis: &GenesisHash,
    ) -> Result<(), ClientError> {
        let url = format!("{}{path}", self.base);
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            url: url.clone(),
            reason: format!("encoding the request: {e}"),
        })?;
        let auth = PeerAuth::sign(key, genesis, path, unix_now_ms(), &bytes);
        let mut request = self
            .request(reqwest::Method::POST, &url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in auth.headers() {
            request = request.header(name, value);
        }
        let sent = request.body(bytes).send().await;
        Self::success_body(&url, sent).await.map(|_| ())
    }

    /// The genesis the validator runs, parsed and validated.
    pub async fn genesis(&self) -> Result<Genesis, ClientError> {
        let url = format!("{}{}", self.base, api::GENESIS);
        let sent = self.request(reqwest::Method::GET, &url).send().await;
        let bytes = Self::success_body(&url, sent).await?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|e| ClientError::Decode {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        Genesis::from_toml_str(&text).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// Its status.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get(api::STATUS).await
    }

    /// The key generation's runs this validator's chain keeps.
    pub async fn key_epochs(&self) -> Result<Vec<validator_core::api::KeyEpochView>, ClientError> {
        self.get(api::KEY_EPOCHS).await
    }

    /// The decided block at `height`, as this validator stored it.
    pub async fn block(&self, height: u64) -> Result<BlockSummary, ClientError> {
        self.get(&api::block(height)).await
    }

    /// The topology of the current epoch with the signatures it collected.
    pub async fn topology(&self) -> Result<SignedTopology, ClientError> {
        self.get(api::TOPOLOGY).await
    }

    /// The topology of `epoch`.
    pub async fn topology_at(&self, epoch: EpochId) -> Result<SignedTopology, ClientError> {
        self.get(&api::topology_at(epoch)).await
    }

    /// Submits a signed statement.
    pub async fn submit(
        &self,
        statement: &SignedStatement,
    ) -> Result<StatementAccepted, ClientError> {
        self.post(api::STATEMENTS, statement).await
    }

    /// Announces a node's Sphinx key for a rotation.
    pub async fn announce_sphinx_key(
        &self,
        announcement: &validator_core::chain::sphinx_keys::SphinxKeyAnnouncement,
    ) -> Result<validator_core::api::SphinxKeyAccepted, ClientError> {
        self.post(api::SPHINX_KEYS, announcement).await
    }

    /// The Sphinx keys the chain keeps for `node`.
    pub async fn sphinx_keys(
        &self,
        node: &IdentityKey,
    ) -> Result<validator_core::api::NodeSphinxKeys, ClientError> {
        self.get(&format!("{}/{node}", api::SPHINX_KEYS)).await
    }

    /// An account's balance and nonces.
    pub async fn account(&self, key: &IdentityKey) -> Result<AccountView, ClientError> {
        self.get(&api::account(key)).await
    }

    /// The bonded nodes.
    pub async fn nodes(&self) -> Result<Vec<BondRecord>, ClientError> {
        self.get(api::NODES).await
    }

    /// The Coconut verification keys.
    pub async fn verification_keys(&self) -> Result<VerificationKeySet, ClientError> {
        self.get(api::VERIFICATION_KEYS).await
    }

    /// The key set of key epoch `epoch`, if the chain keeps it.
    pub async fn verification_keys_at(
        &self,
        epoch: KeyEpochId,
    ) -> Result<VerificationKeySet, ClientError> {
        self.get(&format!("{}/{}", api::VERIFICATION_KEYS, epoch.0))
            .await
    }

    /// Asks for a blind signature on a paid request.
    pub async fn blind_sign(&self, body: &BlindSignBody) -> Result<BlindSignAnswer, ClientError> {
        self.post(api::BLIND_SIGN, body).await
    }

    /// Reports a presentation spent.
    pub async fn spend(&self, body: &SpendBody) -> Result<SpendAnswer, ClientError> {
        self.post(api::SPEND, body).await
    }

    /// Whether a spent tag (base58) is in the validator's spent set.
    pub async fn is_spent(&self, zeta_bs58: &str) -> Result<SpentAnswer, ClientError> {
        self.get(&api::spent(zeta_bs58)).await
    }
}

/// The process's TLS client configuration, as reqwest takes it (a `rustls::ClientConfig` by
/// value; anything else is refused at build time as an unknown backend).
#[cfg(not(target_arch = "wasm32"))]
fn rustls_config() -> tls::client::ClientConfig {
    tls::client::ClientConfig::clone(&tls::client::config())
}

/// `error` with its causes, on one line (reqwest's own message leaves them out).
fn error_chain(error: &reqwest::Error) -> String {
    let mut line = error.to_string();
    let mut next = std::error::Error::source(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = e.source();
    }
    line
}

/// Unix time in ms (0 before 1970).
fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Clients of every validator in a genesis.
pub fn clients_for(genesis: &Genesis) -> Result<Vec<ValidatorClient>, ClientError> {
    genesis
        .validators
        .iter()
        .map(|v| ValidatorClient::new(&v.api_url))
        .collect()
}

/// Reads `response`'s body, at most `limit` bytes: a longer one (by its declared length, or
/// as it arrives) is refused without reading the rest.
async fn read_capped(
    url: &str,
    response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, ClientError> {
    let too_large = || ClientError::TooLarge {
        url: url.to_owned(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|source| ClientError::Transport {
            url: url.to_owned(),
            source,
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The Coconut verification keys, accepted only when at least `needed` of `validators` serve
/// the same, internally consistent set: fewer than `needed` validators cannot make a client
/// pay for, or a gateway accept, credentials under keys of their choosing.
pub async fn agreed_key_set(
    validators: &[ValidatorClient],
    needed: usize,
) -> Result<VerificationKeySet, ClientError> {
    agreed_key_set_of(validators, needed, None).await
}

/// [`agreed_key_set`] of key epoch `epoch` (`None`: the one credentials are issued under
/// now); the agreed set names that epoch.
pub async fn agreed_key_set_of(
    validators: &[ValidatorClient],
    needed: usize,
    epoch: Option<KeyEpochId>,
) -> Result<VerificationKeySet, ClientError> {
    let answers = futures::future::join_all(validators.iter().map(|v| async move {
        match epoch {
            Some(e) => v.verification_keys_at(e).await,
            None => v.verification_keys().await,
        }
    }))
    .await;
    let mut groups: Vec<(VerificationKeySet, usize)> = Vec::new();
    let mut errors = Vec::new();
    for (v, answer) in validators.iter().zip(answers) {
        let keys = match answer {
            Ok(keys) => keys,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        if let Err(e) = keys.validate() {
            errors.push(format!("{}: published keys: {e}", v.base_url()));
            continue;
        }
        if epoch.is_some_and(|e| e != keys.key_epoch) {
            errors.push(format!(
                "{}: asked for key epoch {:?}, got {}",
                v.base_url(),
                epoch,
                keys.key_epoch
            ));
            continue;
        }
        match groups.iter_mut().find(|(k, _)| *k == keys) {
            Some((_, n)) => *n += 1,
            None => groups.push((keys, 1)),
        }
    }
    if groups.len() > 1 {
        errors.push(format!("{} different key sets were served", groups.len()));
    }
    groups
        .into_iter()
        .find(|(_, n)| *n >= needed.max(1))
        .map(|(keys, _)| keys)
        .ok_or_else(|| ClientError::NoAgreedKeys {
            needed: needed.max(1),
            asked: validators.len(),
            errors: errors.join("; "),
        })
}

/// Fetches topologies and accepts only threshold-signed ones.
#[derive(Debug, Clone)]
pub struct TopologyFetcher {
    genesis: Genesis,
    validators: Vec<ValidatorClient>,
}

impl TopologyFetcher {
    /// A fetcher asking every validator of `genesis`.
    pub fn new(genesis: Genesis) -> Result<Self, ClientError> {
        let validators = clients_for(&genesis)?;
        Ok(Self {
            genesis,
            validators,
        })
    }

    /// The genesis it trusts.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The verified topology of `epoch` (the current one if `None`).
    ///
    /// Asks every validator, groups the answers by topology bytes and merges the signatures
    /// of each group (a validator serves the signatures its peers pushed to it, which may not
    /// yet be all of them), then returns the first group that verifies.
    pub async fn fetch(&self, epoch: Option<EpochId>) -> Result<Topology, ClientError> {
        let asks = self.validators.iter().map(|v| async move {
            match epoch {
                Some(e) => v.topology_at(e).await,
                None => v.topology().await,
            }
        });
        let answers = futures::future::join_all(asks).await;
        let mut groups: BTreeMap<Vec<u8>, SignedTopology> = BTreeMap::new();
        let mut errors = Vec::new();
        for answer in answers {
            match answer {
                Ok(signed) => {
                    let entry = groups
                        .entry(signed.topology.canonical_bytes())
                        .or_insert_with(|| SignedTopology {
                            topology: signed.topology.clone(),
                            signatures: Vec::new(),
                        });
                    entry.signatures.extend(signed.signatures);
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        for signed in groups.values() {
            match verify_signed_topology_for(signed, &self.genesis) {
                Ok(topology) => return Ok(topology.clone()),
                Err(e) => errors.push(format!("epoch {}: {e}", signed.topology.epoch_id)),
            }
        }
        Err(ClientError::NoVerifiedTopology(errors.join("; ")))
    }
}

/// An aggregated credential and the secrets needed to present it.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The holder's private attributes.
    pub private: PrivateAttributes,
    /// The public attributes.
    pub public: PublicAttributes,
    /// The aggregated signature.
    pub signature: Signature,
    /// The key set it verifies under.
    pub keys: VerificationKeySet,
}

impl Credential {
    /// A fresh, unlinkable presentation for the gateway whose identity is `gateway` (bound to
    /// it and to a nonce drawn here: no other gateway can credit it).
    pub fn present(&self, gateway: IdentityKey) -> Result<SpendBody, ClientError> {
        let mut rng = rand::rng();
        let mut nonce = [0u8; 32];
        rand::Rng::fill_bytes(&mut rng, &mut nonce);
        let context = SpendContext {
            gateway,
            nonce: SpendNonce(nonce),
        };
        let theta: Theta = prove_credential(
            &parameters(),
            &self.keys.aggregate,
            &self.signature,
            &self.private.scalars(),
            &context.to_bytes(),
            &mut rng,
        )
        .map_err(|e| ClientError::Credential(e.to_string()))?;
        Ok(SpendBody {
            theta,
            public_attributes: self.public.clone(),
            gateway,
            nonce: context.nonce,
            key_epoch: self.keys.key_epoch,
        })
    }
}

/// Pays `bandwidth` units from `account` for a bandwidth credential and collects partial
/// signatures from the validators until `threshold` have verified, then aggregates.
///
/// The deposit statement is signed once and sent with every request; each validator debits
/// it once however many validators it reaches. A validator that is down, refuses or answers
/// with a signature that does not verify under its published key is skipped.
pub async fn obtain_credential(
    genesis: &Genesis,
    account: &SigningKey,
    bandwidth: u64,
) -> Result<Credential, ClientError> {
    let validators = clients_for(genesis)?;
    let account_key = IdentityKey::from(account);
    let (keys, nonce) = keys_and_nonce(genesis, &validators, &account_key).await?;
    let params = parameters();
    let mut rng = rand::rng();
    let private = PrivateAttributes::random(&mut rng);
    let public = PublicAttributes::bandwidth_voucher(bandwidth);
    let (openings, request) =
        prepare_blind_sign(&params, &private.scalars(), &public.scalars(), &mut rng)
            .map_err(|e| ClientError::Credential(e.to_string()))?;
    let digest = request_digest(&request, &public);
    let statement = Statement::deposit(
        genesis.genesis_hash(),
        account_key,
        nonce,
        bandwidth,
        digest,
    );
    let deposit = SignedStatement::sign(statement, account)
        .map_err(|e| ClientError::Credential(e.to_string()))?;
    let body = BlindSignBody {
        deposit,
        request: request.clone(),
        public_attributes: public.clone(),
    };
    let answers = futures::future::join_all(validators.iter().map(|v| v.blind_sign(&body))).await;
    let blinded = Blinded {
        request: &request,
        openings: &openings,
        private: &private,
        public: &public,
    };
    let partials = verified_partials(&validators, answers, &keys, &blinded)?;
    let signature =
        aggregate_signatures(&partials).map_err(|e| ClientError::Credential(e.to_string()))?;
    Ok(Credential {
        private,
        public,
        signature,
        keys,
    })
}

/// The verification keys a threshold of the genesis validators agree on, and the account's
/// next nonce from the first validator that answers.
async fn keys_and_nonce(
    genesis: &Genesis,
    validators: &[ValidatorClient],
    account: &IdentityKey,
) -> Result<(VerificationKeySet, u64), ClientError> {
    let needed = usize::try_from(genesis.threshold).unwrap_or(usize::MAX);
    let keys = agreed_key_set(validators, needed).await?;
    let mut errors = Vec::new();
    for v in validators {
        match v.account(account).await {
            Ok(view) => return Ok((keys, view.next_free_nonce)),
            Err(e) => errors.push(e.to_string()),
        }
    }
    Err(ClientError::Credential(format!(
        "no validator served the account: {}",
        errors.join("; ")
    )))
}

/// What a blind-sign request hid and revealed, to unblind its answers with.
struct Blinded<'a> {
    request: &'a BlindSignRequest,
    openings: &'a CommitmentOpenings,
    private: &'a PrivateAttributes,
    public: &'a PublicAttributes,
}

/// The first `threshold` partial signatures that verify under their signer's published key,
/// one per signer; fewer is an error naming every failure.
fn verified_partials(
    validators: &[ValidatorClient],
    answers: Vec<Result<BlindSignAnswer, ClientError>>,
    keys: &VerificationKeySet,
    blinded: &Blinded<'_>,
) -> Result<Vec<(SignerIndex, Signature)>, ClientError> {
    let params = parameters();
    let mut errors = Vec::new();
    let mut partials: Vec<(SignerIndex, Signature)> = Vec::new();
    let threshold = usize::try_from(keys.threshold).unwrap_or(usize::MAX);
    for (v, answer) in validators.iter().zip(answers) {
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        if answer.key_epoch != keys.key_epoch {
            errors.push(format!(
                "{}: signed under key epoch {}, the agreed keys are of {}",
                v.base_url(),
                answer.key_epoch,
                keys.key_epoch
            ));
            continue;
        }
        let Some(vk) = keys.authority(answer.signer_index) else {
            errors.push(format!("{}: unknown signer index", v.base_url()));
            continue;
        };
        if partials.iter().any(|(i, _)| *i == answer.signer_index) {
            continue;
        }
        match unblind_and_verify(
            &params,
            vk,
            blinded.request,
            &answer.blinded_signature,
            blinded.openings,
            &blinded.private.scalars(),
            &blinded.public.scalars(),
        ) {
            Ok(sig) => partials.push((answer.signer_index, sig)),
            Err(e) => errors.push(format!("{}: partial signature: {e}", v.base_url())),
        }
    }
    if partials.len() < threshold {
        return Err(ClientError::Credential(format!(
            "{} of {threshold} partial signatures: {}",
            partials.len(),
            errors.join("; ")
        )));
    }
    partials.truncate(threshold);
    Ok(partials)
}

/// Why the chain's genesis could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The pinned file exists but cannot be used.
    #[error(transparent)]
    Pinned(validator_core::genesis::GenesisError),
    /// Two validators serve different chains.
    #[error(
        "validators disagree on the genesis ({url} serves chain {chain}){}",
        pin.as_ref().map(|p| format!("; put the right genesis.toml at {}", p.display()))
            .unwrap_or_default()
    )]
    Disagree {
        /// The validator whose genesis differs from the first one's.
        url: String,
        /// The hash of its genesis.
        chain: String,
        /// Where the operator should put the right one, when there is a pin file.
        pin: Option<std::path::PathBuf>,
    },
    /// No validator answered with a genesis.
    #[error("no validator served the genesis: {0}")]
    NoneServed(String),
    /// A validator URL is not usable.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The genesis (pinned or served) is not the chain the operator named.
    #[error("{origin} has genesis {got}, not the {expected} given with --genesis-hash")]
    WrongChain {
        /// The pinned file or the validator it came from.
        origin: String,
        /// The hash the operator gave.
        expected: GenesisHash,
        /// The hash found.
        got: GenesisHash,
    },
    /// The fetched genesis could not be pinned.
    #[error("cannot pin the genesis at {}: {source}", path.display())]
    Write {
        /// The pin file.
        path: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// The chain's genesis: the pinned file if present, else the one every answering configured
/// validator serves, then pinned (written to `pin`). Validators that disagree on it are an
/// error naming the file to put the right one at. With `expected` (the operator's
/// `--genesis-hash`), a genesis with another hash is refused, pinned or served, and nothing is
/// pinned: the first download is then not trusted blindly.
pub async fn load_or_fetch_genesis(
    validators: &[String],
    pin: &std::path::Path,
    expected: Option<GenesisHash>,
) -> Result<Genesis, PinError> {
    if pin.exists() {
        let genesis = Genesis::load(pin).map_err(PinError::Pinned)?;
        return check_chain(genesis, expected, &pin.display());
    }
    let genesis = match fetch_genesis(validators, expected).await {
        Err(PinError::Disagree { url, chain, .. }) => {
            let pin = Some(pin.to_path_buf());
            return Err(PinError::Disagree { url, chain, pin });
        }
        other => other?,
    };
    let text = genesis.to_toml_string().map_err(PinError::Pinned)?;
    write_pin(pin, text.as_bytes()).map_err(|source| PinError::Write {
        path: pin.to_path_buf(),
        source,
    })?;
    Ok(genesis)
}

/// `genesis` if it is the chain `expected` names (or nothing is expected).
fn check_chain(
    genesis: Genesis,
    expected: Option<GenesisHash>,
    origin: &dyn std::fmt::Display,
) -> Result<Genesis, PinError> {
    match expected {
        Some(expected) if genesis.genesis_hash() != expected => Err(PinError::WrongChain {
            origin: origin.to_string(),
            expected,
            got: genesis.genesis_hash(),
        }),
        _ => Ok(genesis),
    }
}

/// The genesis every answering validator of `validators` serves, without pinning it (what a
/// client without a file system, a browser page, starts from). Validators that disagree are
/// an error; with `expected`, another chain is refused.
pub async fn fetch_genesis(
    validators: &[String],
    expected: Option<GenesisHash>,
) -> Result<Genesis, PinError> {
    let mut found: Option<Genesis> = None;
    let mut errors = Vec::new();
    for url in validators {
        let client = ValidatorClient::new(url)?;
        match client.genesis().await {
            Ok(g) => match &found {
                Some(f) if f.genesis_hash() != g.genesis_hash() => {
                    return Err(PinError::Disagree {
                        url: url.clone(),
                        chain: g.genesis_hash().to_string(),
                        pin: None,
                    })
                }
                Some(_) => {}
                None => found = Some(g),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    let genesis = found.ok_or_else(|| PinError::NoneServed(errors.join("; ")))?;
    let origin = format!("the validators ({})", validators.join(", "));
    check_chain(genesis, expected, &origin)
}

/// Writes the pin whole or not at all: into a temporary file beside it, synced, then renamed
/// over it, so a process killed mid-write leaves no truncated genesis that the next start
/// would refuse to load.
fn write_pin(pin: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = pin.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, pin)?;
    if let Some(dir) = pin.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
