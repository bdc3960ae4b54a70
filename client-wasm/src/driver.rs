//! The running client, on the worker's event loop: the client core and three tasks around it.
//!
//! - the **sending loop** calls the core's `poll_transmit` at its Poisson times (the real
//!   stream with cover in idle slots, the loop-cover stream) and queues the packets for the
//!   link;
//! - the **link** keeps one session with the gateway open, reconnecting with the native
//!   client's backoff, and hands deliveries to the core;
//! - the **topology refresh** fetches the threshold-verified topology every refresh period
//!   and just after each epoch ends.
//!
//! Everything runs on one thread, so the state is shared through a `RefCell` that no task
//! holds across an await.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use client::core::gateway_session::{
    answer_counts, link_step, Backoff, Incoming, LinkStep, RefreshSchedule,
};

use client::core::{ClientCore, Event, Recipient, SendError, Transmit};
use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::channel::mpsc;
use futures::future::AbortHandle;
use futures::{FutureExt, StreamExt};
use gateway_protocol::{ClientControl, ErrorKind, SharedKey};
use rand_core::OsRng;
use validator_client::TopologyFetcher;
use validator_core::topology::EpochId;
use wasm_bindgen::JsValue;

use crate::browser::{sleep, spawn, unix_ms, Clock};
use crate::session::{Session, SessionError};
use crate::views::{sender_tag_text, LinkCounters, StatsView};

/// Packets queued for the link (while it reconnects, more are dropped and recovered by
/// retransmission), as in the native client.
const LINK_QUEUE: usize = 1024;

/// What the client tells the page: a function called with one object per event.
pub type EventSink = js_sys::Function;

/// Why a message was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefusedSend {
    /// The client was stopped.
    #[error("the client is stopped")]
    Stopped,
    /// The link is down.
    #[error("the gateway at {url} is unreachable ({reason}); the client is reconnecting")]
    Unreachable {
        /// The gateway's URL.
        url: String,
        /// Why the last session ended.
        reason: String,
    },
    /// The gateway holds no bandwidth for the client.
    #[error("no bandwidth left at the gateway: start the client with an accountKey to buy some")]
    NoBandwidth,
    /// Another connection of this client took the gateway session over.
    #[error(
        "another connection of this client (a tab or device with the same identity) took over \
         the gateway session; this one stopped"
    )]
    Replaced,
    /// The core refused it.
    #[error(transparent)]
    Core(#[from] SendError),
}

/// The shared state.
struct State {
    core: ClientCore,
    clock: Clock,
    out: mpsc::Sender<Transmit>,
    link: LinkCounters,
    /// Why the link is down, while it is.
    down_reason: Option<String>,
    /// Events for the page, handed over by [`flush`] once no borrow is held (the page's
    /// function may call back into the client).
    outbox: Vec<js_sys::Object>,
    /// The last refusal reported, so a refusal repeated for every packet is reported once.
    last_refusal: Option<ErrorKind>,
    /// Another connection of this client took the session over; the link stopped.
    replaced: bool,
    stopped: bool,
}

impl State {
    /// Hands the core's events to the page.
    fn drain_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            let object = js_sys::Object::new();
            match event {
                Event::Received(r) => {
                    set(&object, "type", &"message".into());
                    set(
                        &object,
                        "message",
                        &js_sys::Uint8Array::from(&r.payload[..]).into(),
                    );
                    set(&object, "text", &r.text.into());
                    set(&object, "isReply", &r.is_reply.into());
                    if let Some(tag) = r.sender_tag {
                        set(&object, "senderTag", &sender_tag_text(&tag).into());
                    }
                }
                Event::FragmentLost { message_id, reason } => {
                    set(&object, "type", &"fragmentLost".into());
                    // Message ids stay below 2^53.
                    set(&object, "messageId", &(message_id as f64).into());
                    set(&object, "reason", &reason.into());
                }
            }
            self.emit(&object);
        }
    }

    fn emit(&mut self, object: &js_sys::Object) {
        self.outbox.push(object.clone());
    }

    fn link_status(&mut self, connected: bool, reason: Option<String>) {
        self.link.connected = connected;
        self.down_reason = reason.clone();
        let object = js_sys::Object::new();
        set(&object, "type", &"link".into());
        set(&object, "connected", &connected.into());
        if let Some(reason) = reason {
            set(&object, "reason", &reason.into());
        }
        self.emit(&object);
    }

    /// Handles one step of the link; returns the mailbox ids to confirm.
    fn deliver(&mut self, step: LinkStep) -> Option<Vec<u64>> {
        match step {
            LinkStep::Deliver {
                kind,
                stored_id,
                bytes,
            } => {
                let now = self.clock.now();
                self.core.handle_delivery(kind, &bytes, now);
                self.drain_events();
                return stored_id.map(|id| vec![id]);
            }
            LinkStep::Bandwidth(remaining) => {
                self.link.bandwidth = Some(remaining);
                self.last_refusal = None;
            }
            LinkStep::Refusal { kind, message } => {
                if kind == ErrorKind::OutOfBandwidth {
                    self.link.bandwidth = Some(0);
                }
                if self.last_refusal.replace(kind) == Some(kind) {
                    return None;
                }
                let object = js_sys::Object::new();
                set(&object, "type", &"refusal".into());
                set(&object, "kind", &kind.label().into());
                set(&object, "message", &message.into());
                self.emit(&object);
            }
            LinkStep::Fatal { .. } | LinkStep::Ignore => {}
        }
        None
    }
}

