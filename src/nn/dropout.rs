//! Inverted dropout, in place, with a seeded mask.
//!
//! ```text
//! Train:  m_i ~ Bernoulli(1 − p)    y = x ⊙ m / (1 − p)      dx = dy ⊙ m / (1 − p)
//! Eval:   y = x                                              dx = dy
//! ```
//! Kept units are scaled by `1/(1 − p)` at training time, so the expected activation is the same
//! in both modes and evaluation needs no rescaling (Keras and PyTorch do the same). The layer
//! stores the scaled mask `m/(1 − p)` (0 or `1/(1 − p)` per element): backward multiplies by it.
//!
//! # Mask scheme (exact, so a run can be replayed)
//! The mask is drawn in row-major order from a [`Xoshiro256PlusPlus`] stream. Each `next_u64`
//! gives two draws: its low 32 bits for element `2k`, its high 32 bits for element `2k + 1`
//! (an odd count ends with the low half of one more draw). Element `i` is dropped iff
//! `u_i < t` with `t = round(p · 2³²)`, so `P(drop) = t / 2³²` (exact for p = 0.5; within
//! 2⁻³³ of `p` otherwise). A forward pass over `B·D` elements consumes exactly `⌈B·D/2⌉` draws,
//! on the calling thread: the mask does not depend on the rayon thread count. With `p = 0`, or
//! in [`Mode::Eval`], the layer is the identity and draws nothing.

use ndarray::ArrayViewMut2;
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::Mode;
use crate::scalar::Scalar;

/// Elements whose 32-bit draws are generated before they are applied (even, so only the last
/// block of a pass can hold an odd count).
const DRAW_BLOCK: usize = 256;

/// The random stream dropout masks are drawn from.
pub type MaskRng = Xoshiro256PlusPlus;

/// The mask stream of a seed: `Xoshiro256PlusPlus::seed_from_u64(seed)` advanced by one
/// `long_jump` (2¹⁹² steps), so it never overlaps the weight-initialisation stream of the same
/// seed, which starts at `seed_from_u64(seed)`.
pub fn mask_stream(seed: u64) -> MaskRng {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    rng.long_jump();
    rng
}

/// The input-dropout stream of a seed: `Xoshiro256PlusPlus::seed_from_u64(seed)` advanced by
/// two `long_jump`s, so it overlaps neither the weight-initialisation stream nor
/// [`mask_stream`] of the same seed (each is 2¹⁹² steps from the next).
pub fn input_mask_stream(seed: u64) -> MaskRng {
    let mut rng = mask_stream(seed);
    rng.long_jump();
    rng
}

/// Inverted dropout with rate `p` (the probability of DROPPING a unit).
#[derive(Debug, Clone)]
pub struct Dropout<A> {
    p: f64,
    /// Drop iff a 32-bit draw is below this: `round(p · 2³²)`.
    threshold: u32,
    /// `1/(1 − p)`, the factor kept units are multiplied by.
    scale: A,
    /// Scaled mask of the last Train forward, row-major; only the first `B·D` entries are live.
    /// Grows to the largest batch seen and is then reused.
    mask: Vec<A>,
    /// Shape of the last forward, and whether its mask applies (Train with p > 0).
    last: Option<((usize, usize), bool)>,
}

