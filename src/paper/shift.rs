//! The bias-shift search: one shared shift δ for some classes' logits, chosen by the fewest
//! VALIDATION errors (the paper chose its shifts on the test set).
//!
//! ```text
//! errors(δ, split) = #{n : argmax_c (z[n, c] + δ·[c ∈ classes]) ≠ y_n}
//! chosen = argmin_δ errors(δ, validation)    ties: the smallest |δ|, then the smallest δ
//! ```
//! A bias shift of the output layer adds exactly δ to those logits for every input, so the
//! curve needs the logits once per split, not one forward pass per δ. (The shifted checkpoint
//! adds δ to the bias before the sum `h·W + b` is rounded; its own evaluation can differ from
//! the curve only on an example whose top two shifted logits tie to within an f32 rounding.)

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::metrics::{error_count, predictions};

/// Errors against the shift, on validation and on test, and the chosen shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftSearch {
    /// The classes whose logits are shifted together.
    pub classes: Vec<u8>,
    /// The chosen shift, argmin of the validation errors.
    pub chosen: f64,
    /// Where `chosen` was chosen: always `"validation"`.
    pub chosen_on: String,
    /// Validation errors at `chosen`.
    pub validation_errors_at_chosen: usize,
    /// Test errors at `chosen` (by the curve; the shifted model's own are in its report).
    pub test_errors_at_chosen: usize,
    /// The shift the paper used (chosen there on the test set).
    pub paper_shift: f64,
    /// Test errors at the paper's shift, for comparison only.
    pub test_errors_at_paper_shift: usize,
    /// Every shift tried, increasing.
    pub deltas: Vec<f64>,
    /// Validation errors at each shift.
    pub validation_errors: Vec<usize>,
    /// Test errors at each shift.
    pub test_errors: Vec<usize>,
    /// Examples in the validation split (the denominator of the validation error rate).
    pub validation_examples: usize,
    /// Examples in the test set.
    pub test_examples: usize,
}

impl ShiftSearch {
    /// `(validation, test)` error rates in % at each shift.
    pub fn rates(&self) -> (Vec<f64>, Vec<f64>) {
        let rate = |errors: &[usize], n: usize| -> Vec<f64> {
            errors
                .iter()
                .map(|&e| 100.0 * e as f64 / n.max(1) as f64)
                .collect()
        };
        (
            rate(&self.validation_errors, self.validation_examples),
            rate(&self.test_errors, self.test_examples),
        )
    }
}

/// Errors of logits `z` against `labels` when `delta` is added to the logits of `classes`.
///
/// ```text
/// errors = #{n : argmax_c (z[n, c] + δ·[c ∈ classes]) ≠ y_n}     (first of tied maxima)
/// shapes  z: (N, classes)   labels: (N)
/// ```
///
/// # Panics
/// If a class is not a column of `z`, or `labels` is not N long.
#[track_caller]
pub fn errors_with_shift(z: ArrayView2<f32>, labels: &[u8], classes: &[u8], delta: f64) -> usize {
    let mut shifted = z.to_owned();
    for &c in classes {
        shifted
            .column_mut(usize::from(c))
            .mapv_inplace(|v| v + delta as f32); // z + δ
    }
    error_count(&predictions(shifted.view()), labels)
}