/// Hands the page the events queued, with no borrow of the state held while its function
/// runs.
fn flush(state: &Rc<RefCell<State>>, events: &EventSink) {
    let outbox = std::mem::take(&mut state.borrow_mut().outbox);
    for object in outbox {
        // The page's handler failing is the page's business.
        let _ = events.call1(&JsValue::NULL, &object);
    }
}

fn set(object: &js_sys::Object, key: &str, value: &JsValue) {
    // Setting a property of a plain new object does not fail.
    let _ = js_sys::Reflect::set(object, &key.into(), value);
}

/// Who the link connects as, and to whom.
pub struct LinkParams {
    /// The gateway's client URL.
    pub url: String,
    /// Our identity.
    pub identity: SigningKey,
    /// The gateway's identity.
    pub gateway: VerifyingKey,
    /// The registration key.
    pub shared: SharedKey,
}

/// What a client starts running with.
pub struct Parts {
    /// The core, with the first topology.
    pub core: ClientCore,
    /// The core's clock.
    pub clock: Clock,
    /// The session opened at start.
    pub session: Session,
    /// Who the link reconnects as.
    pub params: LinkParams,
    /// Where topologies come from.
    pub fetcher: TopologyFetcher,
    /// The current topology's epoch and end.
    pub topology: (EpochId, u64),
    /// How often the topology is fetched.
    pub refresh: Duration,
    /// The bandwidth the gateway holds.
    pub bandwidth: u64,
}

/// A running client.
pub struct Driver {
    state: Rc<RefCell<State>>,
    address: Recipient,
    url: String,
    tasks: Vec<AbortHandle>,
}

impl Driver {
    /// Starts the sending loop, the link (on `session`, already open) and the topology
    /// refresh.
    pub fn start(parts: Parts, events: EventSink) -> Driver {
        let Parts {
            core,
            clock,
            session,
            params,
            fetcher,
            topology: (epoch, valid_until_ms),
            refresh,
            bandwidth,
        } = parts;
        let (out, out_rx) = mpsc::channel(LINK_QUEUE);
        let address = core.address();
        let url = params.url.clone();
        let state = Rc::new(RefCell::new(State {
            core,
            clock,
            out,
            link: LinkCounters {
                bandwidth: Some(bandwidth),
                connected: true,
                ..LinkCounters::default()
            },
            down_reason: None,
            outbox: Vec::new(),
            last_refusal: None,
            replaced: false,
            stopped: false,
        }));
        let shared = Shared {
            state: state.clone(),
            events,
        };
        let tasks = vec![
            spawn(sending_loop(shared.clone())),
            spawn(run_link(shared.clone(), params, session, out_rx)),
            spawn(refresh_topology(
                shared,
                fetcher,
                epoch,
                valid_until_ms,
                refresh,
            )),
        ];
        Driver {
            state,
            address,
            url,
            tasks,
        }
    }

    /// The client's address.
    pub fn address(&self) -> &Recipient {
        &self.address
    }

    /// Queues a message: to `recipient` (anonymously, with `reply_surbs` SURBs, when given),
    /// or as a reply to `sender_tag`. Returns the message id.
    pub fn send(&self, target: Target, payload: Vec<u8>, text: bool) -> Result<u64, RefusedSend> {
        let mut state = self.state.borrow_mut();
        if state.stopped {
            return Err(RefusedSend::Stopped);
        }
        if state.replaced {
            return Err(RefusedSend::Replaced);
        }
        if let Some(reason) = &state.down_reason {
            return Err(RefusedSend::Unreachable {
                url: self.url.clone(),
                reason: reason.clone(),
            });
        }
        if state.link.bandwidth == Some(0) {
            return Err(RefusedSend::NoBandwidth);
        }
        let rng = &mut OsRng;
        let id = match target {
            Target::Recipient {
                recipient,
                reply_surbs: None,
            } => state.core.send(&recipient, payload, text, rng)?,
            Target::Recipient {
                recipient,
                reply_surbs: Some(n),
            } => state
                .core
                .send_anonymous(&recipient, payload, text, n, rng)?,
            Target::Reply { sender_tag } => state.core.reply(&sender_tag, payload, text, rng)?,
        };
        Ok(id)
    }

    /// The counters.
    pub fn stats(&self) -> StatsView {
        let state = self.state.borrow();
        StatsView::new(&state.core.stats(), state.link)
    }

