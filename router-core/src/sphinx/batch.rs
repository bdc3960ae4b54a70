//! Unwrapping a batch of packets together, in two phases of batched X25519.
//!
//! Per packet the two scalar multiplications are sequential (the blinding factor comes out of
//! the first one's expansion), but across packets they are independent. So a batch runs:
//!
//! 1. all shared secrets `X25519(node_secret, alpha_i)` in one batched call;
//! 2. per packet, the symmetric work in place: HKDF, MAC check, routing-info and payload
//!    decryption ([`peel_with_shared_secret`]);
//! 3. all blindings `X25519(blinding_factor_i, alpha_i)` of the forward hops in one call.
//!
//! The batched X25519 runs eight packets per ladder on CPUs with AVX-512 IFMA (see
//! [`crate::crypto::x25519`]). Every packet's result is exactly what [`unwrap_in_place`] gives
//! for it alone: an invalid packet is refused on its own and never affects its neighbours.
//!
//! Scratch space lives in the [`BatchUnwrapper`] and is reused, so after the first batch of the
//! largest size nothing is allocated; secret material in it is wiped after each phase.
//!
//! [`unwrap_in_place`]: super::unwrap_in_place

use zeroize::Zeroize;

use super::keys::SphinxSecretKey;
use super::unwrap::{peel_with_shared_secret, read_alpha, write_alpha, Unwrapped};
use super::UnwrapError;
use crate::crypto::x25519::{detected_backend, x25519_batch_with, Backend};

/// Unwraps batches of packets for one node key.
pub struct BatchUnwrapper {
    key: SphinxSecretKey,
    backend: Backend,
    /// Phase 1: copies of the node key; phase 3: blinding factors. Wiped after each phase.
    scalars: Vec<[u8; 32]>,
    /// The alphas of the packets still in play.
    points: Vec<[u8; 32]>,
    /// Phase 1: shared secrets (wiped after use); phase 3: the blinded alphas.
    outputs: Vec<[u8; 32]>,
    /// For each lane, the index of its packet in the batch.
    lane_packet: Vec<usize>,
}

impl std::fmt::Debug for BatchUnwrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchUnwrapper")
            .field("backend", &self.backend)
            .field("capacity", &self.points.capacity())
            .finish_non_exhaustive()
    }
}

impl BatchUnwrapper {
    /// An unwrapper on the fastest X25519 backend this CPU has, detected at run time.
    pub fn new(key: SphinxSecretKey) -> Self {
        Self::with_backend(key, detected_backend())
            .expect("the detected backend is available by definition")
    }

    /// An unwrapper on a chosen backend (tests and benchmarks force the portable one).
    pub fn with_backend(
        key: SphinxSecretKey,
        backend: Backend,
    ) -> Result<Self, crate::crypto::x25519::Error> {
        if !backend.is_available() {
            return Err(crate::crypto::x25519::Error::BackendUnavailable(backend));
        }
        Ok(BatchUnwrapper {
            key,
            backend,
            scalars: Vec::new(),
            points: Vec::new(),
            outputs: Vec::new(),
            lane_packet: Vec::new(),
        })
    }

    /// The X25519 backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `outputs[i] = X25519(scalars[i], points[i])` for every lane, then wipes the scalars.
    /// Fails only if the lane arrays differ in length or the backend is unavailable, which
    /// the callers and the constructor rule out.
    fn multiply_lanes(&mut self) -> bool {
        let lanes = self.points.len();
        self.outputs.clear();
        self.outputs.resize(lanes, [0; 32]);
        let done = x25519_batch_with(
            self.backend_for(lanes),
            &self.scalars,
            &self.points,
            &mut self.outputs,
        );
        self.scalars.zeroize();
        debug_assert!(done.is_ok(), "lengths match and the backend was checked");
        done.is_ok()
    }

    /// A lone multiplication runs faster on the portable ladder than in an 8-lane ladder with
    /// seven idle lanes; from two on, the SIMD ladder wins (see BENCHMARKS.md).
    fn backend_for(&self, lanes: usize) -> Backend {
        if lanes == 1 {
            Backend::Portable
        } else {
            self.backend
        }
    }

    /// Unwraps every packet of `packets` in place. `results` is cleared and then holds one
    /// result per packet, in order: what [`super::unwrap_in_place`] would have returned.
    pub fn unwrap_batch<P: AsMut<[u8]>>(
        &mut self,
        packets: &mut [P],
        results: &mut Vec<Result<Unwrapped, UnwrapError>>,
    ) {
        results.clear();
        self.points.clear();
        self.lane_packet.clear();
        for (index, packet) in packets.iter_mut().enumerate() {
            match read_alpha(packet.as_mut()) {
                Ok(alpha) => {
                    self.points.push(alpha);
                    self.lane_packet.push(index);
                    // overwritten below once the packet has been peeled
                    results.push(Err(UnwrapError::HeaderMac));
                }
                Err(error) => results.push(Err(error)),
            }
        }

        // Phase 1: every shared secret at once.
        let lanes = self.points.len();
        self.scalars.clear();
        self.scalars.resize(lanes, *self.key.to_bytes());
        if !self.multiply_lanes() {
            // cannot happen (see `multiply_lanes`); the placeholders refuse every packet
            self.outputs.zeroize();
            return;
        }

        // Phase 2: the symmetric work, packet by packet; forward hops are compacted to the
        // front of the lane arrays (lane `forward` <= lane `lane`, so nothing unread is
        // overwritten).
        let mut forward = 0;
        for lane in 0..lanes {
            let (Some(&index), Some(shared)) = (self.lane_packet.get(lane), self.outputs.get(lane))
            else {
                break;
            };
            let (Some(packet), Some(result)) = (packets.get_mut(index), results.get_mut(index))
            else {
                continue;
            };
            match peel_with_shared_secret(packet.as_mut(), shared) {
                Ok(peeled) => {
                    *result = Ok(peeled.unwrapped);
                    if let Some(blinding_factor) = peeled.blinding_factor() {
                        let alpha = self.points.get(lane).copied();
                        if let (Some(alpha), Some(slot_point), Some(slot_lane)) = (
                            alpha,
                            self.points.get_mut(forward),
                            self.lane_packet.get_mut(forward),
                        ) {
                            *slot_point = alpha;
                            *slot_lane = index;
                            self.scalars.push(*blinding_factor);
                            forward += 1;
                        }
                    }
                }
                Err(error) => *result = Err(error),
            }
        }
        self.outputs.zeroize();

        // Phase 3: every blinding at once, written back into the packets.
        self.points.truncate(forward);
        self.lane_packet.truncate(forward);
        let blinded_ok = self.multiply_lanes();
        for (&index, blinded) in self.lane_packet.iter().zip(&self.outputs) {
            let (Some(packet), Some(result)) = (packets.get_mut(index), results.get_mut(index))
            else {
                continue;
            };
            if !blinded_ok || write_alpha(packet.as_mut(), blinded).is_err() {
                *result = Err(UnwrapError::InvalidLength(packet.as_mut().len()));
            }
        }
    }
}
