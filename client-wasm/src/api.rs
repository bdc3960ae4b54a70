//! The bindings the worker script calls (`js/worker.js`); the page's API is `js/mixnet.js`.
//! Every failure is a rejected promise or a thrown `Error` whose message says what was wrong;
//! nothing here panics on the page's input.

use std::cell::RefCell;

use client::core::Recipient;
use wasm_bindgen::prelude::*;

use crate::driver::{Driver, Target};
use crate::options::StartOptions;
use crate::views::parse_sender_tag;

/// Builds `count` packets with the client core (see `packet_rate`); returns the
/// milliseconds it took on this page's clock.
#[wasm_bindgen(js_name = benchPacketBuild)]
pub fn bench_packet_build(count: u32) -> f64 {
    let clock = crate::browser::Clock::start();
    crate::packet_rate::build_packets(count, &mut rand_core::OsRng);
    clock.now().as_secs_f64() * 1000.0
}

/// A running browser client.
#[wasm_bindgen]
pub struct WasmClient {
    driver: RefCell<Option<Driver>>,
    address: String,
}

fn recipient(text: &str) -> Result<Recipient, JsError> {
    text.trim()
        .parse::<Recipient>()
        .map_err(|e| JsError::new(&format!("bad address {text:?}: {e}")))
}

fn id(result: Result<u64, crate::driver::RefusedSend>) -> Result<f64, JsError> {
    // Message ids stay below 2^53, exact in a JS number.
    result
        .map(|id| id as f64)
        .map_err(|e| JsError::new(&e.to_string()))
}

#[wasm_bindgen]
impl WasmClient {
    /// Starts a client with `options` (the JSON of `MixnetClient.start`'s options); `events`
    /// is called with each event object.
    pub async fn start(options: String, events: js_sys::Function) -> Result<WasmClient, JsError> {
        let checked = StartOptions::from_json(&options)
            .and_then(StartOptions::check)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let driver = crate::start::start(checked, events)
            .await
            .map_err(|e| JsError::new(&e.to_string()))?;
        let address = driver.address().to_string();
        Ok(WasmClient {
            driver: RefCell::new(Some(driver)),
            address,
        })
    }

    /// The client's address.
    #[wasm_bindgen(js_name = selfAddress)]
    pub fn self_address(&self) -> String {
        self.address.clone()
    }

    fn with<T>(&self, f: impl FnOnce(&Driver) -> Result<T, JsError>) -> Result<T, JsError> {
        match self.driver.borrow().as_ref() {
            Some(d) => f(d),
            None => Err(JsError::new("the client is stopped")),
        }
    }

    /// Queues `message` for `recipient`; returns the message id.
    pub fn send(&self, recipient_text: &str, message: Vec<u8>, text: bool) -> Result<f64, JsError> {
        let recipient = recipient(recipient_text)?;
        self.with(|d| {
            let target = Target::Recipient {
                recipient,
                reply_surbs: None,
            };
            id(d.send(target, message, text))
        })
    }

    /// Queues `message` for `recipient` without revealing this client's address, with
    /// `reply_surbs` SURBs for the answer; returns the message id.
    #[wasm_bindgen(js_name = sendAnonymous)]
    pub fn send_anonymous(
        &self,
        recipient_text: &str,
        message: Vec<u8>,
        text: bool,
        reply_surbs: u16,
    ) -> Result<f64, JsError> {
        let recipient = recipient(recipient_text)?;
        self.with(|d| {
            let target = Target::Recipient {
                recipient,
                reply_surbs: Some(reply_surbs),
            };
            id(d.send(target, message, text))
        })
    }

    /// Queues an answer to the anonymous sender `sender_tag`, through its SURBs.
    pub fn reply(&self, sender_tag: &str, message: Vec<u8>, text: bool) -> Result<f64, JsError> {
        let sender_tag = parse_sender_tag(sender_tag).map_err(|e| JsError::new(&e))?;
        self.with(|d| id(d.send(Target::Reply { sender_tag }, message, text)))
    }

    /// The counters, as JSON.
    pub fn stats(&self) -> Result<String, JsError> {
        self.with(|d| Ok(d.stats().to_json()))
    }

    /// Stops the client: its tasks end and the gateway connection closes.
    pub fn stop(&self) {
        if let Some(mut d) = self.driver.borrow_mut().take() {
            d.stop();
        }
    }
}
