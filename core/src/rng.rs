//! Randomness: the bindings' one policy for the host's CSPRNG, and a seeded generator for
//! deterministic tests and simulations.
//!
//! The core never creates randomness on its own. Production hosts wrap their CSPRNG
//! (`getrandom`: the OS, or `crypto.getRandomValues` in wasm) in a [`HostRng`]: PKCE
//! verifiers, `state`, `jti`s, lease values, record nonces and jitter all come from it, and
//! **it fails closed** — a host without a secure source is refused when the generator is made
//! ([`RngUnavailable`]), and a source that fails later marks the generator's [`RngHealth`], which
//! the binding checks after every call that may have drawn bytes and then discards the result
//! with the same error. There is no weaker fallback. [`SplitMix64`] exists so a seed alone
//! reproduces a run (tests and simulations only: never for secrets).

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rand_core::RngCore;

use crate::ErrorCode;

/// The host has no working secure random source (`rng_unavailable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RngUnavailable;

impl ErrorCode for RngUnavailable {
    fn code(&self) -> &'static str {
        "rng_unavailable"
    }
}

impl fmt::Display for RngUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no secure random source is available (the OS generator or crypto.getRandomValues); \
             a seed is for tests only",
        )
    }
}

impl std::error::Error for RngUnavailable {}

/// Whether a [`HostRng`] has ever failed to fill. Clones share the state.
#[derive(Clone, Debug, Default)]
pub struct RngHealth(Arc<AtomicBool>);

impl RngHealth {
    /// `Err` once the generator has failed: whatever was made with its output must be dropped.
    pub fn check(&self) -> Result<(), RngUnavailable> {
        if self.0.load(Ordering::Relaxed) {
            Err(RngUnavailable)
        } else {
            Ok(())
        }
    }
}

/// The host's CSPRNG behind `fill` (returns `false` on failure), failing closed (see the module
/// docs): on a failed fill the bytes are zeros and [`RngHealth`] reports the failure.
pub struct HostRng<F> {
    fill: F,
    health: RngHealth,
}

impl<F: FnMut(&mut [u8]) -> bool> HostRng<F> {
    /// A generator over `fill`, refused when a first fill fails; with the handle that reports
    /// later failures.
    pub fn new(mut fill: F) -> Result<(HostRng<F>, RngHealth), RngUnavailable> {
        let mut probe = [0u8; 16];
        if !fill(&mut probe) {
            return Err(RngUnavailable);
        }
        let health = RngHealth::default();
        Ok((
            HostRng {
                fill,
                health: health.clone(),
            },
            health,
        ))
    }

    /// Fills `dest` or fails, for values a host draws directly (lease values, nonces).
    pub fn try_fill(&mut self, dest: &mut [u8]) -> Result<(), RngUnavailable> {
        self.fill_bytes(dest);
        self.health.check()
    }
}

impl<F> fmt::Debug for HostRng<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostRng").finish_non_exhaustive()
    }
}

impl<F: FnMut(&mut [u8]) -> bool> RngCore for HostRng<F> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if !(self.fill)(dest) {
            dest.fill(0);
            self.health.0.store(true, Ordering::Relaxed);
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, statistically fine for jitter and
/// simulation. Not for secrets: PKCE verifiers and `jti`s must come from an OS-backed RNG.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is determined by `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }
}

impl RngCore for SplitMix64 {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A uniform `f64` in `[0, 1)` from 53 random bits.
pub fn unit_f64(rng: &mut dyn RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[0, bound)`; `0` when `bound <= 0`.
pub fn below(rng: &mut dyn RngCore, bound: i64) -> i64 {
    if bound <= 0 {
        return 0;
    }
    // Multiply-shift: bias below 2^-64 * bound, irrelevant for jitter.
    ((u128::from(rng.next_u64()) * bound as u128) >> 64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_rng_fails_closed() {
        assert_eq!(
            HostRng::new(|_: &mut [u8]| false).unwrap_err(),
            RngUnavailable
        );
        let mut calls = 0;
        let (mut rng, health) = HostRng::new(move |b: &mut [u8]| {
            calls += 1;
            b.fill(7);
            calls < 3
        })
        .unwrap();
        let mut b = [0u8; 4];
        assert_eq!(rng.try_fill(&mut b), Ok(()));
        assert_eq!(b, [7; 4]);
        assert!(health.check().is_ok());
        rng.fill_bytes(&mut b);
        assert_eq!(b, [0; 4], "a failed fill is never passed on");
        assert_eq!(health.check(), Err(RngUnavailable));
        assert_eq!(RngUnavailable.code(), "rng_unavailable");
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let x = unit_f64(&mut a);
        assert!((0.0..1.0).contains(&x));
        assert!((0..10).contains(&below(&mut a, 10)));
        assert_eq!(below(&mut a, 0), 0);
    }
}
