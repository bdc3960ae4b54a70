//! What a request must pass before the API does work for it, cheapest first:
//!
//! 1. [`rate_limit`] (every route, before anything is read): its address's bucket of its
//!    cost class ([`class_of`], [`super::rate_limit`]) has a token, else 429 `rate_limited`
//!    with `Retry-After`.
//! 2. [`peer_sender`] (the peer relay route, before the body is read): the headers name
//!    another validator of the chain and a time within the window, else 401 or 403
//!    ([`validator_core::peer_auth`]); the handler then checks the signature over the body
//!    before decoding it.
//! 3. [`Admission::check_slot`] (around every transaction or proof check): at most
//!    `concurrent_verifications` run at once; a request that would wait longer than
//!    `verification_wait_ms` for a slot is refused with 503 `busy`, so many addresses
//!    together cannot queue unbounded work on the blocking pool.
//!
//! The address is the TCP peer's ([`ConnectInfo`]); a request served without one (an
//! in-process call of the router) counts as from `0.0.0.0`. No address is exempt: on a
//! local network everything comes from 127.0.0.1, so the defaults are sized for that.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::config::ApiSection;
use super::error::ServiceError;
use super::http::Shared;
use super::rate_limit::{Class, Drawn, RateTable};
use validator_core::api;
use validator_core::peer_auth::{PeerAuth, HEADER_KEY, HEADER_SIGNATURE, HEADER_TIME};

/// The rate table and the verification slots.
#[derive(Debug)]
pub struct Admission {
    table: Mutex<RateTable>,
    origin: Instant,
    checks: Arc<Semaphore>,
    wait: Duration,
}

impl Admission {
    /// Limits as configured.
    pub fn new(config: &ApiSection) -> Self {
        Self {
            table: Mutex::new(RateTable::new(
                config.rates(),
                config.tracked_addresses,
                Duration::ZERO,
            )),
            origin: Instant::now(),
            checks: Arc::new(Semaphore::new(config.concurrent_verifications)),
            wait: Duration::from_millis(config.verification_wait_ms),
        }
    }

    /// Charges a request of `class` from `addr`.
    pub fn charge(&self, addr: IpAddr, class: Class) -> Result<(), ServiceError> {
        let now = self.origin.elapsed();
        let verdict = self
            .table
            .lock()
            .map_err(|_| ServiceError::Internal("rate table lock poisoned".into()))?
            .check(addr, class, now);
        match verdict {
            Ok(Drawn::Own) => Ok(()),
            Ok(Drawn::Overflow) => {
                tracing::debug!(%addr, class = class.name(), "rate table full; shared allowance");
                Ok(())
            }
            Err(refused) => Err(ServiceError::RateLimited {
                class: class.name(),
                retry_after_secs: refused.retry_after.as_secs_f64().ceil().max(1.0) as u64,
            }),
        }
    }

    /// A slot to run one transaction or proof check in; held until dropped.
    pub async fn check_slot(&self) -> Result<OwnedSemaphorePermit, ServiceError> {
        match tokio::time::timeout(self.wait, Arc::clone(&self.checks).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ServiceError::Internal(
                "verification slots closed".to_owned(),
            )),
            Err(_) => Err(ServiceError::Busy {
                retry_after_secs: self.wait.as_secs().max(1),
            }),
        }
    }
}

/// The cost class of a request: POSTs verify cryptography (the peer relay has its own
/// class), everything else reads.
pub fn class_of(method: &Method, path: &str) -> Class {
    match (method, path) {
        (&Method::POST, api::PEER_TRANSACTIONS) => Class::Peer,
        (&Method::POST, _) => Class::Write,
        _ => Class::Read,
    }
}

/// Middleware: charges the request to its address before anything else happens.
pub async fn rate_limit(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let class = class_of(request.method(), request.uri().path());
    match admission.charge(addr, class) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Middleware of the peer relay: the envelope's headers name another validator and a time
/// within the window; passes the parsed [`PeerAuth`] on for the signature check over the
/// body.
pub async fn peer_sender(
    State(shared): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    // A header that is not visible ASCII parses as empty, which every field refuses.
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or(""));
    let checked = PeerAuth::from_headers(get(HEADER_KEY), get(HEADER_TIME), get(HEADER_SIGNATURE))
        .and_then(|auth| {
            auth.check_sender(
                |key| shared.params.is_validator(key),
                &shared.identity,
                super::node::unix_now_ms(),
            )?;
            Ok(auth)
        });
    match checked {
        Ok(auth) => {
            request.extensions_mut().insert(auth);
            next.run(request).await
        }
        Err(e) => ServiceError::from(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn posts_verify_and_the_peer_relay_has_its_own_class() {
        assert_eq!(class_of(&Method::GET, api::STATUS), Class::Read);
        assert_eq!(class_of(&Method::GET, "/v1/blocks/3"), Class::Read);
        assert_eq!(class_of(&Method::GET, "/nowhere"), Class::Read);
        for path in [
            api::STATEMENTS,
            api::SPHINX_KEYS,
            api::BLIND_SIGN,
            api::SPEND,
            "/nowhere",
        ] {
            assert_eq!(class_of(&Method::POST, path), Class::Write, "{path}");
        }
        assert_eq!(class_of(&Method::POST, api::PEER_TRANSACTIONS), Class::Peer);
        assert_eq!(class_of(&Method::GET, api::PEER_TRANSACTIONS), Class::Read);
    }

    #[tokio::test]
    async fn a_check_waits_for_a_slot_and_is_refused_busy_when_none_frees_in_time() {
        let admission = Admission::new(&ApiSection {
            concurrent_verifications: 2,
            verification_wait_ms: 50,
            ..ApiSection::default()
        });
        let first = admission.check_slot().await.unwrap();
        let _second = admission.check_slot().await.unwrap();
        let busy = admission.check_slot().await.unwrap_err();
        assert_eq!((busy.status(), busy.kind()), (503, "busy"));
        drop(first);
        assert!(admission.check_slot().await.is_ok());
    }

    #[test]
    fn a_refusal_rounds_its_retry_after_up_to_whole_seconds() {
        let admission = Admission::new(&ApiSection {
            write_per_second: 1,
            write_burst: 2,
            ..ApiSection::default()
        });
        let addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
        admission.charge(addr, Class::Write).unwrap();
        admission.charge(addr, Class::Write).unwrap();
        let e = admission.charge(addr, Class::Write).unwrap_err();
        assert_eq!(
            (e.status(), e.kind(), e.retry_after_secs()),
            (429, "rate_limited", Some(1))
        );
        admission.charge(addr, Class::Read).unwrap();
    }
}
