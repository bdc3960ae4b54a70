//! The gateway's durable state in one embedded database: registered clients (shared key and
//! bandwidth), the mailbox of messages for offline clients, and spent credentials.
//!
//! **Why redb.** It is pure Rust (no C toolchain, no second allocator), has ACID write
//! transactions that `fsync` on commit by default, and a key-ordered B-tree, which is all the
//! mailbox needs: messages keyed by `(client, sequence)` come out in arrival order with one
//! range scan, and a batch of deliveries is one transaction (one `fsync` for many messages).
//! SQLite would add SQL and a C library for no feature we use.
//!
//! Layout (keys and values are big-endian byte strings):
//! * `clients`: identity (32) → shared key (32) ‖ bandwidth (8);
//! * `mailbox`: identity (32) ‖ sequence (8) → kind (1) ‖ stored at, Unix ms (8) ‖ bytes;
//! * `mailbox_meta`: identity (32) → next sequence (8) ‖ count (8) ‖ bytes (8);
//! * `mailbox_by_time`: stored at, Unix ms (8) ‖ identity (32) ‖ sequence (8) → nothing: the
//!   expiry pass reads the old messages in one range scan instead of the whole mailbox (built
//!   at open if a database from before it lacks it);
//! * `client_seen`: identity (32) → when it last registered or authenticated, Unix ms (kept
//!   to the day, so authenticating is a write at most once a day): a client that holds no
//!   bandwidth and no messages and was not seen for the configured time is deleted;
//! * `spent`: credential serial commitment (zeta) → spent at, Unix ms.
//!
//! A client with no bandwidth gets no mailbox space (unless bandwidth is free): free
//! identities cannot fill the shared quota.
//!
//! Every method is synchronous and may wait on the disk: async callers run it on tokio's
//! blocking pool.

use std::path::Path;

use std::sync::atomic::Ordering::Relaxed;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use gateway_protocol::{DeliveryKind, SharedKey};

const CLIENTS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("clients");
const MAILBOX: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("mailbox");
const MAILBOX_META: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("mailbox_meta");
const MAILBOX_BY_TIME: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("mailbox_by_time");
const CLIENT_SEEN: TableDefinition<'_, &[u8], u64> = TableDefinition::new("client_seen");
const SPENT: TableDefinition<'_, &[u8], u64> = TableDefinition::new("spent");
/// The time (Unix seconds) of the last `authenticateV2` accepted from each Nym client: a
/// request is accepted only with a later one, across restarts.
const NYM_AUTH: TableDefinition<'_, &[u8], u64> = TableDefinition::new("nym_auth");

/// How stale a client's last-seen time may get before authenticating writes it again.
pub const SEEN_GRANULARITY_MS: u64 = 24 * 3600 * 1000;

/// A client identity (ed25519 public key bytes, the Sphinx destination).
pub type ClientId = [u8; 32];

/// A database operation that failed.
#[derive(thiserror::Error, Debug)]
#[error("gateway database: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// Mailbox limits: per client, and for the whole store (so many clients cannot fill the
/// disk between them).
#[derive(Debug, Clone, Copy)]
pub struct MailboxLimits {
    /// Messages per client.
    pub max_messages: u64,
    /// Bytes per client.
    pub max_bytes: u64,
    /// Bytes for all clients.
    pub max_total_bytes: u64,
    /// Age after which messages are purged, ms.
    pub max_age_ms: u64,
    /// Only clients with bandwidth get mailbox space (off when bandwidth is free).
    pub require_bandwidth: bool,
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// The key from registration.
    pub shared: SharedKey,
    /// Bandwidth left, bytes.
    pub bandwidth: u64,
}

/// A message for the mailbox.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Its recipient.
    pub client: ClientId,
    /// Message or ack.
    pub kind: DeliveryKind,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// What happened to one [`Incoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Committed under this id.
    Stored(u64),
    /// The recipient's quota is used up.
    QuotaExceeded,
    /// The recipient never registered here.
    UnknownClient,
    /// The recipient holds no bandwidth, so no mailbox space.
    NoBandwidth,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its id (per client, increasing).
    pub id: u64,
    /// Message or ack.
    pub kind: DeliveryKind,
    /// The bytes.
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    next: u64,
    count: u64,
    bytes: u64,
}

impl Meta {
    fn decode(v: &[u8]) -> Self {
        let word = |i: usize| {
            v.get(i * 8..i * 8 + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_be_bytes)
        };
        Meta {
            next: word(0),
            count: word(1),
            bytes: word(2),
        }
    }

    fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&self.next.to_be_bytes());
        out[8..16].copy_from_slice(&self.count.to_be_bytes());
        out[16..].copy_from_slice(&self.bytes.to_be_bytes());
        out
    }
}

fn mailbox_key(client: &ClientId, id: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(client);
    key[32..].copy_from_slice(&id.to_be_bytes());
    key
}

/// `mailbox_by_time`'s key.
fn time_key(stored_ms: u64, client: &ClientId, id: u64) -> [u8; 48] {
    let mut key = [0u8; 48];
    key[..8].copy_from_slice(&stored_ms.to_be_bytes());
    key[8..40].copy_from_slice(client);
    key[40..].copy_from_slice(&id.to_be_bytes());
    key
}

/// A mailbox key's client and id.
fn parse_mailbox_key(key: &[u8]) -> Option<(ClientId, u64)> {
    let client = <ClientId>::try_from(key.get(..32)?).ok()?;
    let id = <[u8; 8]>::try_from(key.get(32..40)?).ok()?;
    Some((client, u64::from_be_bytes(id)))
}

/// A mailbox value's storage time.
fn stored_at(value: &[u8]) -> u64 {
    value
        .get(1..9)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

fn decode_client(value: &[u8]) -> Option<ClientRecord> {
    let shared: [u8; 32] = value.get(..32)?.try_into().ok()?;
    let bandwidth: [u8; 8] = value.get(32..40)?.try_into().ok()?;
    Some(ClientRecord {
        shared: SharedKey::from_bytes(shared),
        bandwidth: u64::from_be_bytes(bandwidth),
    })
}

fn encode_client(shared: &SharedKey, bandwidth: u64) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..32].copy_from_slice(shared.as_bytes());
    out[32..].copy_from_slice(&bandwidth.to_be_bytes());
    out
}

/// The database; see the module docs.
#[derive(Debug)]
pub struct Store {
    db: Database,
    limits: MailboxLimits,
    /// Message bytes stored for everyone (kept with every write; summed at open).
    total_bytes: std::sync::atomic::AtomicU64,
}

impl Store {
    /// Opens (or creates) the database at `path`, mode 0600: it holds client keys.
    pub fn open(path: &Path, limits: MailboxLimits) -> Result<Self, StoreError> {
        let db =
            Database::create(path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        }
        let txn = db.begin_write().map_err(err)?;
        {
            txn.open_table(CLIENTS).map_err(err)?;
            txn.open_table(MAILBOX).map_err(err)?;
            txn.open_table(MAILBOX_META).map_err(err)?;
            txn.open_table(SPENT).map_err(err)?;
            txn.open_table(CLIENT_SEEN).map_err(err)?;
            txn.open_table(NYM_AUTH).map_err(err)?;
            let mailbox = txn.open_table(MAILBOX).map_err(err)?;
            let mut by_time = txn.open_table(MAILBOX_BY_TIME).map_err(err)?;
            if by_time.len().map_err(err)? != mailbox.len().map_err(err)? {
                // A database from before the index: build it once.
                for entry in mailbox.iter().map_err(err)? {
                    let (key, value) = entry.map_err(err)?;
                    if let Some((client, id)) = parse_mailbox_key(key.value()) {
                        let at = stored_at(value.value());
                        by_time
                            .insert(&time_key(at, &client, id)[..], &[][..])
                            .map_err(err)?;
                    }
                }
            }
        }
        txn.commit().map_err(err)?;
        let store = Store {
            db,
            limits,
            total_bytes: Default::default(),
        };
        let total = store.sum_meta(|m| m.bytes)?;
        store.total_bytes.store(total, Relaxed);
        Ok(store)
    }

