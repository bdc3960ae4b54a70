//! What crosses the client's app websocket (pure): the JSON requests and answers of the
//! native client's API (DESIGN.md §5), and the text of the benchmark's own messages.
//!
//! A benchmark message is one line of text, exactly the configured size:
//!
//! ```text
//! localnet <sender> <recipient> <sequence> <sent_us> xxxxxxxx...
//! ```
//!
//! `sender` and `recipient` are client indices, `sequence` counts the sender's messages from
//! 0, `sent_us` is microseconds since the traffic started (this process's monotonic clock, so
//! latency needs no clock agreement between machines: every client is local). The `x`
//! padding brings the text to the size asked for.

use serde::{Deserialize, Serialize};

/// The first word of every benchmark message.
pub const TAG: &str = "localnet";
/// The longest header: the tag and four numbers at their longest, with their spaces.
pub const MAX_HEADER_LEN: usize = TAG.len() + 1 + 10 + 1 + 10 + 1 + 20 + 1 + 20 + 1;

/// Requests an app sends to its client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AppRequest {
    /// Ask for the client's own address.
    SelfAddress,
    /// Send `message` to `recipient` (an address `<identity>.<encryption>@<gateway>`).
    Send {
        /// UTF-8 text.
        message: String,
        /// The recipient's address.
        recipient: String,
    },
}

impl AppRequest {
    /// The JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect(
            "a request holds only strings in a tagged struct, which serde_json always encodes",
        )
    }
}

/// What the client sends its app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AppResponse {
    /// The answer to [`AppRequest::SelfAddress`].
    SelfAddress {
        /// The client's address.
        address: String,
    },
    /// A message arrived.
    Received {
        /// Its text.
        message: String,
        /// The sender's reply tag, for anonymous messages (unused here).
        #[serde(default, rename = "senderTag")]
        sender_tag: Option<String>,
    },
    /// A request failed.
    Error {
        /// Why.
        message: String,
    },
    /// Anything else (a newer client's answers): ignored.
    #[serde(other)]
    Other,
}

impl AppResponse {
    /// Parses a text frame; `None` if it is not JSON of this shape.
    pub fn parse(text: &str) -> Option<AppResponse> {
        serde_json::from_str(text).ok()
    }
}

/// The header of a benchmark message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Sending client.
    pub sender: u32,
    /// Receiving client.
    pub recipient: u32,
    /// The sender's message number.
    pub sequence: u64,
    /// When it was sent: microseconds since the traffic started.
    pub sent_us: u64,
}

impl Header {
    /// The message text, padded to `size` bytes (longer if `size` is below the header's
    /// length; the options keep `size` at least [`MAX_HEADER_LEN`]).
    pub fn encode(&self, size: usize) -> String {
        let mut text = format!(
            "{TAG} {} {} {} {} ",
            self.sender, self.recipient, self.sequence, self.sent_us
        );
        let padding = size.saturating_sub(text.len());
        text.extend(std::iter::repeat_n('x', padding));
        text
    }

    /// The header of a benchmark message; `None` for any other text.
    pub fn decode(text: &str) -> Option<Header> {
        let mut words = text.splitn(6, ' ');
        if words.next()? != TAG {
            return None;
        }
        let header = Header {
            sender: words.next()?.parse().ok()?,
            recipient: words.next()?.parse().ok()?,
            sequence: words.next()?.parse().ok()?,
            sent_us: words.next()?.parse().ok()?,
        };
        let padding = words.next()?;
        padding.bytes().all(|b| b == b'x').then_some(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_client_api_json() {
        assert_eq!(
            AppRequest::SelfAddress.to_json(),
            r#"{"type":"selfAddress"}"#
        );
        let send = AppRequest::Send {
            message: "hi \"there\"".into(),
            recipient: "a.b@c".into(),
        };
        assert_eq!(
            send.to_json(),
            r#"{"type":"send","message":"hi \"there\"","recipient":"a.b@c"}"#
        );
    }

    #[test]
    fn answers_parse_and_unknown_ones_are_tolerated() {
        assert_eq!(
            AppResponse::parse(r#"{"type":"selfAddress","address":"a.b@c"}"#),
            Some(AppResponse::SelfAddress {
                address: "a.b@c".into()
            })
        );
        assert_eq!(
            AppResponse::parse(r#"{"type":"received","message":"m","senderTag":null}"#),
            Some(AppResponse::Received {
                message: "m".into(),
                sender_tag: None
            })
        );
        assert_eq!(
            AppResponse::parse(r#"{"type":"received","message":"m"}"#),
            Some(AppResponse::Received {
                message: "m".into(),
                sender_tag: None
            })
        );
        assert_eq!(
            AppResponse::parse(r#"{"type":"error","message":"no"}"#),
            Some(AppResponse::Error {
                message: "no".into()
            })
        );
        assert_eq!(
            AppResponse::parse(r#"{"type":"somethingNew","x":1}"#),
            Some(AppResponse::Other)
        );
        assert_eq!(AppResponse::parse("not json"), None);
        assert_eq!(AppResponse::parse(r#"{"type":"received"}"#), None);
    }

    #[test]
    fn messages_have_the_exact_size_and_round_trip() {
        let header = Header {
            sender: 3,
            recipient: 1,
            sequence: 17,
            sent_us: 123_456,
        };
        for size in [80, 500, 4096] {
            let text = header.encode(size);
            assert_eq!(text.len(), size);
            assert_eq!(Header::decode(&text), Some(header));
        }
        let longest = Header {
            sender: u32::MAX,
            recipient: u32::MAX,
            sequence: u64::MAX,
            sent_us: u64::MAX,
        };
        assert_eq!(longest.encode(0).len(), MAX_HEADER_LEN);
        assert_eq!(Header::decode(&longest.encode(0)), Some(longest));
        const { assert!(MAX_HEADER_LEN <= crate::localnet::options::limits::MIN_MESSAGE_SIZE) };
    }

    #[test]
    fn other_text_is_not_a_benchmark_message() {
        for text in [
            "",
            "hello",
            "localnet",
            "localnet 1 2 3",
            "localnet 1 2 3 4",
            "localnet -1 2 3 4 x",
            "localnet 1 2 3 4 xxy",
            "other 1 2 3 4 xx",
            "localnet 1 2 3 99999999999999999999999 xx",
        ] {
            assert_eq!(Header::decode(text), None, "{text:?}");
        }
    }
}
