//! Predicted classes, accuracy, error count and the confusion matrix.

use ndarray::{Array2, ArrayView2};

use crate::scalar::Scalar;

/// The predicted class of every row: the index of its largest logit, the first one on ties.
///
/// ```text
/// pred_i = min { c : z[i, c] = max_k z[i, k] }
/// shapes  logits: (N, C)   result: (N)
/// ```
/// A NaN logit never counts as the largest (it compares false with everything), so a row with
/// some NaN entries predicts the argmax of the others and a row of only NaN predicts class 0.
/// Neither panics; a model that produces NaN shows up as a low accuracy.
///
/// # Panics
/// If there are more than 256 classes (a prediction is a `u8`).
#[track_caller]
pub fn predictions<A: Scalar>(logits: ArrayView2<A>) -> Vec<u8> {
    assert!(
        logits.ncols() <= 256,
        "{} classes do not fit in u8",
        logits.ncols()
    );
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (c, &z) in row.iter().enumerate().skip(1) {
                if z > row[best] || row[best].is_nan() && !z.is_nan() {
                    best = c;
                }
            }
            best as u8 // < 256 by the assert above
        })
        .collect()
}

/// The number of examples whose prediction differs from the label.
///
/// ```text
/// errors = #{i : pred_i ≠ y_i}
/// shapes  pred: (N)   labels: (N)
/// ```
///
/// # Panics
/// If `pred` and `labels` differ in length.
#[track_caller]
pub fn error_count(pred: &[u8], labels: &[u8]) -> usize {
    assert_eq!(
        pred.len(),
        labels.len(),
        "predictions and labels differ in length"
    );
    pred.iter().zip(labels).filter(|(p, y)| p != y).count()
}

/// The fraction of examples predicted correctly; `0.0` when there are none.
///
/// ```text
/// accuracy = #{i : pred_i = y_i} / N
/// shapes  pred: (N)   labels: (N)
/// ```
///
/// # Panics
/// If `pred` and `labels` differ in length.
#[track_caller]
pub fn accuracy(pred: &[u8], labels: &[u8]) -> f64 {
    let errors = error_count(pred, labels);
    if pred.is_empty() {
        return 0.0;
    }
    (pred.len() - errors) as f64 / pred.len() as f64
}

/// The confusion matrix: rows are true classes, columns predicted classes.
///
/// ```text
/// M[t, p] = #{i : y_i = t ∧ pred_i = p}        Σ_{t,p} M = N,   trace M = N − errors
/// shapes  pred: (N)   labels: (N)   M: (classes, classes)
/// ```
///
/// # Panics
/// If `pred` and `labels` differ in length, or a label or prediction is `≥ classes`.
#[track_caller]
pub fn confusion_matrix(pred: &[u8], labels: &[u8], classes: usize) -> Array2<usize> {
    assert_eq!(
        pred.len(),
        labels.len(),
        "predictions and labels differ in length"
    );
    let mut m = Array2::zeros((classes, classes));
    for (&p, &y) in pred.iter().zip(labels) {
        let (t, p) = (usize::from(y), usize::from(p));
        assert!(
            t < classes && p < classes,
            "class out of range 0..{classes}: true {t}, predicted {p}"
        );
        m[[t, p]] += 1;
    }
    m
}

/// Misclassified examples of each true class, from a confusion matrix.
///
/// ```text
/// errors[t] = Σ_p M[t, p] − M[t, t]          Σ_t errors[t] = total errors
/// shapes  M: (classes, classes)   errors: (classes)
/// ```
///
/// # Panics
/// If `confusion` is not square.
#[track_caller]
pub fn per_class_errors(confusion: ArrayView2<usize>) -> Vec<usize> {
    assert_eq!(
        confusion.nrows(),
        confusion.ncols(),
        "a confusion matrix is square"
    );
    confusion
        .rows()
        .into_iter()
        .enumerate()
        .map(|(t, row)| row.sum() - row[t]) // off-diagonal of row t
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn argmax_takes_the_first_of_tied_maxima() {
        let z = array![[1.0f32, 3.0, 3.0], [2.0, 2.0, 2.0], [-1.0, -5.0, -0.5]];
        assert_eq!(predictions(z.view()), [1, 0, 2]);
    }

    #[test]
    fn nan_logits_do_not_panic() {
        let nan = f64::NAN;
        let z = array![
            [nan, 1.0, 0.5],
            [0.2, nan, 0.9],
            [nan, nan, nan],
            [0.3, nan, nan]
        ];
        assert_eq!(predictions(z.view()), [1, 2, 0, 0]);
    }

    #[test]
    fn accuracy_errors_and_confusion_agree() {
        let pred = [0, 1, 2, 2, 1, 0];
        let labels = [0, 1, 1, 2, 1, 2];
        assert_eq!(error_count(&pred, &labels), 2);
        assert_eq!(accuracy(&pred, &labels), 4.0 / 6.0);
        let m = confusion_matrix(&pred, &labels, 3);
        assert_eq!(m, array![[1, 0, 0], [0, 2, 1], [1, 0, 1]]);
        assert_eq!(m.sum(), 6);
        assert_eq!(m.diag().sum(), 6 - error_count(&pred, &labels));
        // class 1: one of its three examples called 2; class 2: one of two called 0
        assert_eq!(per_class_errors(m.view()), vec![0, 1, 1]);
    }

    #[test]
    fn empty_input_has_zero_accuracy() {
        assert_eq!(accuracy(&[], &[]), 0.0);
        assert_eq!(error_count(&[], &[]), 0);
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn mismatched_lengths_panic() {
        accuracy(&[0, 1], &[0]);
    }
}
