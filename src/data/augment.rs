//! Jitter: each time a training image is drawn it moves by a random integer offset, zero-filled.
//!
//! ```text
//! (δr, δc) ~ U{−P..P}²  independently per (seed, epoch, example index)
//! out[r, c] = img[r − δr, c − δc]   where 0 ≤ r − δr < rows and 0 ≤ c − δc < cols, else 0
//! ```
//! A positive `δr` moves the digit down, a positive `δc` to the right. The offsets are a pure
//! function of `(seed, epoch, index)` (a SplitMix64 hash chain, no generator state), so a batch
//! gets the same images whatever the thread count, batch order or batch size, and a resumed run
//! needs no saved state for them. It works on the `u8` image, before scaling to `[0, 1]`.

/// The jitter of one epoch: shifts of up to `pixels` along each axis, drawn from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jitter {
    /// The largest shift `P` along each axis.
    pub pixels: usize,
    /// The run's seed.
    pub seed: u64,
    /// The epoch (1-based): every epoch draws fresh offsets.
    pub epoch: u64,
}

/// Mixed into the seed so jitter's stream differs from every other stream of the same seed.
const PURPOSE: u64 = 0x6a69_7474_6572; // "jitter"

impl Jitter {
    /// The offset `(δr, δc)` of training example `index`, each in `[−P, P]`.
    ///
    /// ```text
    /// h = mix(mix(mix(seed ⊕ PURPOSE) ⊕ epoch) ⊕ index)        mix = SplitMix64's finaliser
    /// δr = (h mod 2³²) mod (2P+1) − P      δc = (h div 2³²) mod (2P+1) − P
    /// ```
    /// The modulo bias is below (2P+1)/2³² ≤ 1.3e-8 per value.
    pub fn offset(&self, index: usize) -> (isize, isize) {
        let h = mix(mix(mix(self.seed ^ PURPOSE) ^ self.epoch) ^ index as u64);
        let span = 2 * self.pixels as u64 + 1;
        let p = self.pixels as isize;
        let dr = ((h & 0xffff_ffff) % span) as isize - p;
        let dc = ((h >> 32) % span) as isize - p;
        (dr, dc)
    }
}

