//! What a fit minimises: a loss of a batch of logits, its named terms and its gradient.

use ndarray::ArrayView2;

use crate::loss::cross_entropy;

/// Which part of the data a batch comes from (an objective may hold per-part lookups, such as
/// the teacher's cached logits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The training part (after the validation split).
    Train,
    /// The validation part.
    Validation,
}

/// The loss of one batch: every named term (the last is the one minimised) and `∂L/∂z`.
#[derive(Debug, Clone)]
pub struct BatchLoss {
    /// One value per [`Objective::terms`] name, each a mean over the batch.
    pub terms: Vec<f64>,
    /// `∂L/∂z`, shape (B, classes), already divided by B.
    pub dz: ndarray::Array2<f32>,
}

impl BatchLoss {
    /// The minimised loss (the last term).
    pub fn total(&self) -> f64 {
        *self
            .terms
            .last()
            .expect("an objective has at least one term")
    }
}

/// A differentiable training objective on logits.
pub trait Objective {
    /// Names of the loss terms, as they appear in the history; the last is the total.
    fn terms(&self) -> &'static [&'static str];

    /// Loss terms and gradient for logits `z` (B, classes) of the examples `indices` of `part`
    /// with labels `labels`.
    fn batch(
        &mut self,
        z: ArrayView2<f32>,
        labels: &[u8],
        indices: &[usize],
        part: Part,
    ) -> BatchLoss;
}

/// Plain sparse cross-entropy: the teacher and the student trained from scratch.
///
/// ```text
/// L = −(1/B) Σ_b log softmax(z_b)[y_b]        ∂L/∂z = (softmax(z) − onehot(y)) / B
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CrossEntropy;

impl Objective for CrossEntropy {
    fn terms(&self) -> &'static [&'static str] {
        &["loss"]
    }

    fn batch(&mut self, z: ArrayView2<f32>, labels: &[u8], _: &[usize], _: Part) -> BatchLoss {
        let ce = cross_entropy(z, labels);
        BatchLoss {
            terms: vec![f64::from(ce.loss)],
            dz: ce.dz,
        }
    }
}
