//! Sphinx replay detection shared by all cores without a mutex.
//!
//! # Why a one-word blocked Bloom filter
//!
//! Every core checks every packet it processes, so the filter is on the hot
//! path and shared by all cores. A Sphinx replay tag is 32 bytes of HKDF
//! output, i.e. already uniformly pseudorandom, so no hashing is needed: the
//! tag's bytes *are* the hash values.
//!
//! Each tag selects exactly one 64-bit word (tag bytes `0..8`, reduced to
//! `0..words` by multiply-shift, so the word count need not be a power of
//! two) and `k` bit positions inside that word (6 bits each, from tag bytes
//! `8..20`). Check-and-insert is then a single atomic `fetch_or` of the
//! `k`-bit mask. The value it returns is the word *immediately before* our
//! write in that word's modification order: if all our bits were already
//! set, the tag (or a false-positive collision) was inserted earlier;
//! otherwise *we* are the ones who set them. Two cores racing on the same
//! tag are both read-modify-writes on one location, which the memory model
//! totally orders, so exactly one of them sees a bit still clear: the tag is
//! accepted exactly once. This is why a block is one word and not a cache
//! line: a multi-word insert would need several RMWs and two racing cores
//! could each see "some bit was clear" in a different word, accepting the
//! replay twice.
//!
//! `Ordering::Relaxed` is sufficient: the linearisability argument above
//! only needs the total modification order of a single atomic location,
//! which every ordering (including `Relaxed`) guarantees for RMWs. No other
//! memory is published through the filter.
//!
//! # False positives
//!
//! A fresh tag whose bits happen to be set already is reported as
//! [`ReplayCheck::Replayed`] and its packet is dropped. The filter is sized
//! with [`ReplayFilterParams::for_capacity`] so that the rate of such drops
//! stays below a target at the expected number of tags per key epoch.
//!
//! The model is exact for this construction (up to approximating the
//! binomial word load by a Poisson, which is excellent for the thousands of
//! words any real filter has): with `L` other tags in the chosen word
//! (`L ~ Poisson(n / W)`), the number of distinct set bits `S`
//! is the occupancy of `k·L` balls thrown into 64 bins, and the `k` query
//! bits (drawn with replacement) all land in the set bits with probability
//! `(S/64)^k`. So `FPR = Σ_L Poisson(L; n/W) · E[(S_{kL}/64)^k]`. The
//! commonly quoted `Σ_L Poisson(L) · (1 − (1 − 1/64)^{kL})^k` treats the
//! bits as independent and, with 6-bit positions drawn with replacement,
//! underestimates the true rate by 10–30 % for useful `k`; the tests check
//! the exact model against measurement.
//!
//! # Key rotation and persistence
//!
//! A filter belongs to one Sphinx key (`key_id`, a fingerprint chosen by
//! the caller): tags under a new key are unrelated, so rotation starts an
//! empty filter. [`ReplayFilter::save`] / [`ReplayFilter::load`] let a
//! restarted router keep rejecting replays of packets it processed before
//! the restart; tags accepted after the last save are forgotten by a crash.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Largest number of bit positions per tag. 16 × 6 bits = 96 bits, which
/// fits in tag bytes `8..20`.
pub const MAX_HASHES: u32 = 16;

/// Memory cap for one filter: 4 GiB. Anything larger is a configuration
/// mistake on a mix node, not a sizing decision.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

const MAX_WORDS: u64 = MAX_MEMORY_BYTES / 8;

/// Result of [`ReplayFilter::check_and_insert`].
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplayCheck {
    /// First time this tag was seen: process the packet.
    Fresh,
    /// Seen before (or a false positive): drop with `DropReason::Replayed`.
    Replayed,
}

