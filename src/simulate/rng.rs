//! A seeded random stream with the few distributions the simulator needs.
//!
//! ChaCha8 gives the same numbers on every platform; each account draws from its
//! own stream (seed, account index), so accounts are independent of each other.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct SimRng(ChaCha8Rng);

impl SimRng {
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(stream);
        SimRng(r)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `lo..hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        self.0.random_range(lo..hi)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller; one draw per call keeps the stream simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson count (Knuth for small means, normal approximation above 30). Huge means
    /// saturate at `u32::MAX`: callers cap a count before looping over it.
    pub fn poisson(&mut self, mean: f64) -> u32 {
        if mean.is_nan() || mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u32;
        }
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.unit();
        // Knuth's loop takes about `mean` (at most 30) steps; P(k > 1000) is below 1e-1000,
        // the bound only keeps the loop bounded whatever the stream.
        while p > limit && k < 1000 {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Index drawn with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.int(0, items.len() as i64) as usize]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.int(0, i as i64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<f64> = (0..5)
            .map({
                let mut r = SimRng::new(7, 1);
                move |_| r.unit()
            })
            .collect();
        let b: Vec<f64> = (0..5)
            .map({
                let mut r = SimRng::new(7, 1);
                move |_| r.unit()
            })
            .collect();
        let c: Vec<f64> = (0..5)
            .map({
                let mut r = SimRng::new(7, 2);
                move |_| r.unit()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn poisson_and_normal_have_the_right_moments() {
        let mut r = SimRng::new(1, 0);
        let n = 20_000;
        let mean = (0..n).map(|_| r.poisson(3.5) as f64).sum::<f64>() / n as f64;
        assert!((mean - 3.5).abs() < 0.08, "{mean}");
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.03 && (v - 1.0).abs() < 0.05, "{m} {v}");
    }
}
