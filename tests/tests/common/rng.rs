//! A small deterministic generator (xorshift64*), so every randomized test
//! prints a seed and can be replayed with it.
//!
//! One copy for every test that needs one: the `tests` package's `common`
//! module, and the library's crash model (`batpak/src/store/crash_model.rs`),
//! which includes this file with `#[path]`. So it names no batpak type and
//! needs no dependency.
// Each includer uses a different part (the crash model takes its seeds from
// a loop, not from the environment).
#![allow(dead_code)]

/// xorshift64*: fast, good enough to pick workloads, never zero inside.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator started at `seed` (0, a fixed point of xorshift, is taken
    /// as 1).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A generator seeded from the variable `name` when it holds a number,
    /// else from the clock; prints `seed: NAME=SEED` and returns the seed.
    pub(crate) fn from_env(name: &str) -> (Self, u64) {
        let seed = std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                // The low bits vary fastest; truncation is what we want.
                now.as_nanos() as u64
            });
        eprintln!("seed: {name}={seed}");
        (Self::new(seed), seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