/// Errors from sizing, saving or loading a replay filter.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The false-positive target is not a number strictly between 0 and 1.
    #[error("target false-positive rate {0} is not in (0, 1)")]
    InvalidFalsePositiveRate(f64),
    /// A filter must be sized for at least one item.
    #[error("replay filter capacity must be at least one item")]
    ZeroCapacity,
    /// `k` outside `1..=MAX_HASHES`.
    #[error("hash count {0} is outside 1..=16")]
    InvalidHashCount(u32),
    /// Word count zero or above the memory cap.
    #[error("word count {words} is outside 1..={max}")]
    InvalidWordCount {
        /// Requested words.
        words: u64,
        /// Largest allowed (the memory cap divided by 8).
        max: u64,
    },
    /// No `k` reaches the target within [`MAX_MEMORY_BYTES`].
    #[error(
        "no filter within {max_bytes} bytes keeps {items} items under false-positive rate {target}"
    )]
    TargetUnreachable {
        /// Requested capacity.
        items: u64,
        /// Requested false-positive rate.
        target: f64,
        /// The memory cap.
        max_bytes: u64,
    },
    /// An operating-system error while saving or loading.
    #[error("{op} {}", path.display())]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the replay-filter magic bytes.
    #[error("{}: not a replay filter file", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by an unknown format version.
    #[error("{}: unsupported replay filter format version {version}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// A header field is out of range (and the checksum cannot be trusted
    /// to bound how much to read).
    #[error("{}: corrupt header: {what}", path.display())]
    CorruptHeader {
        /// The file.
        path: PathBuf,
        /// Which field.
        what: &'static str,
    },
    /// The file is shorter than its header says.
    #[error("{}: truncated: expected {expected} bytes, found {actual}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes needed.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error("{}: {actual} bytes, expected {expected}", path.display())]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// Bytes expected.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// A replay journal belongs to another key: its tags mean nothing to
    /// this key's filter, so none were applied.
    #[error("{}: replay journal of another key", path.display())]
    JournalKeyMismatch {
        /// The file.
        path: PathBuf,
        /// The key id the journal is for.
        found: [u8; 32],
    },
    /// A replay journal is damaged before its last chunk: not a torn tail
    /// (which a crash leaves and replay ignores) but corruption. The chunks
    /// before `offset` were applied.
    #[error("{}: replay journal corrupt at byte {offset}: {what}", path.display())]
    JournalCorrupt {
        /// The file.
        path: PathBuf,
        /// Where the damaged chunk starts.
        offset: u64,
        /// What is wrong with it.
        what: &'static str,
    },
    /// The stored checksum does not match the contents.
    #[error("{}: checksum mismatch (stored {stored:#018x}, computed {computed:#018x})", path.display())]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Checksum in the file.
        stored: u64,
        /// Checksum of what we read.
        computed: u64,
    },
}

/// Validated filter geometry: `words` 64-bit words, `k` bits per tag, and
/// the `capacity` (expected tags per key epoch) it was sized for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayFilterParams {
    words: u64,
    k: u32,
    capacity: u64,
}

impl ReplayFilterParams {
    /// Explicit geometry, validated. Prefer [`Self::for_capacity`].
    pub fn new(words: u64, k: u32, capacity: u64) -> Result<Self, ReplayError> {
        if words == 0 || words > MAX_WORDS {
            return Err(ReplayError::InvalidWordCount {
                words,
                max: MAX_WORDS,
            });
        }
        if k == 0 || k > MAX_HASHES {
            return Err(ReplayError::InvalidHashCount(k));
        }
        if capacity == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        Ok(Self { words, k, capacity })
    }

