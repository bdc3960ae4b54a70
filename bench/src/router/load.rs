//! The load generator and the sink.
//!
//! The generator writes pre-built frames into one connection to the router, either flat out
//! (back-pressure from TCP sets the pace: the router's maximum) or paced at a target rate in
//! 1 ms steps. It stamps each packet's send time; the sink recognises each forwarded packet
//! (see [`super::packets`]) and records send-to-arrival latency in an HDR histogram. Either
//! side may be a Noise link ([`super::noise_link`]).

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use router_core::wire::decode_frame;

use super::noise_link::Writer;
use super::packets::{forwarded_id, PacketSet};

/// What the sink shares with the generator.
pub struct SinkState {
    addr: SocketAddr,
    origin: Instant,
    /// Send time of each packet, ns since `origin` (0: not sent).
    sent_at: Vec<AtomicU64>,
    ids: std::collections::HashMap<u64, u32>,
    received: AtomicU64,
    unknown: AtomicU64,
    recording: AtomicBool,
    latency: Mutex<Histogram<u64>>,
}

impl SinkState {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Where the sink listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Packets received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Acquire)
    }

    /// Frames the sink could not attribute to a sent packet.
    pub fn unknown(&self) -> u64 {
        self.unknown.load(Ordering::Relaxed)
    }

    /// Starts a latency measurement with an empty histogram.
    pub fn start_recording(&self) {
        if let Ok(mut h) = self.latency.lock() {
            h.reset();
        }
        self.recording.store(true, Ordering::Release);
    }

    /// Ends it and returns the histogram (µs).
    pub fn stop_recording(&self) -> Option<Histogram<u64>> {
        self.recording.store(false, Ordering::Release);
        self.latency.lock().ok().map(|h| h.clone())
    }
}

/// Starts the sink on `addr` (loopback), its threads pinned to `cpu`.
pub fn start_sink_at(
    packets: &PacketSet,
    addr: SocketAddr,
    cpu: usize,
) -> Result<(SocketAddr, Arc<SinkState>), String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("sink on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let latency = Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    let state = Arc::new(SinkState {
        addr,
        origin: Instant::now(),
        sent_at: (0..packets.len()).map(|_| AtomicU64::new(0)).collect(),
        ids: packets.ids.clone(),
        received: AtomicU64::new(0),
        unknown: AtomicU64::new(0),
        recording: AtomicBool::new(false),
        latency: Mutex::new(latency),
    });
    let accept_state = state.clone();
    std::thread::Builder::new()
        .name("sink".into())
        .spawn(move || {
            let _ = crate::affinity::pin_current_thread(cpu);
            for stream in listener.incoming().flatten() {
                let state = accept_state.clone();
                let _ = std::thread::Builder::new()
                    .name("sink-conn".into())
                    .spawn(move || read_frames(stream, &state));
            }
        })
        .map_err(|e| e.to_string())?;
    Ok((addr, state))
}

fn read_frames(mut stream: TcpStream, state: &SinkState) {
    let mut first = [0u8; 1];
    if matches!(stream.peek(&mut first), Ok(1)) && first[0] == router_core::noise::header::VERSION {
        return read_sealed(stream, state);
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        let n = match stream.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = state.now_ns();
        filled += n;
        let mut start = 0;
        let mut recorded = Vec::new();
        loop {
            let frame = match decode_frame(buf.get(start..filled).unwrap_or_default()) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    eprintln!(
                        "sink: corrupt frame from the router ({error}); closing that connection"
                    );
                    return;
                }
            };
            start += frame.consumed;
            record(state, frame.body, now, &mut recorded);
        }
        finish_read(state, &recorded);
        buf.copy_within(start..filled, 0);
        filled -= start;
    }
}

