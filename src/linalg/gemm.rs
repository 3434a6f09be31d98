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
