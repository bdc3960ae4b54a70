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
//! # Several keys
//!
//! During a key rotation's overlap a node holds two Sphinx keys. [`MultiKeyUnwrapper`] takes
//! the keys with each batch and, per packet, a [`KeyChoice`]: one key, or one key and then
//! another if the first one's header MAC fails (the sender did not say which key it used).
//! Phase 1 gives each lane the scalar of its packet's first key, so packets for different keys
//! still share one batched call. The packets whose first key failed the MAC and that have a
//! second key go through a second round of the three phases, again batched: a MAC failure
//! leaves the buffer untouched (see [`peel_with_shared_secret`]), so the second attempt sees
//! the packet as it arrived. No packet is ever tried against more than two keys.
//! [`BatchUnwrapper`] is the single-key case of the same code: one key, always chosen.
//!
//! Scratch space lives in the unwrapper and is reused, so after the first batch of the
//! largest size nothing is allocated; secret material in it is wiped after each phase. The
//! multi-key unwrapper keeps no key between batches, so it can never use a stale one.
//!
//! [`unwrap_in_place`]: super::unwrap_in_place

use zeroize::Zeroize;

use super::keys::SphinxSecretKey;
use super::unwrap::{peel_with_shared_secret, read_alpha, write_alpha, Unwrapped};
use super::UnwrapError;
use crate::crypto::x25519::{detected_backend, x25519_batch_with, Backend};

/// Which of the keys given with a batch to try on one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyChoice {
    /// Only the key at this index.
    Only(usize),
    /// The key at `first`; if its header MAC fails, the key at `then`.
    Either {
        /// Tried first.
        first: usize,
        /// Tried only when `first` fails the header MAC.
        then: usize,
    },
    /// No key: the packet is refused with [`UnwrapError::NoKey`], untouched and at no cost.
    None,
}

impl KeyChoice {
    /// The first key and the fallback, checked against `keys` keys: an index out of range is
    /// treated as absent (a choice naming no usable key refuses the packet).
    fn resolve(self, keys: usize) -> Option<(usize, Option<usize>)> {
        let (first, then) = match self {
            KeyChoice::Only(first) => (first, None),
            KeyChoice::Either { first, then } => (first, Some(then)),
            KeyChoice::None => return None,
        };
        if first >= keys {
            return None;
        }
        Some((first, then.filter(|&then| then < keys && then != first)))
    }
}

/// One packet's result from [`MultiKeyUnwrapper::unwrap_batch_keyed`]: what it learnt and the
/// index of the key that opened it.
pub type KeyedResult = Result<(Unwrapped, usize), UnwrapError>;

/// How a batch reports one packet's result; lets the single-key and the multi-key entry points
/// share one implementation without converting result vectors.
trait Outcome {
    fn opened(unwrapped: Unwrapped, key: usize) -> Self;
    fn failed(error: UnwrapError) -> Self;
}

impl Outcome for Result<Unwrapped, UnwrapError> {
    fn opened(unwrapped: Unwrapped, _key: usize) -> Self {
        Ok(unwrapped)
    }
    fn failed(error: UnwrapError) -> Self {
        Err(error)
    }
}

impl Outcome for KeyedResult {
    fn opened(unwrapped: Unwrapped, key: usize) -> Self {
        Ok((unwrapped, key))
    }
    fn failed(error: UnwrapError) -> Self {
        Err(error)
    }
}

/// The packets of one round, one lane each.
#[derive(Default)]
struct Lanes {
    /// Alphas.
    points: Vec<[u8; 32]>,
    /// The index of each lane's packet in the batch.
    packet: Vec<usize>,
    /// The key each lane is tried with.
    key: Vec<usize>,
    /// The key to try next if that one fails the header MAC.
    then: Vec<Option<usize>>,
}

impl Lanes {
    fn clear(&mut self) {
        self.points.clear();
        self.packet.clear();
        self.key.clear();
        self.then.clear();
    }

    fn push(&mut self, alpha: [u8; 32], packet: usize, key: usize, then: Option<usize>) {
        self.points.push(alpha);
        self.packet.push(packet);
        self.key.push(key);
        self.then.push(then);
    }

    fn len(&self) -> usize {
        self.points.len()
    }
}

