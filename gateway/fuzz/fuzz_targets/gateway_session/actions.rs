//! The fuzzed actions: packets, `received` confirmations, credentials, injected frames, and
//! the step that picks one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::SinkExt;
use gateway::delivery::{store_and_ack, Ack, Inbound};
use gateway_protocol::handshake::start_authentication;
use gateway_protocol::{ClientControl, ClientFrame, DeliveryKind, ErrorKind};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use router_core::wire::{KeyRotation, PacketSize};
use tokio_tungstenite::tungstenite::Message;
use validator_core::api::SpendBody;
use validator_core::chain::dkg::KeyEpochId;
use validator_core::credential::{PublicAttributes, SpendNonce};
use validator_core::primitives::IdentityKey;

use super::*;

impl Run<'_> {
    pub(super) async fn packets(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.ensure_connected().await;
        let allowed = u.ratio(7, 8)?;
        let hop = if allowed {
            self.w.hop
        } else {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), u.arbitrary()?)
        };
        let size = if u.ratio(3, 4)? {
            PacketSize::Regular
        } else {
            PacketSize::ALL[u.choose_index(PacketSize::ALL.len())?]
        };
        let rotation =
            [KeyRotation::Unknown, KeyRotation::Odd, KeyRotation::Even][u.choose_index(3)?];
        let count = u.int_in_range(1..=8u8)?;
        let packet = vec![u.arbitrary::<u8>()?; size.size()];
        let frame = ClientFrame::encode_packet(&hop, rotation, &packet);
        for _ in 0..count {
            self.send_sealed(&frame).await;
        }
        let answers = self.settle().await;
        let cost = size.size() as u64;
        let mut errors = answers.errors.iter().copied().peekable();
        let mut forwarded = 0;
        for _ in 0..count {
            if !allowed {
                assert_eq!(errors.next(), Some(ErrorKind::NotInTopology), "{answers:?}");
            } else if self.gw.paid && self.bandwidth < cost {
                assert_eq!(
                    errors.next(),
                    Some(ErrorKind::OutOfBandwidth),
                    "{answers:?}"
                );
            } else if errors.peek() == Some(&ErrorKind::Busy) {
                errors.next();
            } else {
                forwarded += 1;
                if self.gw.paid {
                    self.bandwidth -= cost;
                    self.debited += cost;
                }
            }
        }
        assert_eq!(errors.next(), None, "unexpected errors: {answers:?}");
        self.forwarded += forwarded;
        assert!(!answers.closed, "closed: {answers:?}");
        Ok(())
    }

    pub(super) async fn received(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.ensure_connected().await;
        let conn = self.conn.as_ref().expect("connected");
        let mut ids = Vec::new();
        for &id in &conn.unconfirmed {
            if u.ratio(3, 4)? {
                ids.push(id);
            }
        }
        for &id in self.mailbox.keys() {
            if u.ratio(1, 4)? {
                ids.push(id);
            }
        }
        for _ in 0..u.int_in_range(0..=2u8)? {
            ids.push(u.arbitrary()?);
        }
        if u.arbitrary()? {
            ids.reverse();
        }
        let named: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|id| conn.unconfirmed.contains(id))
            .collect();
        self.send_control(&ClientControl::Received { ids }).await;
        self.confirmed.extend(&named);
        if let Some(conn) = self.conn.as_mut() {
            for id in &named {
                conn.unconfirmed.remove(id);
            }
        }
        let answers = self.settle().await;
        self.expect(&answers, &[]);
        Ok(())
    }

    pub(super) async fn credential(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        self.ensure_connected().await;
        let w = self.w;
        let which = u.choose_index(w.thetas.len())?;
        let mut public = PublicAttributes::bandwidth_voucher(u.arbitrary()?);
        if u.ratio(1, 4)? {
            public.credential_type = u.arbitrary()?;
        }
        let gateway = if u.ratio(7, 8)? {
            w.gateway_id
        } else {
            IdentityKey::from(&SigningKey::from_bytes(&u.arbitrary()?))
        };
        let body = SpendBody {
            theta: w.thetas[which].clone(),
            public_attributes: public.clone(),
            gateway,
            nonce: SpendNonce(u.arbitrary()?),
            key_epoch: KeyEpochId(u.arbitrary()?),
        };
        let garbage = u.ratio(1, 8)?;
        if garbage {
            let mut json = ClientControl::Bandwidth {
                credential: Box::new(body),
            }
            .to_json()
            .into_bytes();
            let at = u.choose_index(json.len())?;
            json.truncate(at);
            let extra = u.int_in_range(0..=16)?;
            json.extend_from_slice(u.bytes(extra)?);
            let mut frame = vec![0x02];
            frame.extend_from_slice(&json);
            self.send_sealed(&frame).await;
            let answers = self.settle().await;
            // Still a request only if the garbage kept it one.
            if !answers.closed {
                assert!(answers.errors.iter().all(|k| !k.is_fatal()), "{answers:?}");
                self.conn_refused(&answers);
            } else {
                assert!(answers.close.is_some(), "{answers:?}");
            }
            return Ok(());
        }
        // The checks' order: the attributes, the gateway, the spent set here, then the key
        // set, which no validator serves.
        let refusal = if public.validate().is_err() || gateway != w.gateway_id {
            Some(ErrorKind::CredentialRefused)
        } else if which < 2 {
            Some(ErrorKind::CredentialSpent)
        } else {
            None
        };
        let refused = self.conn.as_ref().expect("connected").refused + 1;
        let expected = match refusal {
            None => ErrorKind::Busy,
            Some(_) if refused >= MAX_REFUSED => ErrorKind::TooManyRefusedCredentials,
            Some(kind) => kind,
        };
        self.send_control(&ClientControl::Bandwidth {
            credential: Box::new(body),
        })
        .await;
        let answers = self.settle().await;
        if !self.gw.paid {
            assert!(answers.errors.is_empty() && !answers.closed, "{answers:?}");
            assert_eq!(answers.bandwidth, [u64::MAX], "free bandwidth");
            return Ok(());
        }
        assert!(
            answers.bandwidth.is_empty(),
            "a credential accepted: {answers:?}"
        );
        self.expect(&answers, &[expected]);
        if let (Some(conn), Some(_)) = (self.conn.as_mut(), refusal) {
            conn.refused = refused;
        }
        Ok(())
    }

    pub(super) async fn inject(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        let direct = u.ratio(1, 4)?;
        let mut items = Vec::new();
        for _ in 0..u.int_in_range(1..=4u8)? {
            let tag = self.next_tag;
            self.next_tag += 1;
            let kind = if u.ratio(1, 4)? {
                DeliveryKind::Ack
            } else {
                DeliveryKind::Message
            };
            let len = 8 + usize::from(u.int_in_range(0..=120u8)?) * 8;
            let mut bytes = tag.to_le_bytes().to_vec();
            bytes.resize(len, 0x5A);
            self.injected.insert(tag, (kind, len));
            let ack = if u.arbitrary()? {
                let first_hop = if u.ratio(3, 4)? {
                    self.w.hop
                } else {
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 1789)
                };
                Some(Ack {
                    first_hop,
                    key_rotation: KeyRotation::Even,
                    packet: vec![0xAC; PacketSize::Ack.size()],
                })
            } else {
                None
            };
            items.push(Inbound {
                client: self.client,
                kind,
                bytes,
                ack,
                budget: None,
            });
        }
        if direct {
            let s = &self.gw.shared;
            store_and_ack(
                items,
                &s.store,
                &s.online,
                &s.forwarder,
                &s.policy,
                &s.stats,
            )
            .await;
        } else {
            for item in items {
                self.gw.pump.send(item).await.expect("the pump runs");
            }
        }
        let answers = self.settle().await;
        self.expect(&answers, &[]);
        Ok(())
    }

    pub(super) async fn step(&mut self, u: &mut Unstructured<'_>) -> Result<()> {
        match u.int_in_range(0..=15u8)? {
            0..=2 => self.packets(u).await?,
            3..=4 => self.received(u).await?,
            5..=6 => self.credential(u).await?,
            7..=9 => self.inject(u).await?,
            10 => {
                // The clock moves on: a few seconds (the periodic save; a run's short waits and
                // rate limits together stay well within the idle timeout), or past the idle
                // timeout.
                let idle = u.ratio(1, 8)?;
                let secs = if idle {
                    u.int_in_range(301..=400u64)?
                } else {
                    u.int_in_range(1..=3u64)?
                };
                let connected = self.conn.is_some();
                tokio::time::sleep(Duration::from_secs(secs)).await;
                let answers = self.settle().await;
                assert!(answers.errors.is_empty(), "{answers:?}");
                assert_eq!(answers.closed, idle && connected, "{answers:?}");
                if answers.closed {
                    assert_eq!(
                        answers.close.as_ref().map(|c| c.0),
                        Some(1001),
                        "{answers:?}"
                    );
                }
            }
            11 => {
                let graceful = u.arbitrary()?;
                self.close(graceful).await;
            }
            12 => {
                // A second connection of the same client replaces the first.
                self.ensure_connected().await;
                self.open().await;
            }
            13 => {
                if self.conn.is_none() && self.gw.paid {
                    // Bandwidth an earlier redemption left in the database.
                    let amount = u.int_in_range(0..=40_000u64)?;
                    self.bandwidth += amount;
                    let store = &self.gw.shared.store;
                    store
                        .save_bandwidth(&[(self.client, self.bandwidth)])
                        .expect("saves");
                }
            }
            14 => {
                // Requests a session does not take: each is fatal.
                self.ensure_connected().await;
                let expected = match u.int_in_range(0..=4u8)? {
                    0 => {
                        let gateway_key = self.gw.shared.identity.verifying_key();
                        let (_, request) =
                            start_authentication(&self.key, &gateway_key, [9; 32], self.now());
                        self.send_control(&request).await;
                        ErrorKind::AlreadyAuthenticated
                    }
                    1 => {
                        let conn = self.conn.as_mut().expect("connected");
                        let len = u.int_in_range(0..=64)?;
                        let _ = conn
                            .sink
                            .send(Message::binary(u.bytes(len)?.to_vec()))
                            .await;
                        ErrorKind::BadFrame
                    }
                    2 => {
                        let conn = self.conn.as_mut().expect("connected");
                        let text: String = u.arbitrary()?;
                        let _ = conn.sink.send(Message::text(text)).await;
                        ErrorKind::BadRequest
                    }
                    3 => {
                        let conn = self.conn.as_mut().expect("connected");
                        if conn.sent.is_empty() {
                            return Ok(());
                        }
                        let old = conn.sent[u.choose_index(conn.sent.len())?].clone();
                        let _ = conn.sink.send(Message::binary(old)).await;
                        ErrorKind::BadFrame
                    }
                    _ => {
                        self.send_control(&ClientControl::Ready).await;
                        let answers = self.settle().await;
                        self.expect(&answers, &[]);
                        return Ok(());
                    }
                };
                let answers = self.settle().await;
                self.expect(&answers, &[expected]);
            }
            _ => {
                // A fuzzed plaintext, sealed: whatever it decodes to.
                self.ensure_connected().await;
                let len = u.arbitrary_len::<u8>()?.min(600);
                let plaintext = u.bytes(len)?.to_vec();
                // Only what the gateway refuses: packets and requests have their own actions.
                let expected = match ClientFrame::decode(&plaintext) {
                    Err(_) => ErrorKind::BadFrame,
                    Ok(ClientFrame::Control(json))
                        if serde_json::from_slice::<ClientControl>(json).is_err() =>
                    {
                        ErrorKind::BadRequest
                    }
                    Ok(_) => return Ok(()),
                };
                self.send_sealed(&plaintext).await;
                let answers = self.settle().await;
                self.expect(&answers, &[expected]);
            }
        }
        self.check();
        Ok(())
    }
}
