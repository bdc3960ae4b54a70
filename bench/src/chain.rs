//! `bench chain`: the validators' chain alone, four validator processes on loopback (release
//! builds, the local network's configuration: 250 ms blocks), measured as its users meet it.
//!
//! 1. **Statements**: bond statements from many accounts, submitted as fast as the API takes
//!    them; committed statements per second, and each one's time from submission to being
//!    applied (polled every [`POLL`], so latencies are within that of the truth).
//! 2. **Spends**: credentials obtained beforehand, then spent at the validators in turn as
//!    fast as they answer (a spend is answered once decided); spends per second and each
//!    spend's request time.
//! 3. **Catch-up**: one validator killed while the others decide blocks, restarted; blocks
//!    per second until it is level again.
//! 4. **A refused statement with 20,000 pending**: the other validators stopped (no quorum,
//!    nothing is decided), the mempool of the fourth filled with 20,000 valid statements; the
//!    round trip of a statement it refuses (a nonce gap), against the same with an empty
//!    mempool.

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde::Serialize;
use validator_client::{obtain_credential, ValidatorClient};
use validator_core::genesis::Genesis;
use validator_core::primitives::{IdentityKey, SphinxKey};
use validator_core::statement::{
    CredentialRequestDigest, NodeDescriptor, NodeRole, SignedStatement, Statement,
};

/// How often statement latencies are sampled.
pub const POLL: Duration = Duration::from_millis(25);

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Funded accounts (at most 256).
    pub accounts: usize,
    /// Bond statements in phase 1.
    pub statements: usize,
    /// Credentials spent in phase 2.
    pub spends: usize,
    /// How long the killed validator stays down in phase 3.
    pub downtime: Duration,
    /// Statements pending in phase 4.
    pub pending: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            accounts: 200,
            statements: 4_000,
            spends: 200,
            downtime: Duration::from_secs(60),
            pending: 20_000,
            concurrency: 32,
        }
    }
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// The measurements.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Validators.
    pub validators: usize,
    /// Least time between blocks, ms.
    pub block_interval_ms: i64,
    /// Statements committed per second.
    pub statements_per_sec: f64,
    /// Submission to applied.
    pub statement_latency: Latency,
    /// Spends decided per second.
    pub spends_per_sec: f64,
    /// Spend request (answered once decided).
    pub spend_latency: Latency,
    /// Blocks the restarted validator was behind.
    pub catch_up_blocks: u64,
    /// Seconds from its restart to its first block from a peer (process start, replay of
    /// its own blocks, the first sync status).
    pub catch_up_first_block_secs: f64,
    /// Blocks per second it caught up at from there.
    pub catch_up_blocks_per_sec: f64,
    /// Refused statement round trip, empty mempool.
    pub refused_empty: Latency,
    /// Refused statement round trip with `pending` statements pending.
    pub refused_pending: Latency,
    /// Statements pending for it.
    pub pending: usize,
}

fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, 600_000_000, 3).map_err(|e| e.to_string())
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    let _ = h.record(us.min(h.high()));
}

