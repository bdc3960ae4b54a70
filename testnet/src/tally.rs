//! Accounting for the benchmark's messages (pure: times are passed in): what was sent, what
//! arrived, at what latency, and what is still outstanding.
//!
//! A message counts as received once, when the first copy arrives at its intended
//! recipient; later copies are duplicates (a retransmission whose original was delivered).
//! Whatever is still outstanding when the run ends is lost.

use std::collections::HashMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::message::Header;

/// Highest latency the histogram resolves, microseconds (an hour); longer ones saturate.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What happened to a message that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First copy: received, with its latency.
    Fresh {
        /// Microseconds from send to receipt.
        latency_us: u64,
    },
    /// Another copy of a message already received.
    Duplicate,
    /// A benchmark message at the wrong client.
    Misdelivered,
    /// Text that is no message this run sent.
    Foreign,
}

/// Counts so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Messages handed to a client.
    pub sent: u64,
    /// Messages received (first copies).
    pub received: u64,
    /// Further copies.
    pub duplicates: u64,
    /// Messages that reached the wrong client.
    pub misdelivered: u64,
    /// Received text that was no message of this run.
    pub foreign: u64,
    /// `error` answers of the app API.
    pub api_errors: u64,
    /// Sent and neither received nor given up on yet.
    pub outstanding: u64,
}

/// The accounting of one run.
#[derive(Debug)]
pub struct Tally {
    histogram: Histogram<u64>,
    /// Sent messages not yet received, with their send time.
    outstanding: HashMap<(u32, u64), u64>,
    /// Per sender, the number of messages handed out so far.
    sequences: Vec<u64>,
    totals: Totals,
    last_error: Option<String>,
}

impl Tally {
    /// A tally for `clients` clients.
    pub fn new(clients: usize) -> Tally {
        Tally {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("1 ≤ 1 h in microseconds with 3 significant figures is a valid range"),
            outstanding: HashMap::new(),
            sequences: vec![0; clients],
            totals: Totals::default(),
            last_error: None,
        }
    }

    /// Registers message number `next` of `sender` to `recipient`, sent at `now_us`, before it
    /// is written (so a fast answer cannot overtake it), and returns its header. `None` for a
    /// sender this tally does not know.
    pub fn handle_send(&mut self, sender: u32, recipient: u32, now_us: u64) -> Option<Header> {
        let sequence = self.sequences.get_mut(usize::try_from(sender).ok()?)?;
        let header = Header {
            sender,
            recipient,
            sequence: *sequence,
            sent_us: now_us,
        };
        *sequence += 1;
        self.outstanding
            .insert((sender, header.sequence), header.sent_us);
        self.totals.sent += 1;
        Some(header)
    }

    /// Takes back a message whose write failed.
    pub fn handle_send_failed(&mut self, header: &Header) {
        if self
            .outstanding
            .remove(&(header.sender, header.sequence))
            .is_some()
        {
            self.totals.sent = self.totals.sent.saturating_sub(1);
        }
    }

    /// Text `text` arrived at client `at` at `now_us`.
    pub fn handle_received(&mut self, at: u32, text: &str, now_us: u64) -> Arrival {
        let Some(header) = Header::decode(text) else {
            self.totals.foreign += 1;
            return Arrival::Foreign;
        };
        let sent_before = self
            .sequences
            .get(usize::try_from(header.sender).unwrap_or(usize::MAX))
            .is_some_and(|&next| header.sequence < next);
        if !sent_before {
            self.totals.foreign += 1;
            return Arrival::Foreign;
        }
        if header.recipient != at {
            self.totals.misdelivered += 1;
            return Arrival::Misdelivered;
        }
        match self.outstanding.remove(&(header.sender, header.sequence)) {
            Some(sent_us) => {
                let latency_us = now_us.saturating_sub(sent_us);
                self.histogram
                    .saturating_record(latency_us.clamp(1, MAX_LATENCY_US));
                self.totals.received += 1;
                Arrival::Fresh { latency_us }
            }
            None => {
                self.totals.duplicates += 1;
                Arrival::Duplicate
            }
        }
    }

