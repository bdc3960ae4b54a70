//! The JSON text frames of Nym's protocol, as Nym's client writes and reads them: tagged by
//! `"type"` in camelCase, fields in snake_case except `authenticateV2`'s, byte strings as
//! arrays of numbers except `authenticateV2`'s two base64 fields.

use serde::{Deserialize, Serialize};

use super::authenticate::AuthenticateV2;

/// What a Nym client sends as text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NymRequest {
    /// Which protocol version the gateway speaks.
    SupportedProtocol {},
    /// A registration handshake message (the client's first one opens a registration; Nym's
    /// gateway also accepts the first under its older name).
    #[serde(alias = "registerHandshakeInitRequest")]
    HandshakePayload {
        /// The sender's protocol version (0 when absent).
        #[serde(default)]
        protocol_version: u8,
        /// The message.
        data: Vec<u8>,
    },
    /// The client gave up on the handshake.
    HandshakeError {
        /// Why.
        message: String,
    },
    /// A returning client, with the key it registered.
    #[serde(rename = "authenticateV2")]
    AuthenticateV2(Box<AuthenticateV2>),
    /// Free bandwidth, for gateways that grant it.
    ClaimFreeTestnetBandwidth,
    /// A request sealed under the shared key (forget me, remember me): Nym's statistics and
    /// data-removal requests.
    EncryptedRequest {
        /// Sealed JSON.
        ciphertext: Vec<u8>,
        /// Its nonce.
        nonce: Vec<u8>,
    },
    /// Anything else Nym's clients may send: e-cash credentials, the upgrade-mode token, the
    /// legacy authenticate and credentials. Refused.
    #[serde(other)]
    Unsupported,
}

/// The `type` tags that start a Nym client's connection: the gateway reads a connection's
/// first text frame as Nym's protocol when it carries one of these.
pub const OPENING_TYPES: [&str; 4] = [
    "supportedProtocol",
    "handshakePayload",
    "registerHandshakeInitRequest",
    "authenticateV2",
];

/// Whether a connection's first text frame is a Nym client's (its `type` is one of
/// [`OPENING_TYPES`]); our own protocol's first frame never is.
pub fn is_nym_request(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Tag<'_>>(text)
        .ok()
        .and_then(|t| t.kind)
        .is_some_and(|kind| OPENING_TYPES.contains(&kind.as_ref()))
}

/// What the gateway sends a Nym client as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum NymResponse {
    /// The protocol version we speak.
    SupportedProtocol {
        /// [`super::PROTOCOL_VERSION`].
        version: u8,
    },
    /// A registration handshake message.
    HandshakePayload {
        /// The version the registration runs at.
        protocol_version: u8,
        /// The message.
        data: Vec<u8>,
    },
    /// The handshake failed (the client reads only handshake messages meanwhile).
    HandshakeError {
        /// Why.
        message: String,
    },
    /// The registration is complete.
    Register {
        /// The version the session runs at.
        protocol_version: u8,
        /// Always true (a refusal is an error frame: Nym's client cannot handle false).
        status: bool,
        /// Nym's upgrade mode (never).
        upgrade_mode: bool,
    },
    /// The client is authenticated.
    Authenticate {
        /// The version the session runs at (the client adopts it).
        protocol_version: u8,
        /// Always true.
        status: bool,
        /// Bytes left.
        bandwidth_remaining: i64,
        /// Nym's upgrade mode (never).
        upgrade_mode: bool,
    },
    /// Bandwidth after a claim.
    Bandwidth {
        /// Bytes left.
        available_total: i64,
        /// Nym's upgrade mode (never).
        upgrade_mode: bool,
    },
    /// A packet was forwarded.
    Send {
        /// Bytes left.
        remaining_bandwidth: i64,
        /// Nym's upgrade mode (never).
        upgrade_mode: bool,
    },
    /// A refusal; before authentication it ends the connection.
    Error {
        /// Why, for people.
        message: String,
    },
    /// A refusal the client acts on.
    TypedError {
        /// Which.
        error: TypedError,
    },
}

/// The refusals a Nym client understands by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypedError {
    /// The packet needs more bandwidth than the client has; it is dropped and the client
    /// keeps running (and claims again if it may).
    OutOfBandwidth {
        /// Bytes the packet needed.
        required: i64,
        /// Bytes left.
        available: i64,
    },
}

