//! The Noise handshake on one connection, either side: exact reads of each message's header
//! and body (so a peer cannot make the node read more than the pattern's bytes), the whole
//! handshake within [`super::ShardSettings::noise_handshake_timeout`], and the failure reason
//! it is counted under.

use std::net::SocketAddr;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::shard::Shard;
use crate::noise::handshake::{self, expect_handshake, Session, StaticKey, MESSAGE_LENS};
use crate::noise::header::HEADER_LEN;
use crate::noise::transport::Transport;
use crate::noise::NoiseError;
use crate::pipeline::LinkDirection;

/// Why a handshake did not give a link: the reason it is counted under, and what to log.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) reason: &'static str,
    pub(super) detail: String,
}

impl Failed {
    fn noise(error: NoiseError) -> Self {
        Failed {
            reason: error.label(),
            detail: error.to_string(),
        }
    }

    fn io(error: std::io::Error) -> Self {
        Failed {
            reason: "closed",
            detail: error.to_string(),
        }
    }

    /// Counts the failure on `shard` and logs it (at `info`: an operator wants to see links
    /// that do not come up, and each costs the peer a connection).
    pub(super) fn report(&self, shard: &Shard, direction: LinkDirection, peer: SocketAddr) {
        shard.stats.count_link_failure(direction, self.reason);
        tracing::info!(
            %peer,
            ?direction,
            reason = self.reason,
            detail = %self.detail,
            "Noise link failed"
        );
    }
}

/// Reads one handshake message `step` (header checked before the body is read).
async fn read_message(stream: &mut TcpStream, step: u8) -> Result<Vec<u8>, Failed> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await.map_err(Failed::io)?;
    expect_handshake(&header, step).map_err(Failed::noise)?;
    let mut body = vec![0u8; MESSAGE_LENS[usize::from(step - 1)]];
    stream.read_exact(&mut body).await.map_err(Failed::io)?;
    Ok(body)
}

async fn respond(stream: &mut TcpStream, local: &StaticKey) -> Result<Session, Failed> {
    let first = read_message(stream, 1).await?;
    let (waiting, second) = handshake::respond(local, &first).map_err(Failed::noise)?;
    stream.write_all(&second).await.map_err(Failed::io)?;
    let third = read_message(stream, 3).await?;
    waiting.read_third(&third).map_err(Failed::noise)
}

async fn initiate(
    stream: &mut TcpStream,
    local: &StaticKey,
    responder: &[u8; 32],
) -> Result<Session, Failed> {
    let (waiting, first) = handshake::initiate(local, responder).map_err(Failed::noise)?;
    stream.write_all(&first).await.map_err(Failed::io)?;
    let second = read_message(stream, 2).await?;
    let (third, session) = waiting.read_second(&second).map_err(Failed::noise)?;
    stream.write_all(&third).await.map_err(Failed::io)?;
    Ok(session)
}

/// Runs `handshake` within the shard's handshake timeout (and until the shard stops).
async fn bounded(
    shard: &Shard,
    handshake: impl std::future::Future<Output = Result<Session, Failed>>,
) -> Result<Session, Failed> {
    let allowed = shard.settings.noise_handshake_timeout;
    futures_lite::future::or(
        handshake,
        futures_lite::future::or(
            async {
                glommio::timer::sleep(allowed).await;
                Err(Failed {
                    reason: "handshake_timeout",
                    detail: format!("no complete handshake within {allowed:?}"),
                })
            },
            async {
                shard.stopping_event.wait().await;
                Err(Failed {
                    reason: "closed",
                    detail: "the node is stopping".into(),
                })
            },
        ),
    )
    .await
}

/// Answers a Noise handshake on an inbound connection whose first byte announced one, and
/// checks that the initiator's key may open a link here; returns the session and that key.
pub(super) async fn accept(
    shard: &Shard,
    stream: &mut TcpStream,
) -> Result<(Transport, [u8; 32]), Failed> {
    let Some(local) = shard.noise_key.as_ref() else {
        return Err(Failed {
            reason: "no_key",
            detail: "this node has no Noise key (engine.noise = \"off\" and no key)".into(),
        });
    };
    let session = bounded(shard, respond(stream, local)).await?;
    if !shard.links.borrow().admits(&session.remote_static) {
        return Err(Failed {
            reason: "unknown_peer",
            detail: format!(
                "initiator key {} is not in the topology",
                bs58::encode(session.remote_static).into_string()
            ),
        });
    }
    shard.stats.count_noise_link(LinkDirection::Inbound);
    Ok((session.transport, session.remote_static))
}

/// Opens a Noise link on a fresh outbound connection to the node whose key is `responder`.
pub(super) async fn open(
    shard: &Shard,
    stream: &mut TcpStream,
    responder: &[u8; 32],
) -> Result<Transport, Failed> {
    let Some(local) = shard.noise_key.as_ref() else {
        return Err(Failed {
            reason: "no_key",
            detail: "this node has no Noise key".into(),
        });
    };
    let session = bounded(shard, initiate(stream, local, responder)).await?;
    shard.stats.count_noise_link(LinkDirection::Outbound);
    Ok(session.transport)
}