    /// The smallest filter (ties broken towards fewer bits per tag) whose
    /// modelled false-positive rate at `expected_items` is at most
    /// `target_false_positive_rate`.
    ///
    /// For each `k` in `1..=16` a binary search finds the least word count
    /// meeting the target; the model is monotone in the word count, and
    /// the search only ever keeps a count that was evaluated as meeting
    /// it, so the returned geometry provably satisfies the target under
    /// the model.
    pub fn for_capacity(
        expected_items: u64,
        target_false_positive_rate: f64,
    ) -> Result<Self, ReplayError> {
        let target = target_false_positive_rate;
        if !(target > 0.0 && target < 1.0) {
            return Err(ReplayError::InvalidFalsePositiveRate(target));
        }
        if expected_items == 0 {
            return Err(ReplayError::ZeroCapacity);
        }
        let n = expected_items;
        let mut best: Option<(u64, u32)> = None;
        for k in 1..=MAX_HASHES {
            // Only a strictly smaller filter can beat the current best.
            let upper = best.map_or(MAX_WORDS, |(w, _)| w - 1);
            if upper == 0 || model_fpr(n, upper, k) > target {
                continue;
            }
            // Invariant: `hi` meets the target, `lo` does not (0 words is
            // "everything is a false positive", and target < 1).
            let (mut lo, mut hi) = (0u64, upper);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if model_fpr(n, mid, k) <= target {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            best = Some((hi, k));
        }
        match best {
            Some((words, k)) => Ok(Self {
                words,
                k,
                capacity: n,
            }),
            None => Err(ReplayError::TargetUnreachable {
                items: n,
                target,
                max_bytes: MAX_MEMORY_BYTES,
            }),
        }
    }

    /// Number of 64-bit words.
    pub fn words(&self) -> u64 {
        self.words
    }

    /// Bits set per tag.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// Tags per key epoch this geometry was sized for.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Heap size of the bit array.
    pub fn memory_bytes(&self) -> u64 {
        self.words * 8
    }

    /// Modelled false-positive rate after `items` distinct tags.
    pub fn false_positive_rate(&self, items: u64) -> f64 {
        model_fpr(items, self.words, self.k)
    }
}

/// Replay filter for one Sphinx key, shared by all cores (`Arc`), `Sync`
/// without locks.
pub struct ReplayFilter {
    words: Box<[AtomicU64]>,
    params: ReplayFilterParams,
    key_id: [u8; 32],
    /// The count of fresh tags, striped over cache lines: one shared counter would be the only
    /// cache line every core writes for every packet. A tag's stripe follows its word, so
    /// cores spread over stripes as tags spread over words.
    inserted: Box<[StripedCount]>,
}

/// Counter stripes; a power of two so the stripe is a mask of the word index.
const COUNT_STRIPES: usize = 64;

/// One counter on a cache line of its own.
#[repr(align(64))]
#[derive(Default)]
struct StripedCount(AtomicU64);

impl std::fmt::Debug for ReplayFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayFilter")
            .field("params", &self.params)
            .field("key_id", &self.key_id)
            .field("inserted", &self.inserted())
            .finish_non_exhaustive()
    }
}

/// Why [`ReplayFilter::load`] started an empty filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreshReason {
    /// No file at the path.
    NoFile,
    /// The file belongs to another key: the key rotated, old tags are
    /// irrelevant.
    KeyMismatch,
    /// The file's geometry differs from the configured one (the operator
    /// resized the filter); its bits cannot be reinterpreted.
    ParamsMismatch,
}

/// Outcome of a successful [`ReplayFilter::load`].
#[derive(Debug)]
pub enum LoadOutcome {
    /// The saved filter for this key, with every saved tag.
    Restored(ReplayFilter),
    /// An empty filter, and why.
    Fresh(ReplayFilter, FreshReason),
}

impl LoadOutcome {
    /// The filter, whichever way it was obtained.
    pub fn into_filter(self) -> ReplayFilter {
        match self {
            LoadOutcome::Restored(f) | LoadOutcome::Fresh(f, _) => f,
        }
    }
}

impl ReplayFilter {
    /// An empty filter for the key identified by `key_id`.
    ///
    /// Allocates `params.memory_bytes()` up front (at most 4 GiB); the
    /// allocation is the only one this filter ever makes.
    pub fn new(params: ReplayFilterParams, key_id: [u8; 32]) -> Self {
        let words = (0..params.words).map(|_| AtomicU64::new(0)).collect();
        Self {
            words,
            params,
            key_id,
            inserted: (0..COUNT_STRIPES)
                .map(|_| StripedCount::default())
                .collect(),
        }
    }

    /// The geometry.
    pub fn params(&self) -> ReplayFilterParams {
        self.params
    }

    /// The key fingerprint this filter belongs to.
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// Tags per key epoch this filter was sized for.
    pub fn capacity(&self) -> u64 {
        self.params.capacity
    }

    /// Heap size of the bit array.
    pub fn memory_bytes(&self) -> u64 {
        self.params.memory_bytes()
    }

    /// Modelled false-positive rate after `items` distinct tags.
    pub fn false_positive_rate(&self, items: u64) -> f64 {
        self.params.false_positive_rate(items)
    }

    /// Number of tags accepted as fresh so far. Approximate when read
    /// concurrently with inserts (a relaxed counter), exact when quiescent.
    pub fn inserted(&self) -> u64 {
        self.inserted
            .iter()
            .map(|stripe| stripe.0.load(Ordering::Relaxed))
            .sum()
    }