    /// Stops every task and closes the link.
    pub fn stop(&mut self) {
        self.state.borrow_mut().stopped = true;
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a message goes.
pub enum Target {
    /// To an address.
    Recipient {
        /// The address.
        recipient: Recipient,
        /// SURBs to send along (an anonymous message), if any.
        reply_surbs: Option<u16>,
    },
    /// Back to an anonymous sender, through its SURBs.
    Reply {
        /// The sender's tag.
        sender_tag: [u8; 16],
    },
}

/// What the tasks share: the state, and the page's event function.
#[derive(Clone)]
struct Shared {
    state: Rc<RefCell<State>>,
    events: EventSink,
}

impl Shared {
    /// Runs `f` on the state, then hands the page the events it queued.
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.state.borrow_mut());
        flush(&self.state, &self.events);
        out
    }
}

/// Calls `poll_transmit` whenever the core's next slot or timer is due.
async fn sending_loop(shared: Shared) {
    let mut rng = OsRng;
    loop {
        let wait = {
            let s = shared.state.borrow();
            s.core.poll_timeout().saturating_sub(s.clock.now())
        };
        sleep(wait).await;
        shared.with(|s| {
            let now = s.clock.now();
            while let Some(t) = s.core.poll_transmit(now, &mut rng) {
                if s.out.try_send(t).is_err() {
                    s.link.dropped_packets += 1;
                }
            }
            s.drain_events();
        });
    }
}

/// What the link waits for.
enum Step {
    Out(Option<Transmit>),
    In(Result<Incoming, SessionError>),
}

/// Keeps a session open and moves packets and deliveries. Stops for good when the gateway
/// says another connection of this client took the session's place (two tabs or devices
/// with one identity would otherwise take it from each other forever).
async fn run_link(
    shared: Shared,
    params: LinkParams,
    first: Session,
    mut outgoing: mpsc::Receiver<Transmit>,
) {
    let mut backoff = Backoff::default();
    let mut next_session = Some(first);
    loop {
        let mut session = match next_session.take() {
            Some(s) => s,
            None => match Session::authenticate(
                &params.url,
                &params.identity,
                &params.gateway,
                &params.shared,
            )
            .await
            {
                Ok(s) => {
                    shared.with(|st| {
                        st.link.reconnects += 1;
                        st.link.bandwidth = Some(answer_counts(&s.answer).0);
                        st.last_refusal = None;
                        st.link_status(true, None);
                    });
                    s
                }
                Err(e) => {
                    shared.with(|st| st.link_status(false, Some(e.to_string())));
                    sleep(backoff.failed()).await;
                    continue;
                }
            },
        };
        let up = Clock::start();
        let reason = loop {
            let step = {
                let incoming = session.next().fuse();
                futures::pin_mut!(incoming);
                futures::select! {
                    out = outgoing.next() => Step::Out(out),
                    incoming = incoming => Step::In(incoming),
                }
            };
            let sent = match step {
                Step::Out(None) => return,
                Step::Out(Some(t)) => {
                    session
                        .send_packet(&t.first_hop, t.key_rotation, &t.packet)
                        .await
                }
                Step::In(Err(e)) => break e,
                Step::In(Ok(incoming)) => match link_step(incoming) {
                    LinkStep::Fatal { kind, message } => {
                        break SessionError::Fatal { kind, message }
                    }
                    step => match shared.with(|st| st.deliver(step)) {
                        // The message is in the core (reassembly or the page) now.
                        Some(ids) => session.send_control(&ClientControl::Received { ids }).await,
                        None => Ok(()),
                    },
                },
            };
            if let Err(e) = sent {
                break e;
            }
        };
        session.close();
        let replaced = reason.is_replaced();
        shared.with(|st| {
            st.replaced = replaced;
            st.link_status(false, Some(reason.to_string()));
        });
        if replaced {
            return;
        }
        sleep(backoff.ended(up.now())).await;
    }
}

/// Fetches the topology every `refresh` and just after each epoch's end (backing off while
/// nothing new comes); hands each new routable one to the core.
async fn refresh_topology(
    shared: Shared,
    fetcher: TopologyFetcher,
    epoch: EpochId,
    valid_until_ms: u64,
    refresh: Duration,
) {
    let mut schedule = RefreshSchedule::new(refresh);
    let mut current = epoch;
    let mut until_ms = valid_until_ms;
    loop {
        sleep(schedule.next_wait(until_ms, unix_ms())).await;
        match fetcher.fetch(None).await {
            Ok(t) if t.epoch_id != current && t.is_routable() => {
                current = t.epoch_id;
                until_ms = t.valid_until_ms;
                shared.with(|st| st.core.handle_topology(&t));
            }
            Ok(_) => {}
            Err(e) => web_sys::console::debug_1(&format!("topology refresh: {e}").into()),
        }
    }
}
