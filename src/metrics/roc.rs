//! ROC curves and the area under them, with scikit-learn's definitions.
//!
//! [`roc_curve`] follows `sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate=True)`
//! step by step (its helper `_binary_clf_curve`, now `confusion_matrix_at_thresholds`):
//!
//! ```text
//! 1. sort the examples by score, descending (stable)
//! 2. one threshold per distinct score, plus the last index:  thr_k = s_(i_k)
//!    tps_k = #{positives with s ≥ thr_k}     fps_k = (i_k + 1) − tps_k
//! 3. drop_intermediate (when there are more than 2 thresholds): keep the first and last
//!    point and every point k where the curve bends,
//!    fps_{k−1} − 2·fps_k + fps_{k+1} ≠ 0  or  tps_{k−1} − 2·tps_k + tps_{k+1} ≠ 0
//!    (numpy's `np.diff(x, 2)`; a point on a straight segment is dropped)
//! 4. prepend (fps, tps, thr) = (0, 0, +∞) so the curve starts at the origin
//! 5. fpr = fps / fps_last      tpr = tps / tps_last
//! ```
//! scikit-learn answers a class with no positive (or no negative) examples with a warning and
//! a curve of NaN; here that is an [`Error::Roc`], as are non-finite scores (which scikit-learn
//! also rejects) and inputs of different lengths.

use ndarray::{ArrayView2, Axis};

use crate::error::{Error, Result};

/// A receiver operating characteristic curve: one point per kept threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    /// False-positive rates, non-decreasing from 0 to 1.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing from 0 to 1.
    pub tpr: Vec<f64>,
    /// Decreasing score thresholds; `thresholds[0] = +∞` (predict nothing positive). Point `i` is
    /// the rates of the rule "positive ⇔ score ≥ thresholds[i]".
    pub thresholds: Vec<f64>,
}

impl RocCurve {
    /// The area under this curve, by the trapezoid rule (see [`auc`]).
    pub fn auc(&self) -> f64 {
        auc(&self.fpr, &self.tpr)
    }
}

/// The ROC curve of `scores` for the binary truth `positive`, as `sklearn.metrics.roc_curve`
/// with `drop_intermediate=True` computes it (the steps are in the module docs).
///
/// ```text
/// tpr(t) = #{i : positive_i ∧ s_i ≥ t} / #{i : positive_i}
/// fpr(t) = #{i : ¬positive_i ∧ s_i ≥ t} / #{i : ¬positive_i}
/// shapes  positive: (N)   scores: (N)   fpr, tpr, thresholds: (K), 2 ≤ K ≤ N + 1
/// ```
///
/// # Errors
/// [`Error::Roc`] when the lengths differ, a score is NaN or infinite, or there is no positive
/// or no negative example (the curve is then undefined).
pub fn roc_curve(positive: &[bool], scores: &[f64]) -> Result<RocCurve> {
    check_inputs(positive, scores)?;
    let (fps, tps, thresholds) = counts_at_thresholds(positive, scores);
    let keep = bends(&fps, &tps);
    let fps_last = *fps.last().expect("at least one threshold") as f64;
    let tps_last = *tps.last().expect("at least one threshold") as f64;

    let mut curve = RocCurve {
        fpr: vec![0.0],
        tpr: vec![0.0],
        thresholds: vec![f64::INFINITY],
    };
    for k in keep {
        curve.fpr.push(fps[k] as f64 / fps_last);
        curve.tpr.push(tps[k] as f64 / tps_last);
        curve.thresholds.push(thresholds[k]);
    }
    Ok(curve)
}

/// The area under a curve by the trapezoid rule (`sklearn.metrics.auc` for increasing `x`).
///
/// ```text
/// A = Σ_i (x_{i+1} − x_i) · (y_i + y_{i+1}) / 2
/// shapes  x: (K)   y: (K)        (fewer than 2 points: A = 0)
/// ```
///
/// # Panics
/// If `x` and `y` differ in length.
#[track_caller]
pub fn auc(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "auc: x and y differ in length");
    x.windows(2)
        .zip(y.windows(2))
        .map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0)
        .sum()
}

/// The ROC curve of class `class` against all the others, scored by column `class` of `probs`.
///
/// ```text
/// positive_i = (labels_i = class)      scores_i = probs[i, class]
/// shapes  probs: (N, C)   labels: (N)
/// ```
///
/// # Errors
/// [`Error::Roc`] when `labels` and `probs` disagree on `N`, `class ≥ C`, or as [`roc_curve`].
pub fn class_roc_curve(probs: ArrayView2<f64>, labels: &[u8], class: usize) -> Result<RocCurve> {
    if labels.len() != probs.nrows() {
        return Err(roc_error(format!(
            "{} labels for {} rows of scores",
            labels.len(),
            probs.nrows()
        )));
    }
    if class >= probs.ncols() {
        return Err(roc_error(format!(
            "class {class} out of range: scores have {} columns",
            probs.ncols()
        )));
    }
    let positive: Vec<bool> = labels.iter().map(|&y| usize::from(y) == class).collect();
    let scores: Vec<f64> = probs.index_axis(Axis(1), class).to_vec();
    roc_curve(&positive, &scores).map_err(|e| match e {
        Error::Roc { reason } => roc_error(format!("class {class}: {reason}")),
        other => other,
    })
}

