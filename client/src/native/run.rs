//! `client run`: apps over a websocket. The [`super::driver`] owns the mixnet side; this
//! module serves apps, turns their requests into commands and hands arrivals to every
//! connected app (or keeps them until one connects).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::app::{serve, AppEvent};
use super::driver::{connect, DriverOptions, MixnetError, MixnetEvent, MixnetSender};
use super::error::NativeError;
use super::files::ClientPaths;
use crate::api::AppRequest;
use crate::api::{encode_binary_received, encode_sender_tag, Response};
use crate::core::{CoreConfig, Received, Recipient};

/// `client run` options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// App websocket listen address.
    pub listen: SocketAddr,
    /// The core's settings.
    pub core: CoreConfig,
    /// How often to fetch the topology.
    pub topology_refresh: Duration,
}

/// Messages kept for apps while none is connected.
const UNDELIVERED_LIMIT: usize = 10_000;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Runs the client until Ctrl-C or SIGTERM.
pub async fn run(paths: &ClientPaths, options: RunOptions) -> Result<(), NativeError> {
    let mut mixnet = connect(
        paths,
        DriverOptions {
            core: options.core,
            topology_refresh: options.topology_refresh,
        },
    )
    .await?;
    // Apps are served once the gateway answered, so a listening client is a working one.
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| NativeError::Listen {
            address: options.listen,
            source,
        })?;
    let (app_tx, mut app_rx) = mpsc::channel(1024);
    let apps_task = tokio::spawn(serve(listener, app_tx));
    let address = mixnet.address;
    tracing::info!(listen = %options.listen, %address, "client ready");

    let mut apps = Apps {
        mixnet: mixnet.sender(),
        address,
        apps: HashMap::new(),
        undelivered: VecDeque::new(),
    };
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = mixnet.events.recv() => match event {
                Some(MixnetEvent::Received(r)) => apps.deliver(r),
                Some(MixnetEvent::FragmentLost { .. }) => {}
                None => return Err(MixnetError::Stopped.into()),
            },
            Some(event) = app_rx.recv() => apps.app_event(event).await,
        }
    }
    apps_task.abort();
    Ok(())
}

/// The connected apps.
struct Apps {
    mixnet: MixnetSender,
    address: Recipient,
    apps: HashMap<u64, mpsc::Sender<Message>>,
    undelivered: VecDeque<Message>,
}

impl Apps {
    fn deliver(&mut self, r: Received) {
        let tag = r.sender_tag.as_ref();
        let binary =
            |payload: &[u8]| Message::binary(encode_binary_received(tag, r.is_reply, payload));
        let message = if r.text {
            match String::from_utf8(r.payload) {
                Ok(text) => Message::text(
                    Response::Received {
                        message: text,
                        sender_tag: tag.map(encode_sender_tag),
                        is_reply: r.is_reply,
                    }
                    .to_json(),
                ),
                // The core checks text is UTF-8; this is only defensive.
                Err(e) => binary(e.as_bytes()),
            }
        } else {
            binary(&r.payload)
        };
        self.deliver_to_apps(message);
    }

    /// Delivers to every connected app, or keeps it until one connects.
    fn deliver_to_apps(&mut self, message: Message) {
        if self.apps.is_empty() {
            if self.undelivered.len() >= UNDELIVERED_LIMIT {
                self.undelivered.pop_front();
                tracing::warn!("no app connected: the oldest kept message was dropped");
            }
            self.undelivered.push_back(message);
            return;
        }
        self.apps
            .retain(|id, tx| match tx.try_send(message.clone()) {
                Ok(()) => true,
                Err(_) => {
                    tracing::warn!(app = id, "an app does not read its messages: disconnected");
                    false
                }
            });
    }

    fn respond(&mut self, id: u64, response: Response) {
        if let Some(tx) = self.apps.get(&id) {
            if tx.try_send(Message::text(response.to_json())).is_err() {
                self.apps.remove(&id);
            }
        }
    }

    async fn app_event(&mut self, event: AppEvent) {
        match event {
            AppEvent::Connected { id, sender } => {
                for m in self.undelivered.drain(..) {
                    let _ = sender.try_send(m);
                }
                self.apps.insert(id, sender);
            }
            AppEvent::Gone { id } => {
                self.apps.remove(&id);
            }
            AppEvent::Request { id, request } => {
                let outcome = match request {
                    AppRequest::SelfAddress => {
                        let address = self.address.to_string();
                        self.respond(id, Response::SelfAddress { address });
                        return;
                    }
                    AppRequest::Invalid(message) => Err(message),
                    AppRequest::Send {
                        recipient,
                        payload,
                        text,
                        reply_surbs,
                    } => match recipient.parse::<Recipient>() {
                        Err(e) => Err(format!("recipient {recipient:?}: {e}")),
                        Ok(r) => self
                            .mixnet
                            .send(r, payload, text, reply_surbs)
                            .await
                            .map(drop)
                            .map_err(|e| e.to_string()),
                    },
                    AppRequest::Reply {
                        sender_tag,
                        payload,
                        text,
                    } => self
                        .mixnet
                        .reply(sender_tag, payload, text)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string()),
                };
                if let Err(message) = outcome {
                    self.respond(id, Response::Error { message });
                }
            }
        }
    }
}
