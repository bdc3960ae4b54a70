//! What the page sees of the client: counters as one JSON object, sender tags as base58.

use client::core::CoreStats;
use serde::Serialize;

/// The client's counters, as `client.stats()` gives them (camelCase JSON).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatsView {
    /// Real packets sent (first transmissions and retransmissions).
    pub real_sent: u64,
    /// Loop-cover packets sent (the loop stream's and the real stream's idle slots).
    pub loop_cover_sent: u64,
    /// Drop-cover packets sent.
    pub drop_cover_sent: u64,
    /// Retransmitted packets.
    pub retransmitted: u64,
    /// Acks received for our packets.
    pub acks_received: u64,
    /// Loop cover that came back to us.
    pub cover_received: u64,
    /// Whole messages received.
    pub messages_received: u64,
    /// Fragments given up after every retransmission.
    pub fragments_lost: u64,
    /// Packets dropped because the gateway link's queue was full.
    pub dropped_packets: u64,
    /// Whether a session with the gateway is up.
    pub connected: bool,
    /// Sessions opened after the first.
    pub reconnects: u64,
    /// Bandwidth the gateway holds for the client, as it last said (bytes).
    pub bandwidth: Option<u64>,
}

/// The link's side of the counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkCounters {
    /// Packets dropped on a full queue.
    pub dropped_packets: u64,
    /// A session is up.
    pub connected: bool,
    /// Sessions after the first.
    pub reconnects: u64,
    /// The gateway's last word on bandwidth.
    pub bandwidth: Option<u64>,
}

impl StatsView {
    /// The view of the core's and the link's counters.
    pub fn new(core: &CoreStats, link: LinkCounters) -> StatsView {
        StatsView {
            real_sent: core.real_sent,
            loop_cover_sent: core.loop_cover_sent,
            drop_cover_sent: core.drop_cover_sent,
            retransmitted: core.retransmissions,
            acks_received: core.acks_received,
            cover_received: core.cover_received,
            messages_received: core.messages_received,
            fragments_lost: core.fragments_lost,
            dropped_packets: link.dropped_packets,
            connected: link.connected,
            reconnects: link.reconnects,
            bandwidth: link.bandwidth,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> String {
        // Numbers and booleans always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A sender tag as the page holds it.
pub fn sender_tag_text(tag: &[u8; 16]) -> String {
    bs58::encode(tag).into_string()
}

/// A sender tag from the page.
pub fn parse_sender_tag(text: &str) -> Result<[u8; 16], String> {
    let mut tag = [0u8; 16];
    match bs58::decode(text).onto(&mut tag) {
        Ok(16) => Ok(tag),
        _ => Err(format!("{text:?} is not a sender tag (16 bytes, base58)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_name_what_the_page_reads() {
        let core = CoreStats {
            loop_cover_sent: 5,
            retransmissions: 2,
            ..CoreStats::default()
        };
        let link = LinkCounters {
            connected: true,
            bandwidth: Some(9),
            ..LinkCounters::default()
        };
        let json: serde_json::Value =
            serde_json::from_str(&StatsView::new(&core, link).to_json()).unwrap();
        assert_eq!(json["loopCoverSent"], 5);
        assert_eq!(json["retransmitted"], 2);
        assert_eq!(json["connected"], true);
        assert_eq!(json["bandwidth"], 9);
    }

    #[test]
    fn sender_tags_round_trip_and_bad_ones_are_named() {
        let tag = [9u8; 16];
        assert_eq!(parse_sender_tag(&sender_tag_text(&tag)).unwrap(), tag);
        let e = parse_sender_tag("abc").unwrap_err();
        assert!(e.contains("not a sender tag"), "{e}");
    }
}
