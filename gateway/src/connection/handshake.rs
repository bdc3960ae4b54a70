//! The start of a connection: register or authenticate, then the sealed `ready` that proves
//! the client holds the session key.
//!
//! A registration that would replace a stored key takes effect only once `ready` proves the
//! client holds the new one: a registration replayed after a restart (when the replay memory
//! is empty) can never replace a client's key, since the replayer cannot seal `ready` under
//! the new session's keys. A first registration is stored at once, so a client may
//! authenticate as soon as it has registered. A registration is checked cheapest first: its
//! proof of work (one hash), its source's registration allowance, then the signature, the
//! replay memory and the database. An
//! authentication is checked against the replay memory only once its identity is known to be
//! registered, so throwaway keys cannot fill it; and each identity has a share of it.

use std::net::IpAddr;

use futures::StreamExt;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::{
    blocking, fail, now_ns, random32, reject_read_error, send_error, write, ClientStream, Shared,
    Sink, Source,
};
use crate::source_limits::SourceRefusal;
use crate::stats::{ClientRefusal, GatewayStats};
use crate::store::ClientId;
use gateway_protocol::handshake::{check_registration_work, AuthenticateRequest, RegisterRequest};
use gateway_protocol::{ClientControl, ClientFrame, ErrorKind, GatewayControl, SessionCipher};

/// A registration's key that replaces a stored one: stored once the client confirms it with
/// `ready`.
pub(super) type PendingKey = Option<gateway_protocol::SharedKey>;

/// Reads the first message: it must be register or authenticate. Answers it and returns the
/// client, the session cipher and, for a registration, the key to store after `ready`.
pub(super) async fn handshake<S: ClientStream>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    shared: &Shared,
    peer: IpAddr,
    first: Result<Message, WsError>,
) -> Option<(ClientId, SessionCipher, PendingKey)> {
    let request = read_first_request(sink, source, shared, first).await?;
    let (client, answer, keys, stored_bandwidth, pending) =
        match accept(shared, request, peer).await {
            Ok(parts) => parts,
            Err((ErrorKind::WorkRequired, _)) => {
                let bits = shared.settings.registration_work_bits;
                let _ = send_error(sink, &shared.stats, GatewayControl::work_required(bits)).await;
                return None;
            }
            Err((kind, message)) => {
                let _ = fail(sink, &shared.stats, kind, message).await;
                return None;
            }
        };
    let bandwidth = super::bandwidth_now(shared, &client, stored_bandwidth);
    let answer = with_bandwidth(answer, bandwidth);
    write(sink, Message::text(answer.to_json())).await.ok()?;
    Some((client, SessionCipher::gateway(&keys), pending))
}

/// The first text message (from `first`, the connection's first message, on), parsed as a
/// control request; a binary frame or a bad request is refused on the wire and ends the
/// connection.
async fn read_first_request<S: ClientStream>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    shared: &Shared,
    first: Result<Message, WsError>,
) -> Option<ClientControl> {
    let stats = &shared.stats;
    let mut first = Some(first);
    let text = loop {
        let message = match first.take() {
            Some(message) => message,
            None => source.next().await?,
        };
        match message {
            Ok(Message::Text(text)) => break text,
            Ok(Message::Binary(_)) => {
                let _ = fail(
                    sink,
                    stats,
                    ErrorKind::NotAuthenticated,
                    "register or authenticate before sending packets".into(),
                )
                .await;
                return None;
            }
            Ok(Message::Close(_)) => return None,
            Ok(_) => continue,
            Err(error) => {
                let _ = reject_read_error(sink, stats, error).await;
                return None;
            }
        }
    };
    match serde_json::from_str(text.as_str()) {
        Ok(request) => Some(request),
        Err(error) => {
            let _ = fail(
                sink,
                stats,
                ErrorKind::BadRequest,
                format!("not a request: {error}"),
            )
            .await;
            None
        }
    }
}

/// Registers or authenticates the client `request` names; anything else is refused.
async fn accept(
    shared: &Shared,
    request: ClientControl,
    peer: IpAddr,
) -> Result<Accepted, (ErrorKind, String)> {
    let gateway = shared.identity.verifying_key().to_bytes();
    let window = shared.settings.auth_window_ms;
    let now = crate::now_ms();
    match request {
        ClientControl::Register {
            identity,
            ephemeral,
            timestamp_ms,
            signature,
            work,
        } => {
            check_registration_work(
                &gateway,
                &identity,
                work,
                shared.settings.registration_work_bits,
            )
            .map_err(|e| {
                if e.kind() == ErrorKind::WorkRequired {
                    shared.stats.count_refusal(ClientRefusal::RegistrationWork);
                }
                (e.kind(), e.to_string())
            })?;
            let allowed = shared.sources().register(peer, now_ns(shared.origin));
            if let Err(SourceRefusal::Registrations(wait)) = allowed {
                shared
                    .stats
                    .count_refusal(ClientRefusal::SourceRegistrations);
                return Err((
                    ErrorKind::TooManyRegistrations,
                    format!(
                        "this address registered too often; the next registration is possible \
                         in {} s",
                        wait.as_secs() + 1
                    ),
                ));
            }
            register(
                shared,
                &gateway,
                &identity,
                &ephemeral,
                timestamp_ms,
                &signature,
                now,
                window,
            )
            .await
        }
        ClientControl::Authenticate {
            identity,
            timestamp_ms,
            nonce,
            signature,
        } => {
            authenticate(
                shared,
                &gateway,
                &identity,
                timestamp_ms,
                &nonce,
                &signature,
                now,
                window,
            )
            .await
        }
        _ => Err((
            ErrorKind::NotAuthenticated,
            "register or authenticate first".into(),
        )),
    }
}