/// Searches `deltas` for the shift of `classes` with the fewest validation errors, and records
/// the test errors along the way and at `paper_shift`.
///
/// # Panics
/// If `deltas` is empty, or as [`errors_with_shift`].
#[track_caller]
pub fn search(
    classes: &[u8],
    deltas: &[f64],
    (z_val, y_val): (ArrayView2<f32>, &[u8]),
    (z_test, y_test): (ArrayView2<f32>, &[u8]),
    paper_shift: f64,
) -> ShiftSearch {
    assert!(
        !deltas.is_empty(),
        "a shift search needs at least one shift"
    );
    let curve = |z: ArrayView2<f32>, y: &[u8]| -> Vec<usize> {
        deltas
            .iter()
            .map(|&d| errors_with_shift(z, y, classes, d))
            .collect()
    };
    let validation_errors = curve(z_val, y_val);
    let test_errors = curve(z_test, y_test);
    let best = (0..deltas.len())
        .min_by(|&a, &b| {
            let key = |i: usize| (validation_errors[i], deltas[i].abs());
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then(deltas[a].total_cmp(&deltas[b]))
        })
        .expect("deltas is not empty");
    ShiftSearch {
        classes: classes.to_vec(),
        chosen: deltas[best],
        chosen_on: "validation".to_string(),
        validation_errors_at_chosen: validation_errors[best],
        test_errors_at_chosen: test_errors[best],
        paper_shift,
        test_errors_at_paper_shift: errors_with_shift(z_test, y_test, classes, paper_shift),
        deltas: deltas.to_vec(),
        validation_errors,
        test_errors,
        validation_examples: y_val.len(),
        test_examples: y_test.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn a_shift_moves_the_decision_exactly_where_the_logits_cross() {
        // Row 0: class 1 leads class 0 by 2; row 1: class 0 leads by 1.
        let z = array![[0.0f32, 2.0], [1.0, 0.0]];
        let labels = [0, 0];
        assert_eq!(errors_with_shift(z.view(), &labels, &[0], 0.0), 1);
        assert_eq!(errors_with_shift(z.view(), &labels, &[0], 2.5), 0); // class 0 now leads both
        assert_eq!(errors_with_shift(z.view(), &labels, &[0], -1.5), 2);
        assert_eq!(errors_with_shift(z.view(), &labels, &[1], -2.5), 0); // the same, from class 1
    }

    #[test]
    fn the_search_picks_the_fewest_validation_errors_nearest_zero() {
        // Validation: the label-0 row needs δ > 2.2 on class 0; the label-1 row stays right
        // while δ < 3 (a tie goes to the first class). So every δ in (2.2, 3) is best; the
        // grid's only one is 2.5.
        let z_val = array![[0.0f32, 2.2], [0.0, 3.0]];
        let y_val = [0, 1];
        let z_test = array![[0.0f32, 1.0]];
        let y_test = [1];
        let deltas: Vec<f64> = (-8..=8).map(|k| f64::from(k) / 2.0).collect();
        let s = search(
            &[0],
            &deltas,
            (z_val.view(), &y_val),
            (z_test.view(), &y_test),
            1.5,
        );
        assert_eq!(s.chosen, 2.5);
        assert_eq!(s.validation_errors_at_chosen, 0);
        assert_eq!(s.test_errors_at_chosen, 1, "the test row flips at δ ≥ 1");
        assert_eq!(s.test_errors_at_paper_shift, 1);
        assert_eq!(s.chosen_on, "validation");
        assert_eq!(s.validation_errors.len(), deltas.len());
        let zero = deltas.iter().position(|&d| d == 0.0).unwrap();
        assert_eq!(s.validation_errors[zero], 1);
        assert_eq!(s.test_errors[zero], 0);
    }

    #[test]
    fn rates_are_percentages_of_each_splits_own_size() {
        let s = ShiftSearch {
            classes: vec![3],
            chosen: 0.0,
            chosen_on: "validation".to_string(),
            validation_errors_at_chosen: 0,
            test_errors_at_chosen: 2,
            paper_shift: 1.0,
            test_errors_at_paper_shift: 5,
            deltas: vec![0.0, 1.0],
            validation_errors: vec![0, 3],
            test_errors: vec![2, 5],
            validation_examples: 4,
            test_examples: 8,
        };
        // 100 · errors / examples, each split over its own count.
        assert_eq!(s.rates(), (vec![0.0, 75.0], vec![25.0, 62.5]));
    }

    #[test]
    fn ties_go_to_the_smallest_shift() {
        let z = array![[5.0f32, 0.0]];
        let s = search(
            &[1],
            &[-1.0, 0.0, 1.0],
            (z.view(), &[0]),
            (z.view(), &[0]),
            0.0,
        );
        assert_eq!(
            s.chosen, 0.0,
            "every shift is right: the search keeps δ = 0"
        );
    }
}