/// Unwraps batches of packets, each with the key (or keys) chosen for it; see the module docs.
pub struct MultiKeyUnwrapper {
    backend: Backend,
    /// Phase 1: copies of the lanes' keys; phase 3: blinding factors. Wiped after each phase.
    scalars: Vec<[u8; 32]>,
    /// Phase 1: shared secrets (wiped after use); phase 3: the blinded alphas.
    outputs: Vec<[u8; 32]>,
    /// The packets of the current round.
    lanes: Lanes,
    /// The packets to try again with their second key.
    retry: Lanes,
}

impl std::fmt::Debug for MultiKeyUnwrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiKeyUnwrapper")
            .field("backend", &self.backend)
            .field("capacity", &self.lanes.points.capacity())
            .finish_non_exhaustive()
    }
}

impl MultiKeyUnwrapper {
    /// An unwrapper on the fastest X25519 backend this CPU has, detected at run time.
    pub fn new() -> Self {
        Self::with_backend(detected_backend())
            .expect("the detected backend is available by definition")
    }

    /// An unwrapper on a chosen backend (tests and benchmarks force the portable one).
    pub fn with_backend(backend: Backend) -> Result<Self, crate::crypto::x25519::Error> {
        if !backend.is_available() {
            return Err(crate::crypto::x25519::Error::BackendUnavailable(backend));
        }
        Ok(MultiKeyUnwrapper {
            backend,
            scalars: Vec::new(),
            outputs: Vec::new(),
            lanes: Lanes::default(),
            retry: Lanes::default(),
        })
    }

    /// The X25519 backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Unwraps every packet of `packets` in place, each with the key or keys `choose` names
    /// for it among `keys`. `results` is cleared and then holds one result per packet, in
    /// order: for a packet opened by key `i`, `Ok((unwrapped, i))` with what
    /// [`super::unwrap_in_place`] gives with that key; for one that no tried key opens, the
    /// error of the last key tried ([`UnwrapError::HeaderMac`] when both failed the MAC), the
    /// buffer untouched; [`UnwrapError::NoKey`] for [`KeyChoice::None`] or an index out of
    /// range.
    pub fn unwrap_batch_keyed<P, K>(
        &mut self,
        packets: &mut [P],
        keys: &[K],
        choose: impl FnMut(&P) -> KeyChoice,
        results: &mut Vec<KeyedResult>,
    ) where
        P: AsMut<[u8]>,
        K: AsRef<SphinxSecretKey>,
    {
        self.run(packets, keys, choose, results);
    }

    fn run<P, K, R>(
        &mut self,
        packets: &mut [P],
        keys: &[K],
        mut choose: impl FnMut(&P) -> KeyChoice,
        results: &mut Vec<R>,
    ) where
        P: AsMut<[u8]>,
        K: AsRef<SphinxSecretKey>,
        R: Outcome,
    {
        results.clear();
        self.lanes.clear();
        self.retry.clear();
        for (index, packet) in packets.iter_mut().enumerate() {
            let Some((first, then)) = choose(packet).resolve(keys.len()) else {
                results.push(R::failed(UnwrapError::NoKey));
                continue;
            };
            match read_alpha(packet.as_mut()) {
                Ok(alpha) => {
                    self.lanes.push(alpha, index, first, then);
                    // overwritten once the packet has been peeled
                    results.push(R::failed(UnwrapError::HeaderMac));
                }
                Err(error) => results.push(R::failed(error)),
            }
        }
        self.round(packets, keys, results);
        if self.retry.len() > 0 {
            std::mem::swap(&mut self.lanes, &mut self.retry);
            self.retry.clear();
            // every lane's `then` is None now: a packet is tried against two keys at most
            self.round(packets, keys, results);
            // each scratch set back where it was sized, so a warm unwrapper never grows one
            std::mem::swap(&mut self.lanes, &mut self.retry);
        }
    }

