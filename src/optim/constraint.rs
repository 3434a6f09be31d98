//! The max-norm constraint (Hinton et al. 2012; Srivastava et al. 2014, §5.1): a projection
//! applied after each optimiser step, not a term of the loss, so it has no gradient.
//!
//! ```text
//! W: (D_in, D_out)      column j = the incoming weights of unit j
//! n_j = ‖W[:, j]‖₂ = √(Σ_i W[i, j]²)
//! W[:, j] ← W[:, j] · C/n_j     if n_j > C        (unchanged otherwise)
//! ```
//! Columns are independent: rayon splits them into blocks of [`COLUMN_BLOCK`], and each column's
//! sum runs over `i = 0, 1, …` in the same order whatever the block, so the result is
//! bit-identical for any thread count.

use ndarray::{ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::Scalar;

/// Columns per rayon task.
pub const COLUMN_BLOCK: usize = 64;

/// Rescales every column of `w` whose L2 norm exceeds `c` to norm `c` (module docs).
///
/// ```text
/// shapes  w: (D_in, D_out)
/// n_j = √(Σ_i w[i, j]²)      w[:, j] ← w[:, j]·(c/n_j)  iff n_j > c
/// ```
///
/// # Panics
/// If `c` is not finite and > 0 (callers validate `--max-norm` first), or `w` is not in
/// standard layout (a [`crate::nn::Dense`] weight always is).
#[track_caller]
pub fn max_norm_columns<A: Scalar>(mut w: ArrayViewMut2<A>, c: f64) {
    assert!(
        c.is_finite() && c > 0.0,
        "max-norm must be finite and > 0, got {c}"
    );
    let limit = A::of(c);
    w.axis_chunks_iter_mut(Axis(1), COLUMN_BLOCK)
        .into_par_iter()
        .for_each(|mut block| {
            let mut squares = vec![A::zero(); block.ncols()];
            for row in block.rows() {
                for (s, &x) in squares.iter_mut().zip(contiguous(row.to_slice())) {
                    *s += x * x; // Σ_i w[i, j]², over i in order
                }
            }
            let scales: Vec<A> = squares
                .iter()
                .map(|&s| {
                    let norm = s.sqrt(); // n_j
                    if norm > limit {
                        limit / norm // c/n_j
                    } else {
                        A::one()
                    }
                })
                .collect();
            if scales.iter().all(|&k| k == A::one()) {
                return; // every column within the limit: a no-op, bit for bit
            }
            for mut row in block.rows_mut() {
                for (x, &k) in contiguous(row.as_slice_mut()).iter_mut().zip(&scales) {
                    *x *= k; // w[:, j] ← w[:, j]·c/n_j
                }
            }
        });
}

/// A row of a column block of a standard-layout matrix is one contiguous run: as a slice, the
/// loops above vectorise.
#[track_caller]
fn contiguous<T>(row: Option<T>) -> T {
    row.expect("max_norm_columns: w must be in standard (row-major) layout")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The definition, column by column, in f64.
    fn reference(w: &Array2<f64>, c: f64) -> Array2<f64> {
        let mut out = w.clone();
        for mut col in out.columns_mut() {
            let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > c {
                col.mapv_inplace(|x| x * c / norm);
            }
        }
        out
    }

    fn weights(rows: usize, cols: usize) -> Array2<f64> {
        // Columns of very different norms: some far above 1, some far below.
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 7 + j * 13) % 11) as f64 * 0.1 * (1.0 + (j % 5) as f64) - 0.4
        })
    }

    #[test]
    fn matches_the_definition_and_caps_every_norm() {
        for (rows, cols) in [(1, 1), (3, 5), (17, 130), (40, 64)] {
            let w = weights(rows, cols);
            for c in [0.5, 1.0, 2.0] {
                let mut got = w.clone();
                max_norm_columns(got.view_mut(), c);
                let want = reference(&w, c);
                for (g, r) in got.iter().zip(&want) {
                    assert!((g - r).abs() <= 1e-12, "{rows}x{cols} c {c}: {g} vs {r}");
                }
                for col in got.columns() {
                    let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
                    assert!(norm <= c * (1.0 + 1e-12), "norm {norm} above {c}");
                }
            }
        }
    }

    #[test]
    fn is_a_no_op_below_the_limit() {
        let w = weights(30, 100);
        let largest = w
            .columns()
            .into_iter()
            .map(|col| col.iter().map(|x| x * x).sum::<f64>().sqrt())
            .fold(0.0, f64::max);
        let mut got = w.clone();
        max_norm_columns(got.view_mut(), largest * 1.01);
        assert_eq!(got, w, "bit-identical when every column is within C");
    }

    #[test]
    fn touches_only_the_columns_above_the_limit() {
        let mut w = Array2::<f32>::zeros((2, 3));
        w.column_mut(0).assign(&ndarray::arr1(&[3.0, 4.0])); // norm 5
        w.column_mut(1).assign(&ndarray::arr1(&[0.6, 0.8])); // norm 1
        w.column_mut(2).assign(&ndarray::arr1(&[0.0, 2.0])); // norm 2 = C: unchanged
        max_norm_columns(w.view_mut(), 2.0);
        assert_eq!(w.column(0).to_vec(), vec![1.2, 1.6]); // (3, 4)·2/5
        assert_eq!(w.column(1).to_vec(), vec![0.6, 0.8]);
        assert_eq!(w.column(2).to_vec(), vec![0.0, 2.0]);
    }

    #[test]
    fn identical_for_any_thread_count() {
        let w = weights(50, 300).mapv(|x| x as f32);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut got = w.clone();
            pool.install(|| max_norm_columns(got.view_mut(), 1.0));
            got
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    #[should_panic(expected = "max-norm must be finite and > 0")]
    fn a_zero_limit_is_refused() {
        max_norm_columns(Array2::<f32>::zeros((2, 2)).view_mut(), 0.0);
    }
}