/// SplitMix64's output function (Steele, Lea & Flood 2014): a bijection of `u64` that mixes
/// every input bit into every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes `src` shifted by `(dr, dc)` into `dst`, zero-filling what moves in from outside.
///
/// ```text
/// shapes  src, dst: (rows·cols), row-major
/// dst[r·cols + c] = src[(r − dr)·cols + (c − dc)]  if inside the image, else 0
/// ```
///
/// # Panics
/// If `src` or `dst` is not `rows·cols` long.
#[track_caller]
pub fn shift_image(
    src: &[u8],
    dst: &mut [u8],
    (rows, cols): (usize, usize),
    (dr, dc): (isize, isize),
) {
    assert_eq!(src.len(), rows * cols, "src must be rows·cols");
    assert_eq!(dst.len(), rows * cols, "dst must be rows·cols");
    dst.fill(0);
    // Destination columns c with 0 ≤ c − dc < cols, and the source columns they read.
    let c_lo = dc.clamp(0, cols as isize) as usize;
    let c_hi = (cols as isize + dc).clamp(0, cols as isize) as usize;
    if c_lo >= c_hi {
        return;
    }
    let src_c = (c_lo as isize - dc) as usize;
    let width = c_hi - c_lo;
    for r in 0..rows {
        let from = r as isize - dr;
        if !(0..rows as isize).contains(&from) {
            continue; // a row moved in from outside: stays 0
        }
        let from = from as usize * cols + src_c;
        dst[r * cols + c_lo..r * cols + c_hi].copy_from_slice(&src[from..from + width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};
    use rand_xoshiro::SplitMix64;
    use rayon::prelude::*;

    /// The definition, pixel by pixel.
    fn reference(src: &[u8], (rows, cols): (usize, usize), (dr, dc): (isize, isize)) -> Vec<u8> {
        let mut out = vec![0; rows * cols];
        for r in 0..rows as isize {
            for c in 0..cols as isize {
                let (sr, sc) = (r - dr, c - dc);
                if (0..rows as isize).contains(&sr) && (0..cols as isize).contains(&sc) {
                    out[(r * cols as isize + c) as usize] = src[(sr * cols as isize + sc) as usize];
                }
            }
        }
        out
    }

    fn image(rows: usize, cols: usize) -> Vec<u8> {
        (0..rows * cols).map(|i| (i % 251) as u8 + 1).collect() // no zero pixel
    }

    #[test]
    fn shifts_match_the_definition_for_every_offset() {
        for shape in [(5, 7), (28, 28), (1, 1)] {
            let src = image(shape.0, shape.1);
            let mut dst = vec![99; src.len()];
            for dr in -9..=9 {
                for dc in -9..=9 {
                    shift_image(&src, &mut dst, shape, (dr, dc));
                    assert_eq!(dst, reference(&src, shape, (dr, dc)), "{shape:?} {dr},{dc}");
                }
            }
        }
    }

    #[test]
    fn a_shift_moves_pixels_and_zero_fills_the_edge() {
        let src = image(4, 4);
        let mut dst = vec![0; 16];
        shift_image(&src, &mut dst, (4, 4), (1, -2)); // one down, two left
        assert_eq!(&dst[0..4], &[0, 0, 0, 0], "the top row moved in: zeros");
        for r in 1..4 {
            let row = &dst[r * 4..r * 4 + 4];
            let above = &src[(r - 1) * 4..(r - 1) * 4 + 4];
            assert_eq!(row, &[above[2], above[3], 0, 0]);
        }
        shift_image(&src, &mut dst, (4, 4), (0, 0));
        assert_eq!(dst, src, "offset (0, 0) is the identity");
        shift_image(&src, &mut dst, (4, 4), (4, 0));
        assert!(dst.iter().all(|&p| p == 0), "shifted out of view: all zero");
    }

    #[test]
    fn offsets_stay_in_bounds_and_reach_every_value() {
        for pixels in [0, 1, 2, 27] {
            let jitter = Jitter {
                pixels,
                seed: 42,
                epoch: 3,
            };
            let p = pixels as isize;
            let mut seen = std::collections::BTreeSet::new();
            for i in 0..20_000 {
                let (dr, dc) = jitter.offset(i);
                assert!((-p..=p).contains(&dr) && (-p..=p).contains(&dc));
                seen.insert(dr);
                seen.insert(dc);
            }
            assert_eq!(
                seen.len(),
                2 * pixels + 1,
                "P = {pixels}: all of −P..P drawn"
            );
        }
    }

    #[test]
    fn offsets_depend_on_seed_epoch_and_index_only() {
        let at = |seed, epoch| Jitter {
            pixels: 2,
            seed,
            epoch,
        };
        let draws = |j: Jitter| (0..1000).map(|i| j.offset(i)).collect::<Vec<_>>();
        assert_eq!(draws(at(42, 1)), draws(at(42, 1)));
        assert_ne!(
            draws(at(42, 1)),
            draws(at(42, 2)),
            "a fresh draw each epoch"
        );
        assert_ne!(
            draws(at(42, 1)),
            draws(at(43, 1)),
            "a fresh draw for each seed"
        );
        // the row and the column offsets are not the same draw
        assert!(draws(at(42, 1)).iter().any(|(dr, dc)| dr != dc));
    }

    /// The first output of SplitMix64 seeded with `s` (rand_xoshiro's, checked there against
    /// the reference C code `splitmix64.c`).
    fn splitmix64(s: u64) -> u64 {
        SplitMix64::seed_from_u64(s).next_u64()
    }

    /// `mix` is SplitMix64's output function, so the stream is the one the docs name and any
    /// other SplitMix64 can reproduce it.
    #[test]
    fn mix_is_splitmix64() {
        for s in [0, 1, 42, PURPOSE, 0x9e37_79b9_7f4a_7c15, u64::MAX] {
            assert_eq!(mix(s), splitmix64(s), "seed {s:#x}");
        }
    }

    /// The offsets are the documented chain, recomputed with another SplitMix64 and with `mod`
    /// and `div` by 2³² in place of the masks and shifts:
    /// `h = mix(mix(mix(seed ⊕ PURPOSE) ⊕ epoch) ⊕ index)`,
    /// `δr = (h mod 2³²) mod (2P+1) − P`, `δc = (h div 2³²) mod (2P+1) − P`.
    #[test]
    fn offsets_are_the_documented_splitmix64_chain() {
        for (pixels, seed, epoch) in [(1, 0, 1), (2, 42, 3), (4, 7, 50), (2, u64::MAX, 1000)] {
            let jitter = Jitter {
                pixels,
                seed,
                epoch,
            };
            let span = 2 * pixels as u64 + 1;
            let p = pixels as isize;
            for index in [0usize, 1, 2, 999, 59_999] {
                let h = splitmix64(splitmix64(splitmix64(seed ^ PURPOSE) ^ epoch) ^ index as u64);
                let (low, high) = (h % (1 << 32), h / (1 << 32));
                let expected = ((low % span) as isize - p, (high % span) as isize - p);
                assert_eq!(
                    jitter.offset(index),
                    expected,
                    "{jitter:?}, example {index}"
                );
            }
        }
    }

    #[test]
    fn identical_for_any_thread_count() {
        let jitter = Jitter {
            pixels: 2,
            seed: 7,
            epoch: 5,
        };
        let serial: Vec<_> = (0..5000).map(|i| jitter.offset(i)).collect();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let parallel: Vec<_> = pool.install(|| {
                (0..5000)
                    .into_par_iter()
                    .map(|i| jitter.offset(i))
                    .collect()
            });
            assert_eq!(parallel, serial, "{threads} threads");
        }
    }
}