    /// The three phases for the packets in `self.lanes`; packets that fail the MAC and have a
    /// second key are queued in `self.retry`, their results left as `HeaderMac`.
    fn round<P, K, R>(&mut self, packets: &mut [P], keys: &[K], results: &mut [R])
    where
        P: AsMut<[u8]>,
        K: AsRef<SphinxSecretKey>,
        R: Outcome,
    {
        // Phase 1: every shared secret at once, each lane with its own key.
        let lanes = self.lanes.len();
        self.scalars.clear();
        for &key in &self.lanes.key {
            // `run` only queues keys in range; a missing one would fail the MAC (fail closed)
            let scalar = keys.get(key).map_or([0; 32], |k| *k.as_ref().to_bytes());
            self.scalars.push(scalar);
        }
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
            let (Some(&index), Some(&key), Some(&alpha), Some(shared)) = (
                self.lanes.packet.get(lane),
                self.lanes.key.get(lane),
                self.lanes.points.get(lane),
                self.outputs.get(lane),
            ) else {
                break;
            };
            let (Some(packet), Some(result)) = (packets.get_mut(index), results.get_mut(index))
            else {
                continue;
            };
            match peel_with_shared_secret(packet.as_mut(), shared) {
                Ok(peeled) => {
                    *result = R::opened(peeled.unwrapped, key);
                    if let Some(blinding_factor) = peeled.blinding_factor() {
                        if let (Some(slot_point), Some(slot_lane)) = (
                            self.lanes.points.get_mut(forward),
                            self.lanes.packet.get_mut(forward),
                        ) {
                            *slot_point = alpha;
                            *slot_lane = index;
                            self.scalars.push(*blinding_factor);
                            forward += 1;
                        }
                    }
                }
                Err(UnwrapError::HeaderMac) => {
                    // The buffer is untouched: the other key sees the packet as it arrived.
                    if let Some(then) = self.lanes.then.get(lane).copied().flatten() {
                        self.retry.push(alpha, index, then, None);
                    }
                    *result = R::failed(UnwrapError::HeaderMac);
                }
                Err(error) => *result = R::failed(error),
            }
        }
        self.outputs.zeroize();

        // Phase 3: every blinding at once, written back into the packets.
        self.lanes.points.truncate(forward);
        self.lanes.packet.truncate(forward);
        let blinded_ok = self.multiply_lanes();
        for (&index, blinded) in self.lanes.packet.iter().zip(&self.outputs) {
            let (Some(packet), Some(result)) = (packets.get_mut(index), results.get_mut(index))
            else {
                continue;
            };
            if !blinded_ok || write_alpha(packet.as_mut(), blinded).is_err() {
                *result = R::failed(UnwrapError::InvalidLength(packet.as_mut().len()));
            }
        }
    }

    /// `outputs[i] = X25519(scalars[i], points[i])` for every lane, then wipes the scalars.
    /// Fails only if the lane arrays differ in length or the backend is unavailable, which
    /// the callers and the constructor rule out.
    fn multiply_lanes(&mut self) -> bool {
        let lanes = self.lanes.points.len();
        self.outputs.clear();
        self.outputs.resize(lanes, [0; 32]);
        let done = x25519_batch_with(
            self.backend_for(lanes),
            &self.scalars,
            &self.lanes.points,
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
}

impl Default for MultiKeyUnwrapper {
    fn default() -> Self {
        Self::new()
    }
}

/// Unwraps batches of packets for one node key.
pub struct BatchUnwrapper {
    key: SphinxSecretKey,
    inner: MultiKeyUnwrapper,
}

impl std::fmt::Debug for BatchUnwrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchUnwrapper")
            .field("backend", &self.inner.backend)
            .field("capacity", &self.inner.lanes.points.capacity())
            .finish_non_exhaustive()
    }
}

impl BatchUnwrapper {
    /// An unwrapper on the fastest X25519 backend this CPU has, detected at run time.
    pub fn new(key: SphinxSecretKey) -> Self {
        BatchUnwrapper {
            key,
            inner: MultiKeyUnwrapper::new(),
        }
    }

    /// An unwrapper on a chosen backend (tests and benchmarks force the portable one).
    pub fn with_backend(
        key: SphinxSecretKey,
        backend: Backend,
    ) -> Result<Self, crate::crypto::x25519::Error> {
        Ok(BatchUnwrapper {
            key,
            inner: MultiKeyUnwrapper::with_backend(backend)?,
        })
    }

    /// The X25519 backend in use.
    pub fn backend(&self) -> Backend {
        self.inner.backend()
    }

    /// Unwraps every packet of `packets` in place. `results` is cleared and then holds one
    /// result per packet, in order: what [`super::unwrap_in_place`] would have returned.
    pub fn unwrap_batch<P: AsMut<[u8]>>(
        &mut self,
        packets: &mut [P],
        results: &mut Vec<Result<Unwrapped, UnwrapError>>,
    ) {
        let keys = std::slice::from_ref(&self.key);
        self.inner
            .run(packets, keys, |_| KeyChoice::Only(0), results);
    }
}

#[cfg(test)]
mod tests;