impl<A: Scalar> Dropout<A> {
    /// A dropout layer dropping each unit with probability `p`.
    ///
    /// ```text
    /// t = round(p · 2³²)      scale = 1/(1 − p)
    /// ```
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    #[track_caller]
    pub fn new(p: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&p),
            "dropout rate must be in [0, 1), got {p}"
        );
        let threshold = (p * 4_294_967_296.0).round().min(f64::from(u32::MAX)) as u32;
        Dropout {
            p,
            threshold,
            scale: A::of(1.0 / (1.0 - p)),
            mask: Vec::new(),
            last: None,
        }
    }

    /// The drop probability `p`.
    pub fn rate(&self) -> f64 {
        self.p
    }

    /// The scaled mask of the last forward (0 or `1/(1 − p)` per element, row-major), or `None`
    /// when the last forward was the identity (Eval, or `p = 0`) or there was none.
    pub fn mask(&self) -> Option<&[A]> {
        match self.last {
            Some(((b, d), true)) => Some(&self.mask[..b * d]),
            _ => None,
        }
    }

    /// Applies dropout to `x` in place; in Train mode draws a fresh mask from `rng` (the scheme
    /// is in the module docs).
    ///
    /// ```text
    /// shapes  x: (B, D)
    /// Train, p > 0:  y = x ⊙ m/(1 − p),  m_i = [u_i ≥ t]
    /// otherwise:     y = x               (no draws)
    /// ```
    ///
    /// # Panics
    /// If `x` is not in standard (row-major, contiguous) layout.
    #[track_caller]
    pub fn forward<R: RngCore + Clone>(
        &mut self,
        mut x: ArrayViewMut2<A>,
        mode: Mode,
        rng: &mut R,
    ) {
        let dim = x.dim();
        let active = mode == Mode::Train && self.p > 0.0;
        self.last = Some((dim, active));
        if !active {
            return;
        }
        let n = dim.0 * dim.1;
        if self.mask.len() < n {
            self.mask.resize(n, A::zero());
        }
        let xs = x
            .as_slice_mut()
            .expect("dropout input must be in standard layout");
        let (t, scale, zero) = (self.threshold, self.scale, A::zero());
        // Two phases per block of DRAW_BLOCK elements: draw the 32-bit numbers serially, then
        // a branch-free loop the compiler vectorises (compare + blend + multiply). A per-element
        // branch on random keep/drop decisions mispredicts half the time (measured ~10x slower).
        // The generator is a local copy, written back at the end, so its state stays in registers.
        let mut local = rng.clone();
        let mut draws = [0u32; DRAW_BLOCK];
        for (x_blk, m_blk) in xs
            .chunks_mut(DRAW_BLOCK)
            .zip(self.mask[..n].chunks_mut(DRAW_BLOCK))
        {
            for pair in draws[..x_blk.len().next_multiple_of(2)].chunks_exact_mut(2) {
                let bits = local.next_u64();
                pair[0] = bits as u32; // low half → element 2k
                pair[1] = (bits >> 32) as u32; // high half → element 2k + 1
            }
            for ((x, m), &u) in x_blk.iter_mut().zip(m_blk.iter_mut()).zip(&draws) {
                *m = if u >= t { scale } else { zero }; // m/(1 − p), m = [u ≥ t]
                *x *= *m; // y = x·m/(1 − p)
            }
        }
        *rng = local;
    }

    /// Gradient with respect to the input, in place: `dy <- dy ⊙ m/(1 − p)` (identity when the
    /// last forward was).
    ///
    /// ```text
    /// shapes  dy: (B, D), the shape of the last forward
    /// dx = dy ⊙ m/(1 − p)
    /// ```
    ///
    /// # Panics
    /// Before any forward, if `dy`'s shape differs from the last forward's, or if `dy` is not
    /// in standard layout.
    #[track_caller]
    pub fn backward(&self, mut dy: ArrayViewMut2<A>) {
        let (dim, active) = self.last.expect("dropout backward before forward");
        assert_eq!(
            dy.dim(),
            dim,
            "dropout backward: dy shape differs from forward"
        );
        if !active {
            return;
        }
        let dys = dy
            .as_slice_mut()
            .expect("dropout gradient must be in standard layout");
        for (d, &m) in dys.iter_mut().zip(&self.mask) {
            *d *= m; // dx = dy·m/(1 − p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn ones(b: usize, d: usize) -> Array2<f64> {
        Array2::from_elem((b, d), 1.0)
    }

    #[test]
    fn eval_is_the_identity_and_draws_nothing() {
        let mut layer = Dropout::<f64>::new(0.5);
        let mut rng = mask_stream(1);
        let before = rng.clone();
        let mut x = Array2::from_shape_fn((3, 5), |(i, j)| i as f64 - j as f64 * 0.3);
        let expected = x.clone();
        layer.forward(x.view_mut(), Mode::Eval, &mut rng);
        assert_eq!(x, expected);
        assert_eq!(rng, before, "Eval must not advance the mask stream");
        let mut dy = ones(3, 5);
        layer.backward(dy.view_mut());
        assert_eq!(dy, ones(3, 5));
        assert!(layer.mask().is_none());
    }

    /// `mask()` is the last Train forward's scaled mask, exactly as long as that batch (the
    /// buffer behind it may be longer, from a larger batch before).
    #[test]
    fn the_mask_is_what_the_last_train_forward_multiplied_by() {
        let mut layer = Dropout::<f64>::new(0.5);
        let mut rng = mask_stream(4);
        for (b, d) in [(3, 5), (2, 4)] {
            let mut y = ones(b, d); // y = 1 ⊙ m/(1 − p) = the scaled mask itself
            layer.forward(y.view_mut(), Mode::Train, &mut rng);
            assert_eq!(layer.mask(), Some(y.as_slice().unwrap()), "({b}, {d})");
        }
    }

    #[test]
    fn zero_rate_is_the_identity_in_train_mode() {
        let mut layer = Dropout::<f32>::new(0.0);
        let mut rng = mask_stream(2);
        let before = rng.clone();
        let mut x = Array2::from_elem((4, 4), 3.0f32);
        layer.forward(x.view_mut(), Mode::Train, &mut rng);
        assert_eq!(x, Array2::from_elem((4, 4), 3.0f32));
        assert_eq!(rng, before, "p = 0 must not draw");
    }

    #[test]
    fn train_keeps_about_one_minus_p_and_scales_them() {
        for p in [0.2, 0.5, 0.8] {
            let mut layer = Dropout::<f64>::new(p);
            let mut rng = mask_stream(3);
            let (b, d) = (64, 1001); // odd element count exercises the remainder
            let mut x = ones(b, d);
            layer.forward(x.view_mut(), Mode::Train, &mut rng);
            let scale = 1.0 / (1.0 - p);
            let kept = x.iter().filter(|&&v| v != 0.0).count();
            assert!(x.iter().all(|&v| v == 0.0 || v == scale), "p={p}");
            let n = (b * d) as f64;
            let frac = kept as f64 / n;
            let sd = (p * (1.0 - p) / n).sqrt();
            assert!((frac - (1.0 - p)).abs() < 5.0 * sd, "p={p}: kept {frac}");
            // Backward multiplies by the same scaled mask.
            let mut dy = ones(b, d);
            layer.backward(dy.view_mut());
            assert_eq!(dy, x);
        }
    }

    #[test]
    fn mask_follows_the_documented_scheme() {
        let p = 0.3;
        let mut layer = Dropout::<f64>::new(p);
        let mut rng = mask_stream(4);
        let mut reference = mask_stream(4);
        let mut x = ones(1, 7);
        layer.forward(x.view_mut(), Mode::Train, &mut rng);
        let t = (p * 4_294_967_296.0_f64).round() as u32;
        let mut draws = Vec::new();
        for _ in 0..4 {
            let bits = reference.next_u64();
            draws.push(bits as u32);
            draws.push((bits >> 32) as u32);
        }
        let expected: Vec<f64> = draws[..7]
            .iter()
            .map(|&u| if u >= t { 1.0 / (1.0 - p) } else { 0.0 })
            .collect();
        assert_eq!(x.row(0).to_vec(), expected);
        assert_eq!(rng, reference, "7 elements consume exactly 4 draws");
    }

    #[test]
    fn same_stream_same_mask_next_forward_differs() {
        let mut layer = Dropout::<f32>::new(0.5);
        let (mut a, mut b) = (mask_stream(5), mask_stream(5));
        let mut x1 = Array2::from_elem((8, 16), 1.0f32);
        let mut x2 = x1.clone();
        layer.forward(x1.view_mut(), Mode::Train, &mut a);
        layer.forward(x2.view_mut(), Mode::Train, &mut b);
        assert_eq!(x1, x2);
        let mut x3 = Array2::from_elem((8, 16), 1.0f32);
        layer.forward(x3.view_mut(), Mode::Train, &mut a);
        assert_ne!(x1, x3);
    }

    #[test]
    #[should_panic(expected = "dropout rate must be in [0, 1)")]
    fn rate_one_is_rejected() {
        Dropout::<f32>::new(1.0);
    }
}
