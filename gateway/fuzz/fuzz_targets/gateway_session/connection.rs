//! Connecting, reading what the gateway answered until it is quiet, and closing: the
//! plumbing every action goes through.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;

use futures::{SinkExt, StreamExt};
use gateway::connection::serve_connection;
use gateway_protocol::handshake::{start_authentication, start_registration};
use gateway_protocol::{ClientControl, ClientFrame, GatewayControl, GatewayFrame, SessionCipher};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::*;

impl Run<'_> {
    pub(super) fn now(&self) -> u64 {
        gateway::now_ms()
    }

    pub(super) async fn connect(&mut self) {
        assert!(self.conn.is_none());
        self.open().await;
    }

    /// Opens a connection (a registration the first time, else an authentication); an open
    /// connection of the client is replaced by it.
    pub(super) async fn open(&mut self) {
        let w = self.w;
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(serve_connection(server_io, PEER, self.gw.shared.clone()));
        let (ws, _) = tokio_tungstenite::client_async("ws://gateway.fuzz/", client_io)
            .await
            .expect("websocket upgrade");
        let (mut sink, mut stream) = ws.split();
        let gateway_key = self.gw.shared.identity.verifying_key();
        let n = w.nonces.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; 32];
        nonce[..8].copy_from_slice(&n.to_le_bytes());
        let keys;
        let answer;
        if let Some(shared_key) = &self.shared_key {
            let (pending, request) =
                start_authentication(&self.key, &gateway_key, nonce, self.now());
            sink.send(Message::text(request.to_json()))
                .await
                .expect("sends");
            answer = read_answer(&mut stream).await;
            keys = pending.finish(shared_key, &answer).expect("authenticated");
        } else {
            let (pending, request) =
                start_registration(&self.key, &gateway_key, nonce, self.now(), None);
            sink.send(Message::text(request.to_json()))
                .await
                .expect("sends");
            answer = read_answer(&mut stream).await;
            let (shared_key, session) = pending.finish(&answer).expect("registered");
            self.shared_key = Some(shared_key);
            keys = session;
        }
        let (GatewayControl::Registered {
            bandwidth, stored, ..
        }
        | GatewayControl::Authenticated {
            bandwidth, stored, ..
        }) = answer
        else {
            unreachable!("finish accepted it")
        };
        let expected = if self.gw.paid {
            self.bandwidth
        } else {
            u64::MAX
        };
        assert_eq!(bandwidth, expected, "the handshake's bandwidth");
        assert_eq!(
            stored,
            self.mailbox.len() as u64,
            "the handshake's stored count"
        );
        let mut cipher = SessionCipher::client(&keys);
        let ready = cipher
            .seal(&ClientFrame::encode_control(&ClientControl::Ready))
            .expect("seals");
        sink.send(Message::binary(ready)).await.expect("sends");
        let (tx, inbox) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        if let Some(old) = self.conn.take() {
            // Replaced: the old connection closes, and what it had goes to the mailbox.
            let answers = self.settle_conn(old, true).await;
            assert!(answers.closed, "a replaced connection stays open");
            assert!(answers.errors.is_empty(), "{answers:?}");
        }
        self.conn = Some(Conn {
            sink,
            inbox,
            server,
            reader,
            cipher,
            sent: Vec::new(),
            pings: 0,
            refused: 0,
            delivered: HashSet::new(),
            unconfirmed: BTreeSet::new(),
        });
        let answers = self.settle().await;
        assert!(
            !answers.closed && answers.errors.is_empty(),
            "after ready: {answers:?}"
        );
        self.check();
        assert_eq!(
            counters(self.gw).connected,
            self.base.connected + 1,
            "one connection of this client is counted"
        );
    }

    /// Reads what an old (replaced) connection still got until it ends, and its task's end.
    pub(super) async fn settle_conn(&mut self, mut conn: Conn, replaced: bool) -> Answers {
        let mut answers = Answers::default();
        while let Ok(Some(message)) = tokio::time::timeout(HANG, conn.inbox.recv()).await {
            self.absorb(&mut conn, message, &mut answers);
        }
        answers.closed = true;
        if replaced {
            assert_eq!(
                answers.close.as_ref().map(|c| c.0),
                Some(1000),
                "a replaced connection closes normally"
            );
        }
        let ended = tokio::time::timeout(HANG, conn.server).await;
        let ended = ended.expect("the connection task ends when its client is gone");
        ended
            .expect("the connection task did not panic")
            .expect("not refused");
        answers
    }

    /// Handles one message from the gateway.
    pub(super) fn absorb(
        &mut self,
        conn: &mut Conn,
        message: Message,
        answers: &mut Answers,
    ) -> bool {
        match message {
            Message::Binary(sealed) => {
                let opened = conn
                    .cipher
                    .open(&sealed)
                    .expect("the gateway's frame opens");
                let frame = GatewayFrame::decode(&opened).expect("the gateway's frame decodes");
                let tag = tag_of(frame.bytes);
                let (kind, len) = *self.injected.get(&tag).expect("a message that was sent");
                assert_eq!(
                    (frame.kind, frame.bytes.len()),
                    (kind, len),
                    "delivered intact"
                );
                assert!(
                    !self.live.contains(&tag),
                    "message {tag} delivered live, then again"
                );
                match frame.stored_id {
                    None => {
                        assert!(
                            !self.ever_stored.contains(&tag),
                            "message {tag} stored and delivered live"
                        );
                        self.live.insert(tag);
                    }
                    Some(id) => {
                        assert!(
                            !self.removed.contains(&tag),
                            "message {tag} delivered again after it was confirmed"
                        );
                        assert!(
                            conn.delivered.insert(id),
                            "stored message {id} delivered twice on one connection"
                        );
                        assert_eq!(
                            *self.tag_of_id.entry(id).or_insert(tag),
                            tag,
                            "mailbox id {id} names two messages"
                        );
                        conn.unconfirmed.insert(id);
                        self.ever_stored.insert(tag);
                        self.received_stored.insert(tag);
                    }
                }
            }
            Message::Text(text) => {
                let control: GatewayControl =
                    serde_json::from_str(text.as_str()).expect("the gateway's JSON parses");
                match control {
                    GatewayControl::Error { kind, .. } => {
                        assert!(
                            answers.errors.last().is_none_or(|k| !k.is_fatal()),
                            "an answer after the fatal {:?}",
                            answers.errors
                        );
                        answers.errors.push(kind)
                    }
                    GatewayControl::Bandwidth { remaining } => answers.bandwidth.push(remaining),
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            Message::Pong(payload) => {
                return payload.as_ref() == conn.pings.to_le_bytes();
            }
            Message::Close(frame) => {
                answers.close = Some(frame.map_or((0, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                }));
            }
            _ => {}
        }
        false
    }

    /// Waits until the gateway handled everything sent so far (it answered a ping, or closed)
    /// and nothing is left to run, then checks the invariants.
    pub(super) async fn settle(&mut self) -> Answers {
        let mut answers = Answers::default();
        let Some(mut conn) = self.conn.take() else {
            quiesce().await;
            return answers;
        };
        conn.pings += 1;
        let ping = Message::Ping(conn.pings.to_le_bytes().to_vec().into());
        let mut open = conn.sink.send(ping).await.is_ok();
        while open {
            match tokio::time::timeout(HANG, conn.inbox.recv()).await {
                Err(_) => panic!("the gateway neither answers nor closes"),
                Ok(None) => open = false,
                Ok(Some(message)) => {
                    if self.absorb(&mut conn, message, &mut answers) {
                        break;
                    }
                }
            }
        }
        quiesce().await;
        if open {
            while let Ok(message) = conn.inbox.try_recv() {
                self.absorb(&mut conn, message, &mut answers);
            }
        }
        if !open || answers.close.is_some() {
            let rest = self.settle_conn(conn, false).await;
            answers.errors.extend(rest.errors);
            answers.bandwidth.extend(rest.bandwidth);
            answers.close = answers.close.or(rest.close);
            answers.closed = true;
            // A close is the answer to a fatal error, or the idle timeout (checked by the
            // caller).
            let fatal = answers.errors.last().is_some_and(|k| k.is_fatal());
            if fatal {
                let kind = answers.errors.last().expect("fatal");
                assert_eq!(
                    answers.close.as_ref().map(|c| c.1.as_str()),
                    Some(kind.label()),
                    "the close names the fatal error"
                );
            }
        } else {
            assert!(
                answers.errors.iter().all(|k| !k.is_fatal()),
                "open after a fatal error: {answers:?}"
            );
            self.conn = Some(conn);
        }
        answers
    }

    pub(super) async fn ensure_connected(&mut self) {
        if self.conn.is_none() {
            self.connect().await;
        }
    }

    pub(super) async fn send_sealed(&mut self, plaintext: &[u8]) {
        let conn = self.conn.as_mut().expect("connected");
        let sealed = conn.cipher.seal(plaintext).expect("seals");
        conn.sent.push(sealed.clone());
        let _ = conn.sink.send(Message::binary(sealed)).await;
    }

    pub(super) async fn send_control(&mut self, control: &ClientControl) {
        self.send_sealed(&ClientFrame::encode_control(control))
            .await;
    }

    /// The client leaves: after everything sent to it arrived, with a close frame, or by
    /// dropping its end of the stream.
    pub(super) async fn close(&mut self, graceful: bool) {
        let answers = self.settle().await;
        assert!(!answers.closed, "closed: {answers:?}");
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if graceful {
            let _ = conn.sink.send(Message::Close(None)).await;
            let rest = self.settle_conn(conn, false).await;
            assert!(rest.errors.is_empty(), "{rest:?}");
        } else {
            conn.reader.abort();
            drop(conn.sink);
            let ended = tokio::time::timeout(HANG, conn.server).await;
            ended
                .expect("the connection task ends when its client is gone")
                .expect("the connection task did not panic")
                .expect("not refused");
        }
        quiesce().await;
    }

    /// The end of a run: connected and confirming, the client gets its whole mailbox; then it
    /// leaves and the gateway forgets the connection.
    pub(super) async fn finish(&mut self) {
        self.ensure_connected().await;
        for _ in 0..(MAX_MESSAGES as usize / BATCH + 3) {
            let conn = self.conn.as_mut().expect("still connected");
            if conn.unconfirmed.is_empty() && self.mailbox.is_empty() {
                break;
            }
            let ids: Vec<u64> = conn.unconfirmed.iter().copied().collect();
            self.confirmed.extend(&ids);
            conn.unconfirmed.clear();
            self.send_control(&ClientControl::Received { ids }).await;
            let answers = self.settle().await;
            self.expect(&answers, &[]);
            self.check();
        }
        assert!(
            self.mailbox.is_empty(),
            "the mailbox was not delivered: {:?}",
            self.mailbox
        );
        for tag in &self.ever_stored {
            assert!(
                self.received_stored.contains(tag),
                "stored message {tag} never delivered"
            );
        }
        self.close(true).await;
        self.check();
    }
}
