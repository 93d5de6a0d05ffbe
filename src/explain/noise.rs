//! The Gaussian noise of SmoothGrad and VarGrad, the same on every backend.
//!
//! Each graph and input kind has its own stream: ChaCha8 seeded with
//! [`Smoothing::seed`](super::Smoothing), on a stream chosen by an FNV-1a hash of the
//! graph's features (as f64 bits), its local edges and the input length. The noise of a
//! graph therefore depends only on its content, not on its position in the dataset, the
//! chunking or the device. Values are `sigma · N(0, 1)` by Box–Muller, drawn sample by
//! sample, `len` values per sample.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The noise of one graph and input kind, one sample after another.
#[derive(Debug, Clone)]
pub struct NoiseStream {
    rng: ChaCha8Rng,
    sigma: f64,
    len: usize,
}

impl NoiseStream {
    /// The stream of a graph with node features `features [n, F]` and local edges
    /// `src → dst`, for an input of `len` values (its edges or its node features).
    pub fn new(
        seed: u64,
        sigma: f64,
        features: &[f32],
        src: &[u32],
        dst: &[u32],
        len: usize,
    ) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |v: u64| {
            for b in v.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        features.iter().for_each(|&v| mix(f64::from(v).to_bits()));
        src.iter()
            .zip(dst)
            .for_each(|(&a, &b)| mix(u64::from(a) << 32 | u64::from(b)));
        mix(len as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(h);
        NoiseStream { rng, sigma, len }
    }

    /// The noise of the next sample: `len` values.
    pub fn next_sample(&mut self) -> Vec<f64> {
        (0..self.len).map(|_| self.sigma * self.normal()).collect()
    }

    /// One standard normal value by Box–Muller: `sqrt(−2 ln(1 − u1)) · cos(2π u2)`.
    fn normal(&mut self) -> f64 {
        let (u1, u2): (f64, f64) = (self.rng.gen(), self.rng.gen());
        (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