impl NymResponse {
    /// The text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("responses always serialize")
    }

    /// An error frame.
    pub fn error(message: impl Into<String>) -> Self {
        Self::Error {
            message: message.into(),
        }
    }
}

/// Bandwidth as Nym's `i64` fields carry it.
pub fn bandwidth_field(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> NymRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn requests_parse_as_nyms_client_writes_them() {
        assert_eq!(
            parse(json!({"type": "supportedProtocol"})),
            NymRequest::SupportedProtocol {}
        );
        assert_eq!(
            parse(json!({"type": "handshakePayload", "protocol_version": 6, "data": [1, 2]})),
            NymRequest::HandshakePayload {
                protocol_version: 6,
                data: vec![1, 2]
            }
        );
        assert_eq!(
            parse(json!({"type": "registerHandshakeInitRequest", "data": [3]})),
            NymRequest::HandshakePayload {
                protocol_version: 0,
                data: vec![3]
            }
        );
        assert_eq!(
            parse(json!({"type": "claimFreeTestnetBandwidth"})),
            NymRequest::ClaimFreeTestnetBandwidth
        );
        assert_eq!(
            parse(json!({"type": "ecashCredential", "enc_credential": [1], "iv": [2]})),
            NymRequest::Unsupported
        );
        assert!(serde_json::from_value::<NymRequest>(json!({"type": 5})).is_err());
        assert!(serde_json::from_value::<NymRequest>(json!({"data": [1]})).is_err());
    }

    #[test]
    fn responses_are_written_as_nyms_client_reads_them() {
        let cases = [
            (
                NymResponse::SupportedProtocol { version: 6 },
                json!({"type": "supportedProtocol", "version": 6}),
            ),
            (
                NymResponse::Register {
                    protocol_version: 6,
                    status: true,
                    upgrade_mode: false,
                },
                json!({"type": "register", "protocol_version": 6, "status": true, "upgrade_mode": false}),
            ),
            (
                NymResponse::Authenticate {
                    protocol_version: 6,
                    status: true,
                    bandwidth_remaining: 5,
                    upgrade_mode: false,
                },
                json!({"type": "authenticate", "protocol_version": 6, "status": true,
                       "bandwidth_remaining": 5, "upgrade_mode": false}),
            ),
            (
                NymResponse::Bandwidth {
                    available_total: 9,
                    upgrade_mode: false,
                },
                json!({"type": "bandwidth", "available_total": 9, "upgrade_mode": false}),
            ),
            (
                NymResponse::Send {
                    remaining_bandwidth: 1,
                    upgrade_mode: false,
                },
                json!({"type": "send", "remaining_bandwidth": 1, "upgrade_mode": false}),
            ),
            (
                NymResponse::HandshakePayload {
                    protocol_version: 6,
                    data: vec![1],
                },
                json!({"type": "handshakePayload", "protocol_version": 6, "data": [1]}),
            ),
            (
                NymResponse::error("no"),
                json!({"type": "error", "message": "no"}),
            ),
            (
                NymResponse::TypedError {
                    error: TypedError::OutOfBandwidth {
                        required: 2413,
                        available: 0,
                    },
                },
                json!({"type": "typedError", "error": {"out_of_bandwidth": {"required": 2413, "available": 0}}}),
            ),
        ];
        for (response, expected) in cases {
            assert_eq!(serde_json::to_value(&response).unwrap(), expected);
        }
    }

    #[test]
    fn nym_openings_are_told_from_ours() {
        assert!(is_nym_request(r#"{"type":"supportedProtocol"}"#));
        assert!(is_nym_request(
            r#"{"type":"authenticateV2","protocolVersion":6}"#
        ));
        assert!(is_nym_request(
            r#"{"data":[1],"type":"handshakePayload","protocol_version":6}"#
        ));
        assert!(!is_nym_request(r#"{"type":"register"}"#));
        assert!(!is_nym_request(r#"{"type":"claimFreeTestnetBandwidth"}"#));
        assert!(!is_nym_request("not json"));
        assert!(!is_nym_request(r#"{"type":7}"#));
    }
}