    /// More tags than the filter was sized for: the false-positive rate is
    /// now above target. The runtime should alert; rotating the key is the
    /// remedy.
    pub fn is_over_capacity(&self) -> bool {
        self.inserted() > self.params.capacity
    }

    /// Which word and which bits a tag maps to.
    fn locate(&self, tag: &[u8; 32]) -> (usize, u64) {
        let mut lo = [0u8; 8];
        lo.copy_from_slice(&tag[0..8]);
        let h = u64::from_le_bytes(lo);
        // Multiply-shift maps h uniformly onto 0..len without a division
        // and without needing len to be a power of two. The result is
        // < len <= usize::MAX, so the cast is lossless.
        let len = self.words.len() as u128;
        let idx = ((u128::from(h) * len) >> 64) as usize;
        let mut hi = [0u8; 16];
        hi.copy_from_slice(&tag[8..24]);
        let bits = u128::from_le_bytes(hi);
        let mut mask = 0u64;
        for i in 0..self.params.k {
            mask |= 1u64 << ((bits >> (6 * i)) & 63);
        }
        (idx, mask)
    }

    /// Atomically test whether `tag` was seen and record it.
    ///
    /// Exactly one of any number of concurrent calls with the same tag (on
    /// any cores) returns [`ReplayCheck::Fresh`]; see the module docs.
    pub fn check_and_insert(&self, tag: &[u8; 32]) -> ReplayCheck {
        let (idx, mask) = self.locate(tag);
        let Some(word) = self.words.get(idx) else {
            // Unreachable: `locate` returns idx < len. Failing closed
            // (drop the packet) is the safe answer if it ever were.
            return ReplayCheck::Replayed;
        };
        let prev = word.fetch_or(mask, Ordering::Relaxed);
        if prev & mask == mask {
            ReplayCheck::Replayed
        } else {
            if let Some(stripe) = self.inserted.get(idx & (COUNT_STRIPES - 1)) {
                stripe.0.fetch_add(1, Ordering::Relaxed);
            }
            ReplayCheck::Fresh
        }
    }

    /// Records `tag` without asking whether it was new: replaying a journal
    /// of accepted tags into a restored filter (a tag the snapshot already
    /// holds is not counted twice).
    pub fn insert_tag(&self, tag: &[u8; 32]) {
        let _ = self.check_and_insert(tag);
    }

    /// Tags accepted so far over the tags the filter was sized for: above 1
    /// the false-positive rate is above its target.
    pub fn fill_ratio(&self) -> f64 {
        self.inserted() as f64 / self.params.capacity as f64
    }

    /// The modelled false-positive rate at the number of tags accepted so far
    /// (what a fresh packet risks being dropped as a replay right now).
    pub fn estimated_false_positive_rate(&self) -> f64 {
        self.params.false_positive_rate(self.inserted())
    }

    /// Whether `tag` (or a false-positive collision) is recorded, without
    /// recording it.
    pub fn contains(&self, tag: &[u8; 32]) -> bool {
        let (idx, mask) = self.locate(tag);
        self.words
            .get(idx)
            .is_none_or(|w| w.load(Ordering::Relaxed) & mask == mask)
    }

    /// Clear the filter and give it to `new_key_id`.
    ///
    /// Takes `&mut self` on purpose: clearing word by word while other
    /// cores insert would let a replay slip through the half-cleared
    /// filter under the new key id. With `&mut`, the borrow checker proves
    /// no core holds the filter. A runtime sharing it through `Arc`
    /// normally builds a new filter for the new key instead (old and new
    /// Sphinx keys overlap for a grace period, so both filters live side
    /// by side) and uses `reset` only via `Arc::get_mut` to recycle the
    /// allocation of an expired key's filter.
    pub fn reset(&mut self, new_key_id: [u8; 32]) {
        for w in self.words.iter_mut() {
            *w.get_mut() = 0;
        }
        for stripe in self.inserted.iter_mut() {
            *stripe.0.get_mut() = 0;
        }
        self.key_id = new_key_id;
    }
}

// ---------------------------------------------------------------------------
// False-positive model
// ---------------------------------------------------------------------------

