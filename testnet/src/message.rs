//! The text of the benchmark's own messages (pure). The app API they travel in is
//! `client::api`.
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

/// The first word of every benchmark message.
pub const TAG: &str = "localnet";
/// The longest header: the tag and four numbers at their longest, with their spaces.
pub const MAX_HEADER_LEN: usize = TAG.len() + 1 + 10 + 1 + 10 + 1 + 20 + 1 + 20 + 1;

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
    use client::api::Response as AppResponse;

    fn parse(text: &str) -> Option<AppResponse> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn answers_parse_and_unknown_ones_are_tolerated() {
        assert_eq!(
            parse(r#"{"type":"selfAddress","address":"a.b@c"}"#),
            Some(AppResponse::SelfAddress {
                address: "a.b@c".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"received","message":"m","senderTag":null}"#),
            Some(AppResponse::Received {
                message: "m".into(),
                sender_tag: None,
                is_reply: false
            })
        );
        assert_eq!(
            parse(r#"{"type":"received","message":"m"}"#),
            Some(AppResponse::Received {
                message: "m".into(),
                sender_tag: None,
                is_reply: false
            })
        );
        assert_eq!(
            parse(r#"{"type":"error","message":"no"}"#),
            Some(AppResponse::Error {
                message: "no".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"somethingNew","x":1}"#),
            Some(AppResponse::Unknown)
        );
        assert_eq!(parse("not json"), None);
        assert_eq!(parse(r#"{"type":"received"}"#), None);
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
        const { assert!(MAX_HEADER_LEN <= crate::options::limits::MIN_MESSAGE_SIZE) };
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