    fn sum_meta(&self, field: impl Fn(&Meta) -> u64) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(MAILBOX_META).map_err(err)?;
        let mut total = 0u64;
        for entry in table.iter().map_err(err)? {
            let (_, value) = entry.map_err(err)?;
            total = total.saturating_add(field(&Meta::decode(value.value())));
        }
        Ok(total)
    }

    /// The client's record, if it registered.
    pub fn client(&self, client: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(CLIENTS).map_err(err)?;
        let found = table.get(&client[..]).map_err(err)?;
        Ok(found.and_then(|v| decode_client(v.value())))
    }

    /// Stores (or replaces) a client's shared key, keeping the bandwidth it has, and marks
    /// it seen at `now_ms`; returns its bandwidth.
    pub fn register(
        &self,
        client: &ClientId,
        shared: &SharedKey,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        let bandwidth;
        {
            txn.open_table(CLIENT_SEEN)
                .map_err(err)?
                .insert(&client[..], now_ms)
                .map_err(err)?;
            let mut table = txn.open_table(CLIENTS).map_err(err)?;
            bandwidth = table
                .get(&client[..])
                .map_err(err)?
                .and_then(|v| decode_client(v.value()))
                .map_or(0, |r| r.bandwidth);
            table
                .insert(&client[..], &encode_client(shared, bandwidth)[..])
                .map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(bandwidth)
    }

    /// Accepts a Nym client's `authenticateV2` of `time_secs` if it is later than the last
    /// one accepted (then stored, and the client marked seen at `now_ms`, in one
    /// transaction); otherwise the last accepted time.
    pub fn nym_authenticate(
        &self,
        client: &ClientId,
        time_secs: u64,
        now_ms: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(NYM_AUTH).map_err(err)?;
            let last = table.get(&client[..]).map_err(err)?.map(|v| v.value());
            if let Some(last) = last.filter(|last| *last >= time_secs) {
                return Ok(Err(last));
            }
            table.insert(&client[..], time_secs).map_err(err)?;
            txn.open_table(CLIENT_SEEN)
                .map_err(err)?
                .insert(&client[..], now_ms)
                .map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(Ok(()))
    }

    /// Marks a registered client seen at `now_ms`: a write only when the stored time is
    /// older than [`SEEN_GRANULARITY_MS`].
    pub fn seen(&self, client: &ClientId, now_ms: u64) -> Result<(), StoreError> {
        {
            let txn = self.db.begin_read().map_err(err)?;
            let table = txn.open_table(CLIENT_SEEN).map_err(err)?;
            let last = table.get(&client[..]).map_err(err)?.map(|v| v.value());
            if last.is_some_and(|last| now_ms.saturating_sub(last) < SEEN_GRANULARITY_MS) {
                return Ok(());
            }
        }
        let txn = self.db.begin_write().map_err(err)?;
        txn.open_table(CLIENT_SEEN)
            .map_err(err)?
            .insert(&client[..], now_ms)
            .map_err(err)?;
        txn.commit().map_err(err)
    }

    /// Deletes the registrations nobody uses: no bandwidth, no stored messages, not seen
    /// since `now_ms - unused_ms`, and not `online`. A client without a seen time (a
    /// database from before it was kept) gets `now_ms`, so its time starts now. Returns how
    /// many went.
    pub fn expire_unused(
        &self,
        now_ms: u64,
        unused_ms: u64,
        online: impl Fn(&ClientId) -> bool,
    ) -> Result<u64, StoreError> {
        let cutoff = now_ms.saturating_sub(unused_ms);
        let mut expired = Vec::new();
        let mut unseen = Vec::new();
        {
            let txn = self.db.begin_read().map_err(err)?;
            let clients = txn.open_table(CLIENTS).map_err(err)?;
            let seen = txn.open_table(CLIENT_SEEN).map_err(err)?;
            let metas = txn.open_table(MAILBOX_META).map_err(err)?;
            for entry in clients.iter().map_err(err)? {
                let (key, value) = entry.map_err(err)?;
                let Ok(client) = <ClientId>::try_from(key.value()) else {
                    continue;
                };
                if decode_client(value.value()).is_none_or(|r| r.bandwidth > 0) {
                    continue;
                }
                match seen.get(&client[..]).map_err(err)?.map(|v| v.value()) {
                    None => unseen.push(client),
                    Some(at) if at < cutoff => {
                        let stored = metas
                            .get(&client[..])
                            .map_err(err)?
                            .is_some_and(|v| Meta::decode(v.value()).count > 0);
                        if !stored && !online(&client) {
                            expired.push(client);
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if expired.is_empty() && unseen.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write().map_err(err)?;
        let mut removed = 0;
        {
            let mut clients = txn.open_table(CLIENTS).map_err(err)?;
            let mut seen = txn.open_table(CLIENT_SEEN).map_err(err)?;
            let mut metas = txn.open_table(MAILBOX_META).map_err(err)?;
            let mut nym_auth = txn.open_table(NYM_AUTH).map_err(err)?;
            for client in &unseen {
                seen.insert(&client[..], now_ms).map_err(err)?;
            }
            for client in &expired {
                // Checked again inside the write: it may have paid or authenticated since.
                let record = clients
                    .get(&client[..])
                    .map_err(err)?
                    .and_then(|v| decode_client(v.value()));
                let last = seen.get(&client[..]).map_err(err)?.map(|v| v.value());
                let stored = metas
                    .get(&client[..])
                    .map_err(err)?
                    .is_some_and(|v| Meta::decode(v.value()).count > 0);
                if record.is_some_and(|r| r.bandwidth == 0)
                    && last.is_some_and(|at| at < cutoff)
                    && !stored
                {
                    clients.remove(&client[..]).map_err(err)?;
                    seen.remove(&client[..]).map_err(err)?;
                    metas.remove(&client[..]).map_err(err)?;
                    nym_auth.remove(&client[..]).map_err(err)?;
                    removed += 1;
                }
            }
        }
        txn.commit().map_err(err)?;
        Ok(removed)
    }

    /// Records the bandwidth clients have left (debits are kept in memory and saved in
    /// batches; see the connection handling).
    pub fn save_bandwidth(&self, entries: &[(ClientId, u64)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(CLIENTS).map_err(err)?;
            for (client, bandwidth) in entries {
                let record = table
                    .get(&client[..])
                    .map_err(err)?
                    .and_then(|v| decode_client(v.value()));
                if let Some(record) = record {
                    table
                        .insert(&client[..], &encode_client(&record.shared, *bandwidth)[..])
                        .map_err(err)?;
                }
            }
        }
        txn.commit().map_err(err)
    }

    /// Marks credential `zeta` spent and sets the client's bandwidth to `bandwidth`, in one
    /// transaction. Returns `false` (and changes nothing) if `zeta` was already spent.
    pub fn redeem(
        &self,
        zeta: &[u8],
        client: &ClientId,
        bandwidth: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut spent = txn.open_table(SPENT).map_err(err)?;
            if spent.get(zeta).map_err(err)?.is_some() {
                return Ok(false);
            }
            spent.insert(zeta, now_ms).map_err(err)?;
            let mut clients = txn.open_table(CLIENTS).map_err(err)?;
            let record = clients
                .get(&client[..])
                .map_err(err)?
                .and_then(|v| decode_client(v.value()))
                .ok_or_else(|| StoreError("redeeming for an unregistered client".into()))?;
            clients
                .insert(&client[..], &encode_client(&record.shared, bandwidth)[..])
                .map_err(err)?;
        }
        txn.commit().map_err(err)?;
        Ok(true)
    }

    /// Whether `zeta` was spent here.
    pub fn is_spent(&self, zeta: &[u8]) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(SPENT).map_err(err)?;
        Ok(table.get(zeta).map_err(err)?.is_some())
    }

    /// Stores messages in one durable transaction; the outcomes are in input order.
    pub fn store(&self, items: &[Incoming], now_ms: u64) -> Result<Vec<StoreOutcome>, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        let mut outcomes = Vec::with_capacity(items.len());
        let mut added = 0u64;
        {
            let clients = txn.open_table(CLIENTS).map_err(err)?;
            let mut mailbox = txn.open_table(MAILBOX).map_err(err)?;
            let mut metas = txn.open_table(MAILBOX_META).map_err(err)?;
            let mut by_time = txn.open_table(MAILBOX_BY_TIME).map_err(err)?;
            for item in items {
                let record = clients
                    .get(&item.client[..])
                    .map_err(err)?
                    .and_then(|v| decode_client(v.value()));
                let Some(record) = record else {
                    outcomes.push(StoreOutcome::UnknownClient);
                    continue;
                };
                if self.limits.require_bandwidth && record.bandwidth == 0 {
                    outcomes.push(StoreOutcome::NoBandwidth);
                    continue;
                }
                let mut meta = metas
                    .get(&item.client[..])
                    .map_err(err)?
                    .map(|v| Meta::decode(v.value()))
                    .unwrap_or_default();
                let size = item.bytes.len() as u64;
                let total = self.total_bytes.load(Relaxed).saturating_add(added);
                if meta.count >= self.limits.max_messages
                    || meta.bytes.saturating_add(size) > self.limits.max_bytes
                    || total.saturating_add(size) > self.limits.max_total_bytes
                {
                    outcomes.push(StoreOutcome::QuotaExceeded);
                    continue;
                }
                let id = meta.next;
                let mut value = Vec::with_capacity(9 + item.bytes.len());
                value.push(item.kind.to_byte());
                value.extend_from_slice(&now_ms.to_be_bytes());
                value.extend_from_slice(&item.bytes);
                mailbox
                    .insert(&mailbox_key(&item.client, id)[..], &value[..])
                    .map_err(err)?;
                by_time
                    .insert(&time_key(now_ms, &item.client, id)[..], &[][..])
                    .map_err(err)?;
                meta.next += 1;
                meta.count += 1;
                meta.bytes += size;
                added += size;
                metas
                    .insert(&item.client[..], &meta.encode()[..])
                    .map_err(err)?;
                outcomes.push(StoreOutcome::Stored(id));
            }
        }
        txn.commit().map_err(err)?;
        self.total_bytes.fetch_add(added, Relaxed);
        Ok(outcomes)
    }

    /// Up to `limit` of the client's stored messages, oldest first, from id `from` on.
    pub fn pending(
        &self,
        client: &ClientId,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(MAILBOX).map_err(err)?;
        let start = mailbox_key(client, from);
        let end = mailbox_key(client, u64::MAX);
        let mut out = Vec::new();
        for entry in table.range(&start[..]..=&end[..]).map_err(err)? {
            if out.len() >= limit {
                break;
            }
            let (key, value) = entry.map_err(err)?;
            let id = key
                .value()
                .get(32..40)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes);
            let value = value.value();
            let kind = value.first().copied().and_then(DeliveryKind::from_byte);
            if let (Some(id), Some(kind), Some(bytes)) = (id, kind, value.get(9..)) {
                out.push(Stored {
                    id,
                    kind,
                    bytes: bytes.to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// How many messages wait for the client.
    pub fn pending_count(&self, client: &ClientId) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(MAILBOX_META).map_err(err)?;
        Ok(table
            .get(&client[..])
            .map_err(err)?
            .map_or(0, |v| Meta::decode(v.value()).count))
    }

    /// Deletes the client's messages with these ids (ids it does not have are ignored, so
    /// a client can never delete another's); returns how many went.
    pub fn remove(&self, client: &ClientId, ids: &[u64]) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        let mut removed = 0;
        let mut freed = 0u64;
        {
            let mut mailbox = txn.open_table(MAILBOX).map_err(err)?;
            let mut metas = txn.open_table(MAILBOX_META).map_err(err)?;
            let mut by_time = txn.open_table(MAILBOX_BY_TIME).map_err(err)?;
            let mut meta = metas
                .get(&client[..])
                .map_err(err)?
                .map(|v| Meta::decode(v.value()))
                .unwrap_or_default();
            for id in ids {
                let gone = mailbox
                    .remove(&mailbox_key(client, *id)[..])
                    .map_err(err)?
                    .map(|v| {
                        (
                            v.value().len().saturating_sub(9) as u64,
                            stored_at(v.value()),
                        )
                    });
                if let Some((size, at)) = gone {
                    by_time
                        .remove(&time_key(at, client, *id)[..])
                        .map_err(err)?;
                    removed += 1;
                    freed += size;
                    meta.count = meta.count.saturating_sub(1);
                    meta.bytes = meta.bytes.saturating_sub(size);
                }
            }
            if removed > 0 {
                metas.insert(&client[..], &meta.encode()[..]).map_err(err)?;
            }
        }
        txn.commit().map_err(err)?;
        let _ = self
            .total_bytes
            .fetch_update(Relaxed, Relaxed, |t| Some(t.saturating_sub(freed)));
        Ok(removed)
    }

    /// Deletes every message older than the age limit; returns how many. Reads only the old
    /// messages' entries of `mailbox_by_time` (one range scan), not the whole mailbox.
    pub fn purge_expired(&self, now_ms: u64) -> Result<u64, StoreError> {
        let cutoff = now_ms.saturating_sub(self.limits.max_age_ms);
        let mut by_client: std::collections::BTreeMap<ClientId, Vec<u64>> = Default::default();
        {
            let txn = self.db.begin_read().map_err(err)?;
            let table = txn.open_table(MAILBOX_BY_TIME).map_err(err)?;
            let end = time_key(cutoff, &[0; 32], 0);
            for entry in table.range(..&end[..]).map_err(err)? {
                let (key, _) = entry.map_err(err)?;
                if let Some((client, id)) = key.value().get(8..).and_then(parse_mailbox_key) {
                    by_client.entry(client).or_default().push(id);
                }
            }
        }
        let mut total = 0;
        for (client, ids) in by_client {
            total += self.remove(&client, &ids)?;
        }
        Ok(total)
    }

    /// Messages stored for all clients.
    pub fn total_stored(&self) -> Result<u64, StoreError> {
        self.sum_meta(|m| m.count)
    }

    /// Entries of the mailbox's time index (equal to the messages stored).
    pub fn indexed_by_time(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(MAILBOX_BY_TIME).map_err(err)?;
        table.len().map_err(err)
    }

    /// Message bytes stored for all clients.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes.load(Relaxed)
    }
}

#[cfg(test)]
mod tests;