/// Beyond this many bit-throws into one word, `P(word not full) < 1e-18`
/// (`64 · (63/64)^3072 ≈ 6e-20`), so the per-word false-positive
/// probability is 1 to within f64 precision that matters.
const MAX_BALLS: usize = 3072;

/// `MOMENTS[m][k-1] = E[(S_m / 64)^k]`, where `S_m` is the number of
/// distinct set bits after `m` uniformly random bit-sets in a 64-bit word.
/// Computed once (about 3 M flops) by dynamic programming over the
/// occupancy distribution; all terms are non-negative, so there is no
/// cancellation even for rates of 1e-15.
fn moments() -> &'static [[f64; MAX_HASHES as usize]] {
    static TABLE: OnceLock<Box<[[f64; MAX_HASHES as usize]]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut dist = [0f64; 65];
        dist[0] = 1.0;
        let mut table = Vec::with_capacity(MAX_BALLS + 1);
        for m in 0..=MAX_BALLS {
            if m > 0 {
                let mut next = [0f64; 65];
                for (s, &p) in dist.iter().enumerate() {
                    if p == 0.0 {
                        continue;
                    }
                    let hit = s as f64 / 64.0;
                    next[s] += p * hit;
                    if s < 64 {
                        next[s + 1] += p * (1.0 - hit);
                    }
                }
                dist = next;
            }
            let mut row = [0f64; MAX_HASHES as usize];
            for (s, &p) in dist.iter().enumerate().skip(1) {
                if p == 0.0 {
                    continue;
                }
                let x = s as f64 / 64.0;
                let mut pow = 1.0;
                for r in row.iter_mut() {
                    pow *= x;
                    *r += p * pow;
                }
            }
            table.push(row);
        }
        table.into_boxed_slice()
    })
}

/// Exact false-positive probability of a one-word blocked Bloom filter
/// with `words` words and `k` bits per item after `items` distinct items:
/// `Σ_L Poisson(L; items/words) · E[(S_{kL}/64)^k]`.
fn model_fpr(items: u64, words: u64, k: u32) -> f64 {
    if items == 0 {
        return 0.0;
    }
    if words == 0 || k == 0 || k > MAX_HASHES {
        return 1.0;
    }
    let k = k as usize;
    let lambda = items as f64 / words as f64;
    // For L >= l_star the word is full to within 1e-18: term = 1.
    let l_star = MAX_BALLS / k + 1;
    let ls = l_star as f64;
    if lambda > ls + 50.0 * ls.sqrt() + 50.0 {
        // P(L < l_star) < e^-250: every word is saturated.
        return 1.0;
    }
    let table = moments();
    let ln_lambda = lambda.ln();
    let pmf_at = |l: usize, ln_fact: f64| (l as f64 * ln_lambda - lambda - ln_fact).exp();
    // Bound on Σ_{j>l} pmf(j) once l > lambda: a geometric series with
    // ratio lambda/(l+1).
    let tail_bound = |l: usize, pmf: f64| {
        let lf = l as f64;
        (lf > lambda + 1.0).then(|| pmf * lambda / (lf + 1.0 - lambda))
    };

    let mut ln_fact = 0.0;
    let mut acc = 0.0;
    let mut cdf = 0.0;
    for l in 0..l_star {
        if l > 0 {
            ln_fact += (l as f64).ln();
        }
        let pmf = pmf_at(l, ln_fact);
        acc += pmf * table[k * l][k - 1];
        cdf += pmf;
        if tail_bound(l, pmf).is_some_and(|b| b <= acc * 1e-17) {
            return acc.min(1.0);
        }
    }
    // Remaining mass P(L >= l_star), each term 1.
    let tail = if lambda >= ls {
        // Most of the mass is here; no cancellation worth worrying about.
        (1.0 - cdf).max(0.0)
    } else {
        let mut t = 0.0;
        let mut l = l_star;
        loop {
            ln_fact += (l as f64).ln();
            let pmf = pmf_at(l, ln_fact);
            t += pmf;
            // The hard cap only guards against a NaN sneaking in; the tail
            // bound ends the loop within a few hundred terms.
            if tail_bound(l, pmf).is_some_and(|b| b <= t * 1e-17) || l > l_star + 100_000 {
                break t;
            }
            l += 1;
        }
    };
    (acc + tail).min(1.0)
}

pub mod journal;
mod persist;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod week_tests;
