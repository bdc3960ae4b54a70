//! The world every run shares: two gateways (free bandwidth and credentials) with their
//! stores, pumps and forwarders on one paused-clock runtime, and real Coconut presentations.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use gateway::config::ClientsSection;
use gateway::connection::{BandwidthMode, Shared};
use gateway::credentials::CredentialVerifier;
use gateway::delivery::{run_pump, Online};
use gateway::entry_policy::EntryPolicy;
use gateway::forwarder::{Forwarder, ForwarderLinks, ForwarderSettings};
use gateway::source_limits::SourceLimits;
use gateway::stats::GatewayStats;
use gateway::store::{ClientId, MailboxLimits, Store};
use gateway_protocol::handshake::ReplayWindow;
use gateway_protocol::SharedKey;
use router_core::noise::handshake::StaticKey;
use router_core::noise::peers::{LinkPeers, NoiseMode};
use router_core::wire::FramingVersion;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use validator_core::coconut::{
    blind_sign, prepare_blind_sign, prove_credential, ttp_keygen, unblind, Theta,
};
use validator_core::credential::{parameters, PublicAttributes, SpendContext, SpendNonce};
use validator_core::primitives::IdentityKey;

use super::*;

pub(super) fn clients_section() -> ClientsSection {
    ClientsSection {
        registration_work_bits: 0,
        packets_per_second: 20,
        burst_packets: 4,
        controls_per_second: 10,
        burst_controls: 4,
        max_refused_credentials: MAX_REFUSED,
        registration_burst_per_source: 1 << 30,
        registrations_per_hour_per_source: 1 << 30,
        ..ClientsSection::default()
    }
}

/// Presentations of two credentials (different serial numbers) for `gateway`, two each.
pub(super) fn presentations(gateway: IdentityKey) -> Vec<Theta> {
    let mut rng = rand::rng();
    let params = parameters();
    let keys = ttp_keygen(&params, 1, 1, &mut rng).expect("1 of 1");
    let key = &keys[0];
    let public = PublicAttributes::bandwidth_voucher(1 << 20).scalars();
    let mut thetas = Vec::new();
    for serial in [&b"serial one"[..], b"serial two"] {
        let private = [
            validator_core::coconut::hash_to_attribute(serial),
            validator_core::coconut::hash_to_attribute(b"binding"),
        ];
        let (openings, request) =
            prepare_blind_sign(&params, &private, &public, &mut rng).expect("valid input");
        let blinded = blind_sign(&params, key.secret_key(), &request, &public).expect("signs");
        let signature = unblind(key.verification_key(), &blinded, &openings).expect("unblinds");
        for nonce in [1u8, 2] {
            let context = SpendContext {
                gateway,
                nonce: SpendNonce([nonce; 32]),
            };
            thetas.push(
                prove_credential(
                    &params,
                    key.verification_key(),
                    &signature,
                    &private,
                    &context.to_bytes(),
                    &mut rng,
                )
                .expect("proves"),
            );
        }
    }
    thetas
}

pub(super) fn gateway(
    runtime: &Runtime,
    dir: &std::path::Path,
    paid: bool,
    identity: &SigningKey,
    policy: &Arc<EntryPolicy>,
) -> Gateway {
    let settings = clients_section();
    let stats = Arc::new(GatewayStats::default());
    let store = Arc::new(
        Store::open(
            &dir.join(if paid { "paid.redb" } else { "free.redb" }),
            MailboxLimits {
                max_messages: MAX_MESSAGES,
                max_bytes: MAX_BYTES,
                max_total_bytes: 1 << 40,
                max_age_ms: 7 * 24 * 3600 * 1000,
                require_bandwidth: paid,
            },
        )
        .expect("opens"),
    );
    let forwarder = Forwarder::new(
        ForwarderSettings {
            queue_capacity: 4,
            connect_timeout: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            version: FramingVersion::V8,
        },
        Arc::new(ForwarderLinks::new(
            NoiseMode::Off,
            StaticKey::from_secret([3; 32]),
            Duration::from_secs(1),
            LinkPeers::open(),
        )),
        stats.clone(),
    );
    let online = Arc::new(Online::default());
    let bandwidth = if paid {
        let verifier = CredentialVerifier::new(IdentityKey::from(identity), &[]).expect("no URL");
        BandwidthMode::Credentials(Box::new(verifier))
    } else {
        BandwidthMode::FreeForTesting
    };
    let shared = Arc::new(Shared {
        identity: identity.clone(),
        store: store.clone(),
        online: online.clone(),
        forwarder: forwarder.clone(),
        policy: policy.clone(),
        bandwidth,
        stats: stats.clone(),
        replay: Mutex::new(ReplayWindow::new(settings.auth_window_ms, 1 << 20, 1 << 10)),
        sources: Mutex::new(SourceLimits::new(settings.source_settings())),
        settings,
        mailbox_batch: BATCH,
        sessions: AtomicU64::new(0),
        origin: runtime.block_on(async { tokio::time::Instant::now() }),
        tls: None,
    });
    let (pump, rx) = mpsc::channel(64);
    runtime.spawn(run_pump(
        rx,
        online,
        store,
        forwarder,
        policy.clone(),
        stats,
    ));
    Gateway { shared, pump, paid }
}

pub(super) fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let sink = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("loopback");
        let hop = sink.local_addr().expect("bound");
        runtime.spawn(async move {
            while let Ok((mut stream, _)) = sink.accept().await {
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
                });
            }
        });
        let policy = Arc::new(EntryPolicy::empty());
        policy.set([hop].into());
        // The databases live in a directory removed once they are open (the open files stay).
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("gateway-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let identity = SigningKey::from_bytes(&[200; 32]);
        let free = gateway(&runtime, &dir, false, &identity, &policy);
        let paid = gateway(&runtime, &dir, true, &identity, &policy);
        let _ = std::fs::remove_dir_all(&dir);
        let gateway_id = IdentityKey::from(&identity);
        let thetas = presentations(gateway_id);
        // The first credential was spent here (by someone else).
        let spender: ClientId = [0xEE; 32];
        let store = &paid.shared.store;
        store
            .register(&spender, &SharedKey::from_bytes([1; 32]), gateway::now_ms())
            .expect("registers");
        assert!(store
            .redeem(&thetas[0].zeta_bytes(), &spender, 1, gateway::now_ms())
            .expect("redeems"));
        World {
            runtime,
            free,
            paid,
            hop,
            gateway_id,
            thetas,
            clients: AtomicU64::new(1),
            nonces: AtomicU64::new(1),
        }
    })
}
