//! Sparse categorical cross-entropy from logits (the hard-label loss).

use ndarray::{ArrayView2, Zip};

use super::softmax::log_softmax_row;
use super::{assert_labels, LossAndGrad};
use crate::Scalar;

/// Cross-entropy of integer labels against `softmax(z)`, mean over the batch, and its gradient.
///
/// ```text
/// q_b  = softmax(z_b)                                   (T = 1)
/// L    = −(1/B) Σ_b log q_{b,y_b}                       sum over the one true class, mean over the batch
/// dz_b = (q_b − onehot(y_b)) / B
/// shapes  z: (B, N)   labels: (B)   dz: (B, N)
/// ```
/// Keras' `SparseCategoricalCrossentropy(from_logits=True)`; `log q` comes from log-sum-exp, so
/// the loss stays finite even when `q_{b,y_b}` underflows to 0.
///
/// # Panics
/// If `B == 0`, `labels.len() != B`, or a label is `≥ N` (programmer errors: labels are
/// validated when the data set is loaded).
#[track_caller]
pub fn cross_entropy<A: Scalar>(z: ArrayView2<A>, labels: &[u8]) -> LossAndGrad<A> {
    let (batch, classes) = z.dim();
    assert_labels(batch, classes, labels);
    let inv_b = A::one() / A::of(batch as f64);
    let mut dz = ndarray::Array2::zeros((batch, classes));
    let mut loss = A::zero();
    Zip::from(z.rows())
        .and(dz.rows_mut())
        .and(labels)
        .for_each(|z, mut dz, &y| {
            let y = usize::from(y);
            log_softmax_row(z, A::one(), dz.view_mut()); // dz holds log q for now
            loss -= dz[y]; // −log q_y
            for (j, d) in dz.iter_mut().enumerate() {
                let onehot = if j == y { A::one() } else { A::zero() };
                *d = (d.exp() - onehot) * inv_b; // (q_j − [j = y]) / B
            }
        });
    LossAndGrad {
        loss: loss * inv_b,
        dz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn uniform_logits_give_ln_n() {
        let z = ndarray::Array2::<f64>::zeros((3, 10));
        let out = cross_entropy(z.view(), &[0, 4, 9]);
        assert!((out.loss - 10f64.ln()).abs() < 1e-15);
        // each row of the gradient sums to 0: Σ_j (q_j − onehot_j) = 1 − 1
        for row in out.dz.rows() {
            assert!(row.sum().abs() < 1e-16);
        }
    }

    #[test]
    #[should_panic(expected = "label 3 at row 1 is out of range for 3 classes")]
    fn label_out_of_range_panics() {
        cross_entropy(array![[0.0_f64, 1.0, 2.0], [0.0, 1.0, 2.0]].view(), &[0, 3]);
    }

    #[test]
    #[should_panic(expected = "1 labels for a batch of 2")]
    fn label_count_mismatch_panics() {
        cross_entropy(array![[0.0_f64, 1.0], [0.0, 1.0]].view(), &[0]);
    }
}