/// One-vs-rest AUC of every class: `sklearn.metrics.roc_auc_score(labels, probs,
/// multi_class="ovr", average=None)`.
///
/// ```text
/// auc_c = AUC(ROC(labels = c, probs[:, c]))     for c in 0..C
/// shapes  probs: (N, C)   labels: (N)   result: (C)
/// ```
///
/// # Errors
/// [`Error::Roc`] when a class has no positive or no negative example, a label is `≥ C`, a score
/// is not finite, or `labels` and `probs` disagree on `N`.
pub fn one_vs_rest_auc(probs: ArrayView2<f64>, labels: &[u8]) -> Result<Vec<f64>> {
    if let Some((i, &y)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &y)| usize::from(y) >= probs.ncols())
    {
        return Err(roc_error(format!(
            "label {y} at index {i} out of range: scores have {} columns",
            probs.ncols()
        )));
    }
    (0..probs.ncols())
        .map(|c| class_roc_curve(probs, labels, c).map(|curve| curve.auc()))
        .collect()
}

/// The macro average of per-class AUCs (`average="macro"`): their unweighted mean.
///
/// ```text
/// macro = (1/C) Σ_c auc_c
/// shapes  aucs: (C)
/// ```
///
/// # Panics
/// If `aucs` is empty.
#[track_caller]
pub fn macro_average(aucs: &[f64]) -> f64 {
    assert!(!aucs.is_empty(), "macro_average of no AUCs");
    aucs.iter().sum::<f64>() / aucs.len() as f64
}

fn roc_error(reason: String) -> Error {
    Error::Roc { reason }
}

fn check_inputs(positive: &[bool], scores: &[f64]) -> Result<()> {
    if positive.len() != scores.len() {
        return Err(roc_error(format!(
            "{} labels for {} scores",
            positive.len(),
            scores.len()
        )));
    }
    if let Some((i, s)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(roc_error(format!("score {s} at index {i} is not finite")));
    }
    let positives = positive.iter().filter(|&&p| p).count();
    if positives == 0 {
        return Err(roc_error("no positive examples: ROC undefined".into()));
    }
    if positives == positive.len() {
        return Err(roc_error("no negative examples: ROC undefined".into()));
    }
    Ok(())
}

/// `(fps, tps, thresholds)` at every distinct score, scores descending (steps 1–2).
fn counts_at_thresholds(positive: &[bool], scores: &[f64]) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Stable and total; -0.0 and 0.0 end up adjacent and are then grouped by `!=` as numpy does.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));

    let (mut fps, mut tps, mut thresholds) = (Vec::new(), Vec::new(), Vec::new());
    let mut tp = 0;
    for (rank, &i) in order.iter().enumerate() {
        tp += usize::from(positive[i]);
        let last_of_tie = order
            .get(rank + 1)
            .is_none_or(|&next| scores[next] != scores[i]);
        if last_of_tie {
            tps.push(tp);
            fps.push(rank + 1 - tp);
            thresholds.push(scores[i]);
        }
    }
    (fps, tps, thresholds)
}

/// Indices of the points that survive `drop_intermediate` (step 3).
fn bends(fps: &[usize], tps: &[usize]) -> Vec<usize> {
    let n = fps.len();
    if n <= 2 {
        return (0..n).collect();
    }
    let second_diff = |v: &[usize], k: usize| v[k - 1] as i64 - 2 * v[k] as i64 + v[k + 1] as i64;
    (0..n)
        .filter(|&k| k == 0 || k == n - 1 || second_diff(fps, k) != 0 || second_diff(tps, k) != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_form_one_step() {
        // positives at scores 0.9 and 0.5, negatives at 0.5 and 0.1: the tie at 0.5 is one step.
        let (fps, tps, thr) =
            counts_at_thresholds(&[true, true, false, false], &[0.9, 0.5, 0.5, 0.1]);
        assert_eq!(fps, [0, 1, 2]);
        assert_eq!(tps, [1, 2, 2]);
        assert_eq!(thr, [0.9, 0.5, 0.1]);
    }

    #[test]
    fn collinear_points_are_dropped() {
        // (0,0) (0,1) (0,2) (1,2) (2,2): the points at k = 1 and k = 3 lie on straight runs.
        let keep = bends(&[0, 0, 0, 1, 2], &[0, 1, 2, 2, 2]);
        assert_eq!(keep, [0, 2, 4]);
    }

    #[test]
    fn signed_zeros_are_one_threshold() {
        let (_, _, thr) = counts_at_thresholds(&[true, false, true], &[0.0, -0.0, 0.0]);
        assert_eq!(thr.len(), 1);
    }
}
