//! Eval-mode logits over a whole split, and the metrics of a model on it.

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use crate::data::Split;
use crate::loss::{cross_entropy, softmax};
use crate::metrics::{accuracy, confusion_matrix, error_count, predictions};
use crate::nn::Mlp;

/// Rows per parallel chunk: bounds the float copy of the pixels to CHUNK × input floats.
const CHUNK: usize = 1024;

/// Eval-mode logits of every example of `split`.
///
/// ```text
/// shapes  split: N images of D pixels   z: (N, classes)
/// z[n] = Mlp(pixels[n] / 255)           dropout off
/// ```
/// Row chunks run in parallel; each row's logits do not depend on the chunking (the gemm never
/// splits K), so the result is bit-identical for any thread count.
///
/// # Panics
/// If the model's input width differs from the split's image size.
pub fn logits(model: &Mlp<f32>, split: &Split) -> Array2<f32> {
    let classes = *model.sizes().last().expect("an Mlp has layers");
    let mut out = Array2::<f32>::zeros((split.len(), classes));
    out.axis_chunks_iter_mut(Axis(0), CHUNK)
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut out_chunk)| {
            let rows: Vec<usize> = (c * CHUNK..c * CHUNK + out_chunk.nrows()).collect();
            let mut x = Array2::<f32>::zeros((rows.len(), split.input_size()));
            let mut labels = Vec::with_capacity(rows.len());
            split.gather_into(&rows, x.view_mut(), &mut labels);
            out_chunk.assign(&model.predict(x.view()));
        });
    out
}

/// A model's results on a split.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Mean cross-entropy at T = 1 (computed in f64 from the f32 logits).
    pub loss: f64,
    /// Fraction of correct arg-max predictions.
    pub accuracy: f64,
    /// Number of wrong predictions.
    pub errors: usize,
    /// Confusion matrix, rows = true class, columns = predicted class.
    pub confusion: Array2<usize>,
    /// The logits, (N, classes).
    pub logits: Array2<f32>,
    /// softmax(z) at T = 1 in f64, (N, classes): the scores of the ROC curves and AUCs.
    pub probabilities: Array2<f64>,
}

/// Evaluates `model` on every example of `split` (eval mode, no dropout).
///
/// ```text
/// z = logits(model, split)            q = softmax(z)          ŷ = argmax_c z[n, c]
/// loss = −(1/N) Σ_n log q[n, y_n]      accuracy = (1/N) Σ_n [ŷ_n = y_n]
/// ```
///
/// # Panics
/// If `split` is empty (a loaded data set never is), the model's input width differs from the
/// split's image size, or a label is not below the model's number of outputs (checkpoints are
/// checked for both on load).
pub fn evaluate(model: &Mlp<f32>, split: &Split) -> Evaluation {
    let z = logits(model, split);
    let labels = split.labels();
    let predicted = predictions(z.view());
    let z64 = z.mapv(f64::from);
    Evaluation {
        loss: cross_entropy(z64.view(), labels).loss,
        accuracy: accuracy(&predicted, labels),
        errors: error_count(&predicted, labels),
        confusion: confusion_matrix(&predicted, labels, z.ncols()),
        probabilities: softmax(z64.view(), 1.0),
        logits: z,
    }
}
