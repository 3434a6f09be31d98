//! `C <- a·op(A)·op(B) + b·C` over matrixmultiply, split across rayon without splitting K.
//!
//! ndarray views carry their strides, so `op(A)` is just a view: `x.t()` is Aᵀ with its two
//! strides swapped, no copy. matrixmultiply takes any row/column strides (even negative ones).
//!
//! Threading: rayon splits C into blocks of whole rows (when M ≥ N) or whole columns (otherwise).
//! Each block is an independent smaller gemm over the full K, so every element of C is produced
//! by exactly the same sequence of floating-point operations whatever the number of blocks: the
//! result is bit-identical for any thread count. K is never split (that would change the order
//! of the sum).

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::scalar::Scalar;

/// Products smaller than this many floating-point operations (2·M·K·N) run on one thread.
///
/// Measured on the 2-core Zen 5 VM (f32, split in two vs one call): with rayon workers still
/// spinning from the previous call the split wins from ~0.5 MFLOP up, but a worker idle for
/// ≥ 30 µs has gone to sleep and waking it costs ~35 µs, so a cold split only wins from
/// ~15 MFLOP up. The output-layer products (64×1200×10 and its transposes, 1.5 MFLOP) sit
/// between bias/ReLU/loss work and lost 15-35% when split; every hidden-layer product (≥ 30 MFLOP)
/// wins either way. 8 MFLOP splits the latter and keeps the former serial.
const PARALLEL_MIN_FLOPS: usize = 8_000_000;

/// Blocks are cut at multiples of this many rows/columns, so each block keeps whole
/// micro-kernel tiles (matrixmultiply's f32 AVX-512 kernel is 16×16). Measured: 16 and 1 are
/// within noise of each other; one block per thread beats 2 or 3 per thread by 2-9%.
const BLOCK_ALIGN: usize = 16;

/// General matrix multiply: `C <- alpha·A·B + beta·C`.
///
/// ```text
/// shapes  A: (M, K)   B: (K, N)   C: (M, N)
/// C[i,j] <- alpha · Σ_k A[i,k]·B[k,j] + beta · C[i,j]
/// ```
/// Pass `x.t()` for a transposed operand. With `beta = 1` it accumulates (`dW += xᵀ·dy`); with
/// `beta = 0` C is overwritten without being read.
///
/// # Panics
/// If the shapes do not agree (`A` is M×K, `B` is K×N, `C` is M×N).
#[track_caller]
pub fn gemm<A: Scalar>(
    alpha: A,
    a: ArrayView2<A>,
    b: ArrayView2<A>,
    beta: A,
    mut c: ArrayViewMut2<A>,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(k, k2, "gemm: A is {m}x{k} but B is {k2}x{n}");
    assert_eq!(
        c.dim(),
        (m, n),
        "gemm: C is {:?}, expected ({m}, {n})",
        c.dim()
    );

    if alpha == A::one() && transpose_first(m, k, n) {
        // Cᵀ = op(B)ᵀ·op(A)ᵀ: the same bits (see `transpose_first`).
        return gemm(alpha, b.t(), a.t(), beta, c.reversed_axes());
    }
    let threads = rayon::current_num_threads();
    let flops = 2usize.saturating_mul(m).saturating_mul(k).saturating_mul(n);
    if threads < 2 || flops < PARALLEL_MIN_FLOPS {
        return gemm_serial(alpha, a, b, beta, c);
    }
    if m >= n {
        let rows = block_len(m, threads);
        c.axis_chunks_iter_mut(Axis(0), rows)
            .into_par_iter()
            .zip(a.axis_chunks_iter(Axis(0), rows).into_par_iter())
            .for_each(|(c_blk, a_blk)| gemm_serial(alpha, a_blk, b, beta, c_blk));
    } else {
        let cols = block_len(n, threads);
        c.axis_chunks_iter_mut(Axis(1), cols)
            .into_par_iter()
            .zip(b.axis_chunks_iter(Axis(1), cols).into_par_iter())
            .for_each(|(c_blk, b_blk)| gemm_serial(alpha, a, b_blk, beta, c_blk));
    }
}

/// Products with fewer output columns than this keep `C = A·B` (see [`transpose_first`]).
const TRANSPOSE_MIN_N: usize = 512;

/// Whether to compute `Cᵀ = Bᵀ·Aᵀ` instead of `C = A·B` (when `α = 1`): when M is the
/// smallest dimension and N is wide (a batch of 64 against a wide weight matrix: the forward
/// `x·W` and the backward `dy·Wᵀ` of the teacher's and the paper's 800-wide layers).
///
/// matrixmultiply packs B in KC×NC blocks (256 × up to 1024) and A in MC×KC blocks (64×256),
/// so a wide weight matrix streams better as A. Measured on the Zen 3 VM (512 KiB L2 per
/// core), 2 threads, direct time / transposed time, 64×784×N: N = 300 0.997-1.006 (each
/// thread's B block fits in L2: equal), 600 1.04-1.05, 800 1.05-1.07, 1200 1.06-1.22;
/// 64×1200×1200 1.08-1.15, `dy·Wᵀ` at 64×1200×1200 1.04-1.09. The `dW = xᵀ·dy` products
/// (K = 64) are 1-7 % slower transposed and are left alone (M > K).
///
/// **Why the bits are the same.** Each element is `α·Σ_k A[i,k]·B[k,j] + β·C[i,j]`, its sum
/// taken over the same KC blocks in the same k order either way (`a·b` and `b·a` are the same
/// IEEE product). What could differ is the last step of a tile: matrixmultiply finishes a full
/// tile as `fma(α, ab, β·c)` and an edge tile as `β·c + round(α·ab)`, and transposing moves
/// elements between full and edge tiles when the kernel is not square (f64's AVX kernel is
/// 8×4). With `α = 1` both are `round(β·c + ab)`, so `gemm` transposes only then, which is
/// every product the engine computes. `transposing_keeps_every_bit` checks it through `gemm`
/// itself, at 2 threads, in f32 and f64, with edge tiles and α ≠ 1 too.
fn transpose_first(m: usize, k: usize, n: usize) -> bool {
    m < n && m < k && n >= TRANSPOSE_MIN_N
}

