//! The load generator's and the sink's side of Noise links, for `bench router --noise`.
//!
//! The generator opens a Noise link to the router as a fixed test key the router is told
//! about (`--danger-noise-peer`), and seals each pre-built frame as one transport message as
//! it writes it (a copy and the cipher, on the load core, not the router's). The sink answers
//! the router's handshake with its own fixed key and opens each message before reading the
//! frame in it. Both are what a peer node does, so the router's figures include its whole
//! link cost: opening every incoming message and sealing every outgoing one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use router_core::noise::handshake::{self, expect_handshake, StaticKey, MESSAGE_LENS};
use router_core::noise::header::{Header, MessageType, HEADER_LEN};
use router_core::noise::transport::{Transport, OVERHEAD};

/// The generator's static key.
pub fn load_key() -> StaticKey {
    StaticKey::from_secret([0x52; 32])
}

/// The sink's static key.
pub fn sink_key() -> StaticKey {
    StaticKey::from_secret([0x51; 32])
}

/// `ADDR=KEY` for the router's `--danger-noise-peer`.
pub fn peer_flag(addr: SocketAddr, key: &StaticKey) -> String {
    format!("{addr}={}", bs58::encode(key.public()).into_string())
}

fn read_handshake(stream: &mut TcpStream, step: u8) -> Result<Vec<u8>, String> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).map_err(|e| e.to_string())?;
    expect_handshake(&header, step).map_err(|e| e.to_string())?;
    let mut body = vec![0u8; MESSAGE_LENS[usize::from(step - 1)]];
    stream.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok(body)
}

/// Opens a Noise link on `stream` to the node whose static key is `responder`.
pub fn initiate(stream: &mut TcpStream, responder: &[u8; 32]) -> Result<Transport, String> {
    let (waiting, first) =
        handshake::initiate(&load_key(), responder).map_err(|e| e.to_string())?;
    stream.write_all(&first).map_err(|e| e.to_string())?;
    let second = read_handshake(stream, 2)?;
    let (third, session) = waiting.read_second(&second).map_err(|e| e.to_string())?;
    stream.write_all(&third).map_err(|e| e.to_string())?;
    Ok(session.transport)
}

/// Answers the router's handshake at the sink.
pub fn respond(stream: &mut TcpStream) -> Result<Transport, String> {
    let first = read_handshake(stream, 1)?;
    let (waiting, second) = handshake::respond(&sink_key(), &first).map_err(|e| e.to_string())?;
    stream.write_all(&second).map_err(|e| e.to_string())?;
    let third = read_handshake(stream, 3)?;
    Ok(waiting
        .read_third(&third)
        .map_err(|e| e.to_string())?
        .transport)
}

/// The generator's connection to the router: plain frames, or each frame sealed.
pub struct Writer {
    stream: TcpStream,
    noise: Option<(Transport, Vec<u8>)>,
    frame_len: usize,
}

impl Writer {
    /// A plain connection.
    pub fn plain(stream: TcpStream) -> Self {
        Writer {
            stream,
            noise: None,
            frame_len: 0,
        }
    }

    /// A Noise link whose frames are `frame_len` bytes each.
    pub fn noise(stream: TcpStream, transport: Transport, frame_len: usize) -> Self {
        Writer {
            stream,
            noise: Some((transport, Vec::new())),
            frame_len,
        }
    }

    /// Writes `frames` (whole frames back to back).
    pub fn write_frames(&mut self, frames: &[u8]) -> std::io::Result<()> {
        let Some((transport, scratch)) = self.noise.as_mut() else {
            return self.stream.write_all(frames);
        };
        let message_len = self.frame_len + OVERHEAD;
        scratch.resize(frames.len() / self.frame_len.max(1) * message_len, 0);
        for (frame, message) in frames
            .chunks_exact(self.frame_len)
            .zip(scratch.chunks_exact_mut(message_len))
        {
            if let Some(room) = message.get_mut(HEADER_LEN..HEADER_LEN + frame.len()) {
                room.copy_from_slice(frame);
            }
            transport
                .seal(message)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        self.stream.write_all(scratch)
    }
}

/// Opens the Noise messages complete in `buf[..filled]` in place, one frame each, and calls
/// `frame` with each plaintext; returns the bytes consumed, or why the link is unusable.
pub fn open_messages(
    transport: &mut Transport,
    buf: &mut [u8],
    filled: usize,
    mut frame: impl FnMut(&[u8]),
) -> Result<usize, String> {
    let mut start = 0;
    loop {
        if start + HEADER_LEN > filled {
            return Ok(start);
        }
        let Some(header) = buf
            .get(start..start + HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
        else {
            return Ok(start);
        };
        let header = Header::decode(header).map_err(|e| e.to_string())?;
        if header.kind != MessageType::Data {
            return Err("a handshake message after the handshake".into());
        }
        let end = start + HEADER_LEN + header.body_len;
        if end > filled {
            return Ok(start);
        }
        let body = buf
            .get_mut(start + HEADER_LEN..end)
            .ok_or("message past the buffer")?;
        let plaintext = transport.open(body).map_err(|e| e.to_string())?;
        frame(plaintext);
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator's sealing as the sink reads it, over a real loopback link.
    #[test]
    fn sealed_frames_reach_the_sink_whole_and_in_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sink = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut transport = respond(&mut stream).unwrap();
            let mut buf = vec![0u8; 1 << 16];
            let (mut filled, mut frames) = (0, Vec::new());
            while frames.len() < 5 {
                filled += stream.read(&mut buf[filled..]).unwrap();
                let consumed = open_messages(&mut transport, &mut buf, filled, |f| {
                    frames.push(f.to_vec())
                })
                .unwrap();
                buf.copy_within(consumed..filled, 0);
                filled -= consumed;
            }
            frames
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        let transport = initiate(&mut stream, sink_key().public()).unwrap();
        let mut writer = Writer::noise(stream, transport, 100);
        let frames: Vec<u8> = (0..5u8).flat_map(|i| [i; 100]).collect();
        writer.write_frames(&frames[..300]).unwrap();
        writer.write_frames(&frames[300..]).unwrap();
        let got = sink.join().unwrap();
        assert_eq!(got, (0..5u8).map(|i| vec![i; 100]).collect::<Vec<_>>());
    }
}