/// The answer with the client's current bandwidth filled in.
fn with_bandwidth(answer: GatewayControl, bandwidth: u64) -> GatewayControl {
    match answer {
        GatewayControl::Registered {
            ephemeral,
            signature,
            stored,
            ..
        } => GatewayControl::Registered {
            ephemeral,
            signature,
            stored,
            bandwidth,
        },
        GatewayControl::Authenticated {
            nonce,
            signature,
            stored,
            ..
        } => GatewayControl::Authenticated {
            nonce,
            signature,
            stored,
            bandwidth,
        },
        other => other,
    }
}

/// Waits for the client's sealed `ready`: proof that it holds the session key.
pub(super) async fn confirm<S: ClientStream>(
    sink: &mut Sink<S>,
    source: &mut Source<S>,
    shared: &Shared,
    cipher: &mut SessionCipher,
) -> Option<()> {
    let stats = &shared.stats;
    let sealed = loop {
        match source.next().await? {
            Ok(Message::Binary(sealed)) => break sealed,
            Ok(Message::Close(_)) => return None,
            Ok(Message::Text(_)) => {
                let _ = fail(
                    sink,
                    stats,
                    ErrorKind::BadRequest,
                    "after the handshake, requests are sealed binary frames; the first is `ready`"
                        .into(),
                )
                .await;
                return None;
            }
            Ok(_) => continue,
            Err(error) => {
                let _ = reject_read_error(sink, stats, error).await;
                return None;
            }
        }
    };
    let ready = cipher
        .open(&sealed)
        .ok()
        .and_then(|opened| match ClientFrame::decode(&opened) {
            Ok(ClientFrame::Control(json)) => serde_json::from_slice::<ClientControl>(json).ok(),
            _ => None,
        });
    if matches!(ready, Some(ClientControl::Ready)) {
        return Some(());
    }
    let _ = fail(
        sink,
        stats,
        ErrorKind::BadFrame,
        "the first sealed frame must be `ready` under the session key".into(),
    )
    .await;
    None
}

type Accepted = (
    ClientId,
    GatewayControl,
    gateway_protocol::SessionKeys,
    u64,
    PendingKey,
);

fn check_replay(
    shared: &Shared,
    client: &ClientId,
    token: ([u8; 32], u64),
    now: u64,
) -> Result<(), (ErrorKind, String)> {
    let mut replay = shared.replay.lock().unwrap_or_else(|p| p.into_inner());
    replay
        .check_and_insert(client, token, now)
        .map_err(|e| (e.kind(), e.to_string()))
}

#[allow(clippy::too_many_arguments)]
async fn register(
    shared: &Shared,
    gateway: &[u8; 32],
    identity: &str,
    ephemeral: &str,
    timestamp_ms: u64,
    signature: &str,
    now: u64,
    window: u64,
) -> Result<Accepted, (ErrorKind, String)> {
    let request = RegisterRequest::verify(
        gateway,
        identity,
        ephemeral,
        timestamp_ms,
        signature,
        now,
        window,
    )
    .map_err(|e| (e.kind(), e.to_string()))?;
    check_replay(shared, &request.client, request.replay_token(), now)?;
    let (answer, shared_key, keys) = request
        .accept(&shared.identity, random32(), 0, 0)
        .map_err(|e| (e.kind(), e.to_string()))?;
    let client = request.client;
    let store = shared.store.clone();
    // A first registration is stored at once; one that would replace a stored key waits for
    // `ready` (see the module docs).
    let new_key = gateway_protocol::SharedKey::from_bytes(*shared_key.as_bytes());
    let (bandwidth, stored, replaces) = blocking(move || {
        let (bandwidth, replaces) = match store.client(&client)? {
            Some(record) => (record.bandwidth, true),
            None => (store.register(&client, &new_key, now)?, false),
        };
        Ok((bandwidth, store.pending_count(&client)?, replaces))
    })
    .await?;
    if !replaces {
        GatewayStats::add(&shared.stats.registrations, 1);
    }
    let answer = match answer {
        GatewayControl::Registered {
            ephemeral,
            signature,
            bandwidth,
            ..
        } => GatewayControl::Registered {
            ephemeral,
            signature,
            bandwidth,
            stored,
        },
        other => other,
    };
    Ok((
        client,
        answer,
        keys,
        bandwidth,
        replaces.then_some(shared_key),
    ))
}

#[allow(clippy::too_many_arguments)]
async fn authenticate(
    shared: &Shared,
    gateway: &[u8; 32],
    identity: &str,
    timestamp_ms: u64,
    nonce: &str,
    signature: &str,
    now: u64,
    window: u64,
) -> Result<Accepted, (ErrorKind, String)> {
    let request = AuthenticateRequest::verify(
        gateway,
        identity,
        timestamp_ms,
        nonce,
        signature,
        now,
        window,
    )
    .map_err(|e| (e.kind(), e.to_string()))?;
    let client = request.client;
    let store = shared.store.clone();
    let (record, stored) = blocking(move || {
        let record = store.client(&client)?;
        if record.is_some() {
            // Seen: an unused registration expires counted from here.
            store.seen(&client, now)?;
        }
        Ok((record, store.pending_count(&client)?))
    })
    .await?;
    let record = record.ok_or((
        ErrorKind::UnknownClient,
        "this identity never registered at this gateway; register first".to_string(),
    ))?;
    check_replay(shared, &client, request.replay_token(), now)?;
    let (answer, keys) = request.accept(&shared.identity, &record.shared, random32(), 0, stored);
    Ok((client, answer, keys, record.bandwidth, None))
}
