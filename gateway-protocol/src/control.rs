//! JSON text frames: the handshake, credentials, mailbox acknowledgements and errors.
//!
//! Keys, nonces and signatures are bs58 strings. Unknown fields and unknown `type`s are
//! refused, so a client built against another version fails loudly instead of half-working.

use serde::{Deserialize, Serialize};
use validator_core::api::SpendBody;

/// What a client sends: `register` and `authenticate` as text, the others sealed in binary
/// frames once authenticated (see [`ClientFrame::Control`](super::ClientFrame)).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientControl {
    /// First contact: derive and store a shared key.
    Register {
        /// The client's ed25519 identity (its address's first part).
        identity: String,
        /// A fresh x25519 public key.
        ephemeral: String,
        /// The client's clock, Unix ms.
        timestamp_ms: u64,
        /// Identity signature over [`register_signing_bytes`](super::handshake::register_signing_bytes).
        signature: String,
        /// Proof of work for this identity at this gateway
        /// ([`registration_work`](super::registration_work)); left out when the client does
        /// not know the gateway's difficulty yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        work: Option<u64>,
    },
    /// A returning client.
    Authenticate {
        /// The client's ed25519 identity.
        identity: String,
        /// The client's clock, Unix ms.
        timestamp_ms: u64,
        /// 32 fresh random bytes.
        nonce: String,
        /// Identity signature over [`authenticate_signing_bytes`](super::handshake::authenticate_signing_bytes).
        signature: String,
    },
    /// The first sealed frame of a session: proves the client holds the session key. Until it
    /// arrives the gateway delivers nothing.
    Ready,
    /// Presents a Coconut bandwidth credential.
    Bandwidth {
        /// A fresh presentation (theta and the public attributes).
        credential: Box<SpendBody>,
    },
    /// The client has the mailbox messages with these ids; the gateway deletes them.
    Received {
        /// Ids from stored-message frames.
        ids: Vec<u64>,
    },
}

/// What a gateway sends as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GatewayControl {
    /// Registration accepted.
    Registered {
        /// The gateway's x25519 ephemeral public key.
        ephemeral: String,
        /// Gateway identity signature over [`registered_signing_bytes`](super::handshake::registered_signing_bytes).
        signature: String,
        /// Bandwidth left, bytes.
        bandwidth: u64,
        /// Messages waiting in the mailbox.
        stored: u64,
    },
    /// Authentication accepted.
    Authenticated {
        /// The gateway's 32-byte nonce.
        nonce: String,
        /// Gateway identity signature over [`authenticated_signing_bytes`](super::handshake::authenticated_signing_bytes).
        signature: String,
        /// Bandwidth left, bytes.
        bandwidth: u64,
        /// Messages waiting in the mailbox.
        stored: u64,
    },
    /// Bandwidth left after a credential was redeemed.
    Bandwidth {
        /// Bytes.
        remaining: u64,
    },
    /// Something was refused. Errors marked fatal are followed by the close of the connection.
    Error {
        /// Machine-readable.
        kind: ErrorKind,
        /// For humans.
        message: String,
        /// With [`ErrorKind::WorkRequired`]: the work the gateway asks of a registration, in
        /// bits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        work_bits: Option<u8>,
    },
}

/// Why a gateway refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Not valid JSON, an unknown type or field, a malformed key.
    BadRequest,
    /// A packet or request before register/authenticate succeeded.
    NotAuthenticated,
    /// Register or authenticate twice on one connection.
    AlreadyAuthenticated,
    /// The timestamp is outside the gateway's window.
    Stale,
    /// This register or authenticate was seen before.
    Replayed,
    /// Authenticate from a client that never registered here.
    UnknownClient,
    /// A signature does not verify.
    BadSignature,
    /// A binary frame that does not open or does not parse.
    BadFrame,
    /// A frame above the size limit.
    FrameTooLarge,
    /// A credential that does not verify.
    CredentialRefused,
    /// A credential already spent here or at another gateway.
    CredentialSpent,
    /// No bandwidth left: the packet was not sent.
    OutOfBandwidth,
    /// The packet's first hop is not a layer-1 mixnode of the current topology.
    NotInTopology,
    /// The gateway is at its connection limit.
    TooManyConnections,
    /// The gateway could not keep up (a queue is full); retry later.
    Busy,
    /// A registration without enough proof of work; the error's `work_bits` says how much.
    WorkRequired,
    /// This source address registered too often; retry later.
    TooManyRegistrations,
    /// Too many refused credentials on one connection: it is closed.
    TooManyRefusedCredentials,
    /// The gateway failed; not the client's fault.
    Internal,
}

