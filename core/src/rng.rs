//! A small seeded generator for deterministic tests and simulations.
//!
//! Production hosts pass their own [`rand_core::RngCore`] (backed by the OS); the core never
//! creates randomness on its own. [`SplitMix64`] exists so a seed alone reproduces a run.

use rand_core::RngCore;

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
