//! Cryptographic primitives.
//!
//! * [`x25519`]: RFC 7748 X25519, single and batched (AVX-512 IFMA multi-buffer
//!   Montgomery ladder with a portable fallback).

pub mod x25519;
