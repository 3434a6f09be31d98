//! Losses from logits, with a temperature: softmax, cross-entropy, KL divergence and the
//! distillation loss of Hinton, Vinyals & Dean (2015), each returning its value and `dL/dz`.
//!
//! ```text
//! p = softmax(z/T)                                         softmax.rs
//! CE(y, z)      = −(1/B) Σ_b log softmax(z_b)_{y_b}        cross_entropy.rs
//! KL(p_t ‖ p_s) =  (1/B) Σ_b Σ_j p_t,bj (log p_t,bj − log p_s,bj)   kl.rs
//! L = α·CE(y, z_s) + (1−α)·s·KL(p_t ‖ p_s),  s ∈ {1, T²}   distill.rs
//! ```
//! Every reduction is "sum over classes, mean over the batch". Every function works from logits
//! through log-sum-exp, so nothing overflows for logits up to ±1e4 and `T` from 1e-2 to 1e3.
//! The derivations are in `docs/math.md`; the gradient checks in `tests/gradcheck_loss.rs`.

mod cross_entropy;
mod distill;
mod kl;
mod softmax;

use ndarray::Array2;

pub use cross_entropy::cross_entropy;
pub use distill::{DistillLoss, DistillTerms, GradientParts, SoftScale};
pub use kl::kl_divergence;
pub use softmax::{log_softmax, log_softmax_backward, softmax, softmax_backward};

/// A scalar loss (mean over the batch) and its gradient with respect to the logits.
#[derive(Debug, Clone, PartialEq)]
pub struct LossAndGrad<A> {
    /// The loss, summed over classes and averaged over the batch.
    pub loss: A,
    /// `dL/dz`, shape `(B, N)` like the logits (already divided by `B`).
    pub dz: Array2<A>,
}

/// Asserts that a batch of logits and its labels agree: `B ≥ 1`, one label per row, every
/// label `< N`.
///
/// # Panics
/// On an empty batch, a label count that differs from `B`, or a label `≥ N`.
#[track_caller]
fn assert_labels(batch: usize, classes: usize, labels: &[u8]) {
    assert!(batch > 0, "an empty batch has no mean loss");
    assert_eq!(
        labels.len(),
        batch,
        "{} labels for a batch of {batch} logit rows",
        labels.len()
    );
    if let Some((i, &y)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &y)| usize::from(y) >= classes)
    {
        panic!("label {y} at row {i} is out of range for {classes} classes");
    }
}