impl ErrorKind {
    /// The label used in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotAuthenticated => "not_authenticated",
            ErrorKind::AlreadyAuthenticated => "already_authenticated",
            ErrorKind::Stale => "stale",
            ErrorKind::Replayed => "replayed",
            ErrorKind::UnknownClient => "unknown_client",
            ErrorKind::BadSignature => "bad_signature",
            ErrorKind::BadFrame => "bad_frame",
            ErrorKind::FrameTooLarge => "frame_too_large",
            ErrorKind::CredentialRefused => "credential_refused",
            ErrorKind::CredentialSpent => "credential_spent",
            ErrorKind::OutOfBandwidth => "out_of_bandwidth",
            ErrorKind::NotInTopology => "not_in_topology",
            ErrorKind::TooManyConnections => "too_many_connections",
            ErrorKind::Busy => "busy",
            ErrorKind::WorkRequired => "work_required",
            ErrorKind::TooManyRegistrations => "too_many_registrations",
            ErrorKind::TooManyRefusedCredentials => "too_many_refused_credentials",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether the gateway closes the connection after this error.
    pub fn is_fatal(self) -> bool {
        !matches!(
            self,
            ErrorKind::CredentialRefused
                | ErrorKind::CredentialSpent
                | ErrorKind::OutOfBandwidth
                | ErrorKind::NotInTopology
                | ErrorKind::Busy
        )
    }
}

impl GatewayControl {
    /// An error answer.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayControl::Error {
            kind,
            message: message.into(),
            work_bits: None,
        }
    }

    /// The refusal of a registration with too little work.
    pub fn work_required(bits: u8) -> Self {
        GatewayControl::Error {
            kind: ErrorKind::WorkRequired,
            message: format!(
                "a registration here needs proof of work of {bits} bits; solve it and register again"
            ),
            work_bits: Some(bits),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail (no maps with non-string keys, no
        // custom serializers that error).
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"error\"}"))
    }
}

impl ClientControl {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_and_fields_are_refused() {
        let ok = r#"{"type":"received","ids":[1,2]}"#;
        assert!(matches!(
            serde_json::from_str::<ClientControl>(ok).unwrap(),
            ClientControl::Received { ids } if ids == vec![1, 2]
        ));
        for bad in [
            r#"{"type":"received","ids":[1],"extra":1}"#,
            r#"{"type":"steal","ids":[1]}"#,
            r#"{"ids":[1]}"#,
            r#"{"type":"received","ids":"1"}"#,
        ] {
            assert!(serde_json::from_str::<ClientControl>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_round_trip_with_snake_case_kinds() {
        let e = GatewayControl::error(ErrorKind::OutOfBandwidth, "buy more");
        let text = e.to_json();
        assert!(text.contains("\"kind\":\"out_of_bandwidth\""), "{text}");
        assert_eq!(serde_json::from_str::<GatewayControl>(&text).unwrap(), e);
        assert!(!ErrorKind::OutOfBandwidth.is_fatal());
        assert!(ErrorKind::BadFrame.is_fatal());
        let text = GatewayControl::work_required(16).to_json();
        assert!(text.contains("\"work_bits\":16"), "{text}");
        assert!(!e.to_json().contains("work_bits"), "left out when absent");
    }
}