    /// The app API answered with an error.
    pub fn handle_api_error(&mut self, message: &str) {
        self.totals.api_errors += 1;
        self.last_error = Some(message.to_owned());
    }

    /// The counts so far.
    pub fn totals(&self) -> Totals {
        Totals {
            outstanding: self.outstanding.len() as u64,
            ..self.totals.clone()
        }
    }

    /// Outstanding messages sent before `now_us - age_us`: lost unless late.
    pub fn overdue(&self, now_us: u64, age_us: u64) -> u64 {
        let cutoff = now_us.saturating_sub(age_us);
        self.outstanding.values().filter(|&&t| t < cutoff).count() as u64
    }

    /// Latencies of received messages, microseconds.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// The median latency so far, milliseconds.
    pub fn p50_ms(&self) -> Option<f64> {
        (!self.histogram.is_empty()).then(|| self.histogram.value_at_quantile(0.5) as f64 / 1_000.0)
    }

    /// The last app API error.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_counted_once_at_their_recipient() {
        let mut t = Tally::new(2);
        let a = t.handle_send(0, 1, 1_000).unwrap();
        let b = t.handle_send(0, 1, 2_000).unwrap();
        assert_eq!((a.sequence, b.sequence), (0, 1));
        let c = t.handle_send(1, 0, 2_500).unwrap();
        assert_eq!(c.sequence, 0);
        assert_eq!(t.totals().outstanding, 3);

        assert_eq!(
            t.handle_received(1, &b.encode(100), 52_000),
            Arrival::Fresh { latency_us: 50_000 }
        );
        assert_eq!(
            t.handle_received(1, &b.encode(100), 60_000),
            Arrival::Duplicate
        );
        assert_eq!(
            t.handle_received(1, &c.encode(100), 60_000),
            Arrival::Misdelivered
        );
        assert_eq!(t.handle_received(1, "hello", 60_000), Arrival::Foreign);
        let never_sent = Header { sequence: 9, ..a };
        assert_eq!(
            t.handle_received(1, &never_sent.encode(100), 60_000),
            Arrival::Foreign
        );
        assert_eq!(
            t.handle_received(0, &c.encode(100), 12_500),
            Arrival::Fresh { latency_us: 10_000 }
        );

        let totals = t.totals();
        assert_eq!(
            totals,
            Totals {
                sent: 3,
                received: 2,
                duplicates: 1,
                misdelivered: 1,
                foreign: 2,
                api_errors: 0,
                outstanding: 1,
            }
        );
        assert_eq!(t.histogram().len(), 2);
        assert_eq!(
            t.histogram().max(),
            t.histogram().highest_equivalent(50_000)
        );
        let p50 = t.p50_ms().unwrap();
        assert!((9.9..10.1).contains(&p50), "{p50}");
    }

    #[test]
    fn overdue_messages_are_the_old_outstanding_ones() {
        let mut t = Tally::new(1);
        for at in [0, 1_000_000, 2_000_000] {
            t.handle_send(0, 0, at).unwrap();
        }
        assert_eq!(t.overdue(2_500_000, 1_000_000), 2);
        assert_eq!(t.overdue(2_500_000, 10_000_000), 0);
        assert!(t.handle_send(1, 0, 0).is_none(), "unknown sender");
    }

    #[test]
    fn a_failed_write_is_not_counted_as_sent() {
        let mut t = Tally::new(1);
        let h = t.handle_send(0, 0, 5).unwrap();
        t.handle_send_failed(&h);
        t.handle_send_failed(&h);
        assert_eq!(t.totals().sent, 0);
        assert_eq!(t.totals().outstanding, 0);
        t.handle_api_error("boom");
        assert_eq!(t.last_error(), Some("boom"));
        assert_eq!(t.totals().api_errors, 1);
        assert_eq!(t.p50_ms(), None);
    }
}