/// Length of each of `parts` blocks covering `len`, rounded up to whole tiles.
fn block_len(len: usize, parts: usize) -> usize {
    len.div_ceil(parts).next_multiple_of(BLOCK_ALIGN).max(1)
}

/// One matrixmultiply call on the calling thread.
fn gemm_serial<A: Scalar>(
    alpha: A,
    a: ArrayView2<A>,
    b: ArrayView2<A>,
    beta: A,
    mut c: ArrayViewMut2<A>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (rsa, csa) = (a.strides()[0], a.strides()[1]);
    let (rsb, csb) = (b.strides()[0], b.strides()[1]);
    let (rsc, csc) = (c.strides()[0], c.strides()[1]);
    // SAFETY: the views guarantee that pointer + strides address m×k, k×n and m×n valid
    // elements; C is a unique mutable view, so it does not alias A or B.
    unsafe {
        A::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            rsc,
            csc,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    fn random<A: Scalar>(rows: usize, cols: usize, rng: &mut impl Rng) -> Array2<A> {
        Array2::from_shape_fn((rows, cols), |_| A::of(rng.gen_range(-1.0..1.0)))
    }

    /// `gemm` (which transposes where [`transpose_first`] says so, then splits over 2 threads)
    /// against one direct matrixmultiply call, bit for bit: shapes the rule applies to, with
    /// edge tiles in both directions and several KC blocks; A and B row- or column-major; α = 1
    /// (transposed) and α ≠ 1 (not transposed: it would change bits in f64); β = 0, 1, 0.7.
    fn gemm_matches_the_direct_product<A: Scalar>() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(17);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        for (m, k, n) in [(60, 784, 1200), (17, 300, 530), (64, 784, TRANSPOSE_MIN_N)] {
            assert!(transpose_first(m, k, n));
            for (a_t, b_t) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = match a_t {
                    false => random::<A>(m, k, &mut rng),
                    true => random::<A>(k, m, &mut rng).reversed_axes(),
                };
                let b = match b_t {
                    false => random::<A>(k, n, &mut rng),
                    true => random::<A>(n, k, &mut rng).reversed_axes(),
                };
                let c0 = random::<A>(m, n, &mut rng);
                for (alpha, beta) in [(1.0, 0.0), (1.0, 1.0), (1.0, 0.7), (0.3, 0.0), (0.3, 0.7)] {
                    let (alpha, beta) = (A::of(alpha), A::of(beta));
                    let mut direct = c0.clone();
                    gemm_serial(alpha, a.view(), b.view(), beta, direct.view_mut());
                    let mut engine = c0.clone();
                    pool.install(|| gemm(alpha, a.view(), b.view(), beta, engine.view_mut()));
                    for (x, y) in direct.iter().zip(&engine) {
                        assert!(
                            x.integer_decode() == y.integer_decode(),
                            "({m}, {k}, {n}) a_t {a_t} b_t {b_t} α {alpha:?} β {beta:?}: \
                             direct {x:?}, gemm {y:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn transposing_keeps_every_bit() {
        gemm_matches_the_direct_product::<f32>();
        gemm_matches_the_direct_product::<f64>();
    }

    /// The batch-by-wide-weights products go through the transposed form; the `dW` ones and
    /// the 300-wide student's do not.
    #[test]
    fn the_batch_side_products_are_transposed() {
        assert!(transpose_first(64, 784, 1200)); // x·W₁
        assert!(transpose_first(64, 1200, 1200)); // h·W₂, dy·W₂ᵀ
        assert!(transpose_first(64, 784, 800)); // the paper's 800-800 student
        assert!(!transpose_first(64, 784, 300)); // the 784-300 student's x·W₁
        assert!(!transpose_first(784, 64, 1200)); // dW₁ = xᵀ·dy
        assert!(!transpose_first(1200, 64, 1200)); // dW₂
        assert!(!transpose_first(64, 1200, 10)); // the logits
        assert!(!transpose_first(64, 10, 1200)); // dy·W₃ᵀ, K = 10

        // The edges of the rule: M strictly the smallest, N from TRANSPOSE_MIN_N on.
        assert!(!transpose_first(800, 1000, 800));
        assert!(!transpose_first(64, 64, 1200));
        assert!(transpose_first(64, 784, TRANSPOSE_MIN_N));
        assert!(!transpose_first(64, 784, TRANSPOSE_MIN_N - 1));
    }
}
