//! Seeded per-epoch shuffles: the same `(seed, epoch)` always gives the same batch order.

use rand::{Rng, SeedableRng};
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};

/// A fresh permutation of `0..n` for each epoch, by Fisher–Yates on a seeded xoshiro256++.
///
/// ```text
/// state = (s₁, s₂, e₁, e₂)   s = SplitMix64(seed) outputs, e = SplitMix64(epoch) outputs
/// for i = n−1 down to 1:  j ~ U{0..i};  swap(p[i], p[j])          p starts as 0, 1, …, n−1
/// ```
/// SplitMix64's output is a bijection of its state, so distinct `(seed, epoch)` pairs give
/// distinct generator states; the permutation depends on nothing else (not on threads or time).
pub fn shuffled_indices(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = epoch_rng(seed, epoch);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.gen_range(0..=i);
        p.swap(i, j);
    }
    p
}

/// The generator of one epoch, its 256-bit state built from `seed` and `epoch`.
fn epoch_rng(seed: u64, epoch: u64) -> Xoshiro256PlusPlus {
    let mut from_seed = SplitMix64::seed_from_u64(seed);
    let mut from_epoch = SplitMix64::seed_from_u64(epoch);
    let words = [
        from_seed.gen::<u64>(),
        from_seed.gen::<u64>(),
        from_epoch.gen::<u64>(),
        from_epoch.gen::<u64>(),
    ];
    let mut state = [0u8; 32];
    for (chunk, w) in state.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(state)
}