/// The sink on a Noise link from the router: each message opened, its frame counted.
fn read_sealed(mut stream: TcpStream, state: &SinkState) {
    let mut transport = match super::noise_link::respond(&mut stream) {
        Ok(transport) => transport,
        Err(error) => {
            eprintln!("sink: Noise handshake with the router failed: {error}");
            return;
        }
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        let n = match stream.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let now = state.now_ns();
        filled += n;
        let mut recorded = Vec::new();
        let mut corrupt = None;
        let opened = super::noise_link::open_messages(&mut transport, &mut buf, filled, |plain| {
            match decode_frame(plain) {
                Ok(Some(frame)) if frame.consumed == plain.len() => {
                    record(state, frame.body, now, &mut recorded)
                }
                _ => corrupt = Some("a message that is not one frame"),
            }
        });
        let consumed = match (opened, corrupt) {
            (Ok(consumed), None) => consumed,
            (Err(error), _) => {
                eprintln!("sink: Noise link from the router failed ({error}); closing it");
                return;
            }
            (_, Some(error)) => {
                eprintln!("sink: {error} from the router; closing that link");
                return;
            }
        };
        finish_read(state, &recorded);
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
    }
}

/// Notes one forwarded packet's latency (or counts it unknown).
fn record(state: &SinkState, body: &[u8], now: u64, recorded: &mut Vec<u64>) {
    let index = forwarded_id(body).and_then(|id| state.ids.get(&id));
    match index.and_then(|i| state.sent_at.get(*i as usize)) {
        Some(sent) => recorded.push(now.saturating_sub(sent.load(Ordering::Acquire)) / 1000),
        None => {
            state.unknown.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Records what one read completed.
fn finish_read(state: &SinkState, recorded: &[u64]) {
    if state.recording.load(Ordering::Acquire) && !recorded.is_empty() {
        if let Ok(mut h) = state.latency.lock() {
            for micros in recorded {
                let _ = h.record(*micros.max(&1));
            }
        }
    }
    state
        .received
        .fetch_add(recorded.len() as u64, Ordering::AcqRel);
}

/// Writes packets `range` flat out for `duration` (or until they run out); returns how many
/// were written.
pub fn send_flat_out(
    stream: &mut Writer,
    packets: &PacketSet,
    state: &SinkState,
    range: std::ops::Range<usize>,
    duration: Duration,
) -> Result<usize, String> {
    const CHUNK: usize = 32;
    let start = Instant::now();
    let from = range.start;
    let until = range.end.min(packets.len());
    let mut next = from;
    while start.elapsed() < duration && next < until {
        let end = (next + CHUNK).min(until);
        stamp(state, next..end);
        stream
            .write_frames(packets.frames(next..end))
            .map_err(|e| format!("writing to the router: {e}"))?;
        next = end;
    }
    Ok(next - from)
}

/// Writes packets `from..` at `rate` per second for `duration`; returns how many were written.
pub fn send_paced(
    stream: &mut Writer,
    packets: &PacketSet,
    state: &SinkState,
    from: usize,
    rate: f64,
    duration: Duration,
) -> Result<usize, String> {
    let start = Instant::now();
    let total = ((rate * duration.as_secs_f64()) as usize).min(packets.len().saturating_sub(from));
    let mut sent = 0usize;
    while sent < total {
        let elapsed = start.elapsed();
        let due = ((rate * elapsed.as_secs_f64()) as usize).min(total);
        if due > sent {
            let (a, b) = (from + sent, from + due);
            stamp(state, a..b);
            stream
                .write_frames(packets.frames(a..b))
                .map_err(|e| format!("writing to the router: {e}"))?;
            sent = due;
        } else {
            // Pacing, not synchronisation: wake about every 200 µs to release what is due.
            std::thread::sleep(Duration::from_micros(200));
        }
        if elapsed > duration + Duration::from_secs(5) {
            break;
        }
    }
    Ok(sent)
}

fn stamp(state: &SinkState, range: std::ops::Range<usize>) {
    let now = state.now_ns().max(1);
    for slot in state.sent_at.get(range).unwrap_or_default() {
        slot.store(now, Ordering::Release);
    }
}

/// Waits until the sink has received `count` packets in all, or `timeout` passes.
pub fn wait_received(state: &SinkState, count: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let received = state.received();
        if received >= count || Instant::now() > deadline {
            return received;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