/// A bond of node `n` (keys, Sphinx key and address derived from `n`) by `account`.
fn bond(
    genesis: &Genesis,
    account: &SigningKey,
    nonce: u64,
    n: u32,
) -> Result<SignedStatement, String> {
    let mut seed = [0x42u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    let node_key = SigningKey::from_bytes(&seed);
    let sphinx_secret = x25519_dalek::StaticSecret::from(seed);
    let sphinx = SphinxKey::from_bytes(*x25519_dalek::PublicKey::from(&sphinx_secret).as_bytes())
        .map_err(|e| e.to_string())?;
    let ip = std::net::Ipv4Addr::from(0x0a00_0000u32 | n);
    let node = NodeDescriptor {
        identity_key: IdentityKey::from(&node_key),
        sphinx_key: sphinx,
        role: NodeRole::Mixnode,
        address: std::net::SocketAddr::from((ip, 1789)),
        clients_address: None,
        noise_key: None,
    };
    let st = Statement::bond(
        genesis.genesis_hash(),
        IdentityKey::from(account),
        nonce,
        node,
        200,
        &node_key,
    )
    .map_err(|e| e.to_string())?;
    SignedStatement::sign(st, account).map_err(|e| e.to_string())
}

/// A deposit of 1 for a random digest.
fn deposit(genesis: &Genesis, account: &SigningKey, nonce: u64) -> Result<SignedStatement, String> {
    let st = Statement::deposit(
        genesis.genesis_hash(),
        IdentityKey::from(account),
        nonce,
        1,
        CredentialRequestDigest(rand::random()),
    );
    SignedStatement::sign(st, account).map_err(|e| e.to_string())
}

/// Runs every phase on a fresh local chain.
pub async fn run(options: &Options) -> Result<Report, String> {
    let net_options = testnet::Options {
        validators: 4,
        threshold: 3,
        clients: options.accounts,
        duration: Some(Duration::ZERO),
        progress: false,
        ..testnet::Options::default()
    };
    eprintln!("starting four validators (release builds)...");
    let mut net = testnet::Network::start_chain(&net_options)
        .await
        .map_err(|e| e.to_string())?;
    let genesis = net.genesis().clone();
    let clients: Vec<ValidatorClient> = net
        .validators()
        .map(|v| ValidatorClient::new(&v.url).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let accounts: Vec<SigningKey> = (0..options.accounts)
        .map(|i| net.account_key(&format!("c{i}")).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;

    eprintln!("statements...");
    let (statements_per_sec, statement_latency) =
        statements(&genesis, &clients, &accounts, options).await?;
    eprintln!("spends...");
    let (spends_per_sec, spend_latency) = spends(&genesis, &clients, &accounts, options).await?;
    eprintln!("catch-up...");
    let (catch_up_blocks, catch_up_first_block_secs, catch_up_blocks_per_sec) =
        catch_up(&mut net, &clients, options.downtime).await?;
    eprintln!("refused statements with {} pending...", options.pending);
    let (refused_empty, refused_pending) =
        refused(&mut net, &genesis, &clients, &accounts, options).await?;
    Ok(Report {
        validators: 4,
        block_interval_ms: testnet::LOCAL_BLOCK_INTERVAL_MS,
        statements_per_sec,
        statement_latency,
        spends_per_sec,
        spend_latency,
        catch_up_blocks,
        catch_up_first_block_secs,
        catch_up_blocks_per_sec,
        refused_empty,
        refused_pending,
        pending: options.pending,
    })
}

/// Phase 1.
async fn statements(
    genesis: &Genesis,
    clients: &[ValidatorClient],
    accounts: &[SigningKey],
    options: &Options,
) -> Result<(f64, Latency), String> {
    let per_account = options.statements.div_ceil(accounts.len().max(1));
    let mut work = Vec::new();
    let mut n = 0u32;
    for (a, account) in accounts.iter().enumerate() {
        let mut own = Vec::with_capacity(per_account);
        for nonce in 0..per_account as u64 {
            own.push(bond(genesis, account, nonce, n)?);
            n += 1;
        }
        work.push((a, own));
    }
    let total = per_account * accounts.len();
    let started = Instant::now();
    // An account's statements go in nonce order to one validator (a gap is refused);
    // accounts submit in parallel.
    let submitted: Vec<(usize, Result<Vec<Instant>, String>)> = futures::stream::iter(work)
        .map(|(a, own)| {
            let client = &clients[a % clients.len()];
            async move {
                let mut sent = Vec::with_capacity(own.len());
                for st in &own {
                    let at = Instant::now();
                    if let Err(e) = client.submit(st).await {
                        return (a, Err(e.to_string()));
                    }
                    sent.push(at);
                }
                (a, Ok(sent))
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let mut sent_at = vec![Vec::new(); accounts.len()];
    for (a, r) in submitted {
        sent_at[a] = r?;
    }
    // Poll every account until all its statements apply.
    let mut latency = histogram()?;
    let mut applied = vec![0u64; accounts.len()];
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = started;
    while applied.iter().any(|&n| n < per_account as u64) {
        if Instant::now() > deadline {
            return Err("statements were not all applied within 300 s".into());
        }
        let views = futures::future::join_all(
            accounts
                .iter()
                .enumerate()
                .filter(|(a, _)| applied[*a] < per_account as u64)
                .map(|(a, k)| {
                    let client = &clients[a % clients.len()];
                    async move { (a, client.account(&IdentityKey::from(k)).await) }
                }),
        )
        .await;
        let now = Instant::now();
        for (a, view) in views {
            let Ok(view) = view else { continue };
            let upto = view.next_nonce.min(per_account as u64);
            for nonce in applied[a]..upto {
                if let Some(sent) = sent_at[a].get(nonce as usize) {
                    record(&mut latency, now - *sent);
                }
                last = now;
            }
            applied[a] = applied[a].max(upto);
        }
        tokio::time::sleep(POLL).await;
    }
    let secs = (last - started).as_secs_f64().max(1e-9);
    Ok((total as f64 / secs, Latency::of(&latency)))
}

/// Phase 2.
async fn spends(
    genesis: &Genesis,
    clients: &[ValidatorClient],
    accounts: &[SigningKey],
    options: &Options,
) -> Result<(f64, Latency), String> {
    let credentials: Vec<_> = futures::stream::iter(0..options.spends)
        .map(|i| {
            let account = &accounts[i % accounts.len()];
            async move { obtain_credential(genesis, account, 1_000).await }
        })
        .buffer_unordered(options.concurrency.min(accounts.len()))
        .collect()
        .await;
    let gateway = IdentityKey::from(&SigningKey::from_bytes(&[9; 32]));
    let bodies = credentials
        .into_iter()
        .map(|c| {
            c.map_err(|e| e.to_string())
                .and_then(|c| c.present(gateway).map_err(|e| e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let answers: Vec<Result<Duration, String>> = futures::stream::iter(bodies.iter().enumerate())
        .map(|(i, body)| {
            let client = &clients[i % clients.len()];
            async move {
                let sent = Instant::now();
                client
                    .spend(body)
                    .await
                    .map(|_| sent.elapsed())
                    .map_err(|e| e.to_string())
            }
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut latency = histogram()?;
    for a in answers {
        record(&mut latency, a?);
    }
    Ok((bodies.len() as f64 / secs, Latency::of(&latency)))
}

async fn height(client: &ValidatorClient) -> Result<u64, String> {
    Ok(client.status().await.map_err(|e| e.to_string())?.height)
}

/// Phase 3: (blocks behind, seconds to the first caught-up block, blocks/s after it).
async fn catch_up(
    net: &mut testnet::Network,
    clients: &[ValidatorClient],
    downtime: Duration,
) -> Result<(u64, f64, f64), String> {
    let at_kill = height(&clients[3]).await?;
    net.kill_validator(3).map_err(|e| e.to_string())?;
    tokio::time::sleep(downtime).await;
    let target = height(&clients[0]).await?;
    let started = Instant::now();
    net.restart_validator(3).await.map_err(|e| e.to_string())?;
    let deadline = started + Duration::from_secs(300);
    let mut first: Option<(Instant, u64)> = None;
    loop {
        let h = height(&clients[3]).await.unwrap_or(0);
        if first.is_none() && h > at_kill {
            first = Some((Instant::now(), h));
        }
        if h >= target {
            break;
        }
        if Instant::now() > deadline {
            return Err("the restarted validator did not catch up within 300 s".into());
        }
        tokio::time::sleep(POLL).await;
    }
    let (at, from) = first.unwrap_or((Instant::now(), target));
    let rate = target.saturating_sub(from) as f64 / at.elapsed().as_secs_f64().max(1e-9);
    Ok((
        target.saturating_sub(at_kill),
        (at - started).as_secs_f64(),
        rate,
    ))
}

/// `requests` round trips of a statement validator 0 refuses (a nonce gap).
async fn refusals(
    genesis: &Genesis,
    client: &ValidatorClient,
    account: &SigningKey,
    requests: usize,
) -> Result<Latency, String> {
    let mut latency = histogram()?;
    for i in 0..requests {
        let gap = deposit(genesis, account, 1_000_000 + i as u64)?;
        let sent = Instant::now();
        match client.submit(&gap).await {
            Err(e) if e.status() == Some(422) => record(&mut latency, sent.elapsed()),
            other => return Err(format!("expected a refusal, got {other:?}")),
        }
    }
    Ok(Latency::of(&latency))
}

/// Phase 4.
async fn refused(
    net: &mut testnet::Network,
    genesis: &Genesis,
    clients: &[ValidatorClient],
    accounts: &[SigningKey],
    options: &Options,
) -> Result<(Latency, Latency), String> {
    // Nothing decides without a quorum: what validator 0 admits stays pending. Its mempool
    // holds 20,000 statements and 64 per account by default; it gets room for the pending
    // ones and the refused one (which must meet the nonce check, not a full pool), and the
    // accounts here need a little more than 64 each to make 20,000.
    for i in 1..4 {
        net.kill_validator(i).map_err(|e| e.to_string())?;
    }
    let per_account = options.pending.div_ceil(accounts.len().max(1));
    make_room(net, options.pending, per_account)?;
    net.restart_validator(0).await.map_err(|e| e.to_string())?;
    let v0 = &clients[0];
    let empty = refusals(genesis, v0, &accounts[0], 500).await?;
    let mut work = Vec::new();
    let mut left = options.pending;
    for account in accounts {
        let next = v0
            .account(&IdentityKey::from(account))
            .await
            .map_err(|e| e.to_string())?
            .next_free_nonce;
        let count = per_account.min(left);
        left -= count;
        let own = (0..count as u64)
            .map(|k| deposit(genesis, account, next + k))
            .collect::<Result<Vec<_>, _>>()?;
        work.push(own);
    }
    // Each account's statements in nonce order (a gap is refused), accounts in parallel.
    let admitted: Vec<Result<(), String>> = futures::stream::iter(work.iter())
        .map(|own| async move {
            for st in own {
                v0.submit(st).await.map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .buffer_unordered(options.concurrency)
        .collect()
        .await;
    admitted.into_iter().collect::<Result<Vec<_>, _>>()?;
    let status = v0.status().await.map_err(|e| e.to_string())?;
    if status.pending_transactions < options.pending {
        return Err(format!(
            "only {} statements pending",
            status.pending_transactions
        ));
    }
    let pending = refusals(genesis, v0, &accounts[0], 500).await?;
    Ok((empty, pending))
}

/// Sets validator 0's `[limits]` so `pending` statements, `per_account` from each account,
/// fit with room to spare (it takes effect at its next start).
fn make_room(net: &testnet::Network, pending: usize, per_account: usize) -> Result<(), String> {
    let path = net
        .validator_dir(0)
        .ok_or("no validator 0")?
        .join("config.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let limits = table
        .entry("limits")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(limits) = limits else {
        return Err(format!("{}: [limits] is not a table", path.display()));
    };
    let int = |n: usize| {
        i64::try_from(n)
            .map(toml::Value::Integer)
            .map_err(|e| e.to_string())
    };
    limits.insert("pending_per_account".into(), int(per_account.max(64) + 1)?);
    limits.insert("pending_transactions".into(), int(pending + 1_000)?);
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The report as text.
pub fn to_text(r: &Report) -> String {
    let lat = |l: &Latency| {
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            l.p50_ms, l.p99_ms, l.max_ms, l.count
        )
    };
    format!(
        "chain: {} validators on loopback, blocks at least {} ms apart\n\
         statements (bonds): {:.0} committed/s; submission to applied: {}\n\
         spends:             {:.0} decided/s; request (answered when decided): {}\n\
         catch-up:           {} blocks behind; first block from a peer {:.1} s after restart, then {:.0} blocks/s\n\
         refused statement:  empty mempool: {}\n\
         \x20                   {} pending:  {}\n",
        r.validators,
        r.block_interval_ms,
        r.statements_per_sec,
        lat(&r.statement_latency),
        r.spends_per_sec,
        lat(&r.spend_latency),
        r.catch_up_blocks,
        r.catch_up_first_block_secs,
        r.catch_up_blocks_per_sec,
        lat(&r.refused_empty),
        r.pending,
        lat(&r.refused_pending),
    )
}
