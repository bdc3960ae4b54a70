//! X25519 (RFC 7748) Diffie-Hellman function, single and batched.
//!
//! A Sphinx mixnet router performs independent X25519 scalar multiplications
//! for every packet; [`x25519_batch`] computes many of them at once. On
//! x86-64 CPUs with AVX-512F + AVX-512 IFMA it runs 8-lane multi-buffer
//! Montgomery ladders (one batch item per 64-bit SIMD lane, field elements
//! in radix 2^52, two 8-lane ladders interleaved; submodule `ifma`);
//! elsewhere a portable radix-2^51 ladder (submodule `portable`), which is
//! also faster than `x25519_dalek::x25519` and shares one inversion per 16
//! batch items.
//!
//! # Semantics
//!
//! Every function computes exactly `x25519_dalek::x25519(scalar, u)`:
//!
//! * the scalar is clamped (bits 0, 1, 2 and 255 cleared, bit 254 set);
//! * bit 255 of `u` is ignored, non-canonical `u` (values in [p, 2^255),
//!   p = 2^255 - 19) are accepted and reduced;
//! * the output is the canonical little-endian encoding;
//! * low-order inputs give the all-zero output, which is returned as is (no
//!   error; callers that must reject it, as Sphinx does, check for it).
//!
//! All backends are constant time with respect to the scalars and points:
//! no secret-dependent branches or memory indices; the ladder always runs
//! 255 iterations. Only the batch *length* (public) influences control flow.
//!
//! # Performance
//!
//! The IFMA backend processes 16 items per (double) ladder, and a last
//! partial group of at most 8 items per single 8-lane ladder; partial
//! groups are padded with dummy lanes, so a batch costs about as much as
//! one rounded up to a multiple of 8 (of 16 above 8 items). Measured on
//! the development machine (2-vCPU Xeon, Sapphire-Rapids class, shared;
//! `cargo bench --bench x25519`, minimum of interleaved samples): ~4.2 us
//! per multiplication in batches of 16 or more and ~4.7 us in a batch of 8,
//! vs ~43.5 us for `x25519_dalek::x25519` (~10x); the portable backend
//! takes ~32 us single (~1.4x faster than dalek) and ~28 us per item in
//! batches (~1.55x). [`x25519`] (one item) uses the portable backend: an
//! 8-lane ladder with 7 idle lanes takes ~38 us.
//!
//! The IFMA backend keeps AVX-512 units busy for the whole batch; on CPUs
//! that lower their clock under AVX-512 load this can slow neighbouring code.

use std::fmt;
use std::sync::OnceLock;

// Radix-2^52 helpers are only needed by the IFMA backend (clamping and the
// step count are shared with the portable one).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod field52;
#[cfg(target_arch = "x86_64")]
mod ifma;
mod portable;

#[cfg(test)]
mod tests;

/// Implementation selected for a computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Portable 64-bit code, one ladder per item (inversions shared across
    /// a batch). Available everywhere.
    Portable,
    /// 8-lane Montgomery ladder with AVX-512F + AVX-512 IFMA (x86-64 only).
    Avx512Ifma,
}

impl Backend {
    /// Items one ladder runs together: a batch of this many costs about as much as one item
    /// on this backend (1 on the portable backend, where each item has its own ladder).
    pub fn lanes(self) -> usize {
        match self {
            Backend::Portable => 1,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512Ifma => ifma::LANES,
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx512Ifma => 8,
        }
    }

    /// Whether this backend can run on the current CPU.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512Ifma => ifma::is_available(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx512Ifma => false,
        }
    }
}

/// Errors of the batch functions. Nothing is written to `out` on error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `scalars`, `points` and `out` do not have the same length.
    LengthMismatch {
        /// `scalars.len()`
        scalars: usize,
        /// `points.len()`
        points: usize,
        /// `out.len()`
        out: usize,
    },
    /// The requested backend cannot run on this CPU (see
    /// [`Backend::is_available`]).
    BackendUnavailable(Backend),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch {
                scalars,
                points,
                out,
            } => write!(
                f,
                "x25519 batch length mismatch: {scalars} scalars, {points} points, {out} outputs"
            ),
            Error::BackendUnavailable(b) => {
                write!(f, "x25519 backend {b:?} is not available on this CPU")
            }
        }
    }
}

impl std::error::Error for Error {}

/// The fastest backend for batches on this CPU, detected once at run time
/// (`is_x86_feature_detected!`) and cached. [`Backend::Portable`] on
/// non-x86-64 targets.
pub fn detected_backend() -> Backend {
    static DETECTED: OnceLock<Backend> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        if Backend::Avx512Ifma.is_available() {
            Backend::Avx512Ifma
        } else {
            Backend::Portable
        }
    })
}

/// X25519 of one scalar and one u-coordinate (see the module docs for the
/// exact semantics). Always uses the portable backend: for a single item it
/// is faster than an 8-lane ladder.
pub fn x25519(scalar: &[u8; 32], u: &[u8; 32]) -> [u8; 32] {
    portable::x25519(scalar, u)
}

/// `out[i] = x25519(&scalars[i], &points[i])` for all `i`, on the
/// [`detected_backend`]. Any length is accepted (including 0).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if the three slices differ in length.
pub fn x25519_batch(
    scalars: &[[u8; 32]],
    points: &[[u8; 32]],
    out: &mut [[u8; 32]],
) -> Result<(), Error> {
    x25519_batch_with(detected_backend(), scalars, points, out)
}

/// Like [`x25519_batch`] on a forced backend (for tests and benchmarks).
///
/// # Errors
///
/// [`Error::LengthMismatch`] if the three slices differ in length;
/// [`Error::BackendUnavailable`] if `backend` cannot run on this CPU (no
/// silent fallback, so a caller forcing [`Backend::Avx512Ifma`] knows what
/// ran).
pub fn x25519_batch_with(
    backend: Backend,
    scalars: &[[u8; 32]],
    points: &[[u8; 32]],
    out: &mut [[u8; 32]],
) -> Result<(), Error> {
    if scalars.len() != points.len() || points.len() != out.len() {
        return Err(Error::LengthMismatch {
            scalars: scalars.len(),
            points: points.len(),
            out: out.len(),
        });
    }
    match backend {
        Backend::Portable => {
            portable::x25519_batch(scalars, points, out);
            Ok(())
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Ifma => {
            if ifma::x25519_batch(scalars, points, out) {
                Ok(())
            } else {
                Err(Error::BackendUnavailable(backend))
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Backend::Avx512Ifma => Err(Error::BackendUnavailable(backend)),
    }
}
