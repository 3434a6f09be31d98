//! ROC curves and AUCs against scikit-learn's values and a brute-force pairwise count. The
//! scikit-learn values are printed by `tests/fixtures/make_sklearn_roc_fixtures.py`.

use distill::metrics::{auc, class_roc_curve, macro_average, one_vs_rest_auc, roc_curve};
use distill::Error;
use ndarray::array;
use proptest::prelude::*;

fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            a == e || (a - e).abs() <= 1e-15,
            "{actual:?} vs {expected:?}"
        );
    }
}

/// scikit-learn's documented example (`sklearn.metrics.roc_curve` and `auc` docstrings):
/// ```python
/// y = np.array([1, 1, 2, 2]); scores = np.array([0.1, 0.4, 0.35, 0.8])
/// fpr, tpr, thresholds = metrics.roc_curve(y, scores, pos_label=2)
/// # fpr [0, 0, .5, .5, 1], tpr [0, .5, .5, 1, 1], thresholds [inf, .8, .4, .35, .1]
/// metrics.auc(fpr, tpr)  # 0.75
/// ```
#[test]
fn sklearn_documented_example() {
    let y = [1, 1, 2, 2];
    let positive: Vec<bool> = y.iter().map(|&c| c == 2).collect();
    let curve = roc_curve(&positive, &[0.1, 0.4, 0.35, 0.8]).unwrap();
    assert_close(&curve.fpr, &[0.0, 0.0, 0.5, 0.5, 1.0]);
    assert_close(&curve.tpr, &[0.0, 0.5, 0.5, 1.0, 1.0]);
    assert_close(&curve.thresholds, &[f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
    assert_eq!(auc(&curve.fpr, &curve.tpr), 0.75);
    assert_eq!(curve.auc(), 0.75);
}

/// Many ties; scikit-learn 1.9.1:
/// ```python
/// y = np.array([1,0,1,1,0,0,1,0,1,0,0,1])
/// s = np.array([0.5,0.5,0.9,0.1,0.1,0.3,0.5,0.7,0.7,0.2,0.5,0.3])
/// fpr, tpr, thr = roc_curve(y, s); roc_auc_score(y, s)
/// # fpr [0, 0, 1/6, .5, 2/3, 5/6, 1]   tpr [0, 1/6, 1/3, 2/3, 5/6, 5/6, 1]
/// # thr [inf, .9, .7, .5, .3, .2, .1]  auc 0.625
/// ```
#[test]
fn sklearn_ties() {
    let y = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1];
    let s = [0.5, 0.5, 0.9, 0.1, 0.1, 0.3, 0.5, 0.7, 0.7, 0.2, 0.5, 0.3];
    let positive: Vec<bool> = y.iter().map(|&c| c == 1).collect();
    let curve = roc_curve(&positive, &s).unwrap();
    let sixth = 1.0 / 6.0;
    assert_close(
        &curve.fpr,
        &[
            0.0,
            0.0,
            sixth,
            0.5,
            0.6666666666666666,
            0.8333333333333334,
            1.0,
        ],
    );
    assert_close(
        &curve.tpr,
        &[
            0.0,
            sixth,
            0.3333333333333333,
            0.6666666666666666,
            0.8333333333333334,
            0.8333333333333334,
            1.0,
        ],
    );
    assert_close(
        &curve.thresholds,
        &[f64::INFINITY, 0.9, 0.7, 0.5, 0.3, 0.2, 0.1],
    );
    assert!((curve.auc() - 0.625).abs() < 1e-15);
}

/// Collinear points on the vertical and horizontal runs are dropped; scikit-learn 1.9.1:
/// ```python
/// roc_curve([1,1,1,0,0,0], [6,5,4,3,2,1.0])
/// # fpr [0,0,0,1], tpr [0,1/3,1,1], thresholds [inf,6,4,1]
/// ```
#[test]
fn sklearn_drops_intermediate_points() {
    let positive = [true, true, true, false, false, false];
    let curve = roc_curve(&positive, &[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]).unwrap();
    assert_close(&curve.fpr, &[0.0, 0.0, 0.0, 1.0]);
    assert_close(&curve.tpr, &[0.0, 1.0 / 3.0, 1.0, 1.0]);
    assert_close(&curve.thresholds, &[f64::INFINITY, 6.0, 4.0, 1.0]);
    assert_eq!(curve.auc(), 1.0);
}

/// One-vs-rest AUCs and their macro mean; scikit-learn 1.9.1:
/// ```python
/// p = np.array([[0.7,0.2,0.1],[0.4,0.3,0.3],[0.1,0.8,0.1],[0.2,0.3,0.5],
///               [0.4,0.4,0.2],[0.1,0.2,0.7],[0.3,0.3,0.4]])
/// y = np.array([0,0,1,2,1,2,0])
/// roc_auc_score(y, p, multi_class='ovr', average=None)     # [0.875, 1.0, 1.0]
/// roc_auc_score(y, p, multi_class='ovr', average='macro')  # 0.9583333333333334
/// ```
#[test]
fn sklearn_one_vs_rest() {
    let p = array![
        [0.7, 0.2, 0.1],
        [0.4, 0.3, 0.3],
        [0.1, 0.8, 0.1],
        [0.2, 0.3, 0.5],
        [0.4, 0.4, 0.2],
        [0.1, 0.2, 0.7],
        [0.3, 0.3, 0.4]
    ];
    let y = [0, 0, 1, 2, 1, 2, 0];
    let aucs = one_vs_rest_auc(p.view(), &y).unwrap();
    assert_close(&aucs, &[0.875, 1.0, 1.0]);
    assert!((macro_average(&aucs) - 0.9583333333333334).abs() < 1e-15);
    let curve0 = class_roc_curve(p.view(), &y, 0).unwrap();
    assert_eq!(curve0.auc(), aucs[0]);
}

fn roc_reason<T: std::fmt::Debug>(result: distill::Result<T>) -> String {
    match result {
        Err(Error::Roc { reason }) => reason,
        other => panic!("expected Error::Roc, got {other:?}"),
    }
}

#[test]
fn undefined_inputs_are_errors() {
    let reason = roc_reason(roc_curve(&[false, false], &[0.1, 0.2]));
    assert!(reason.contains("no positive"), "{reason}");
    let reason = roc_reason(roc_curve(&[true, true], &[0.1, 0.2]));
    assert!(reason.contains("no negative"), "{reason}");
    let reason = roc_reason(roc_curve(&[true, false], &[0.1, f64::NAN]));
    assert!(reason.contains("index 1"), "{reason}");
    roc_reason(roc_curve(&[true, false], &[f64::INFINITY, 0.0]));
    let reason = roc_reason(roc_curve(&[true, false], &[0.1]));
    assert!(reason.contains("2 labels for 1 scores"), "{reason}");
    roc_reason(roc_curve(&[], &[]));
}

#[test]
fn one_vs_rest_rejects_missing_classes_and_bad_labels() {
    let p = array![[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]];
    let reason = roc_reason(one_vs_rest_auc(p.view(), &[0, 1, 0]));
    assert!(
        reason.contains("class 2") && reason.contains("no positive"),
        "{reason}"
    );
    let reason = roc_reason(one_vs_rest_auc(p.view(), &[0, 1, 3]));
    assert!(reason.contains("label 3"), "{reason}");
    let reason = roc_reason(one_vs_rest_auc(p.view(), &[0, 1]));
    assert!(reason.contains("2 labels for 3 rows"), "{reason}");
    roc_reason(class_roc_curve(p.view(), &[0, 1, 2], 3));
}

/// AUC as the probability that a random positive outscores a random negative, ties counting 1/2.
fn pairwise_auc(positive: &[bool], scores: &[f64]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &pi) in positive.iter().enumerate() {
        for (j, &pj) in positive.iter().enumerate() {
            if pi && !pj {
                pairs += 1.0;
                if scores[i] > scores[j] {
                    wins += 1.0;
                } else if scores[i] == scores[j] {
                    wins += 0.5;
                }
            }
        }
    }
    wins / pairs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Scores drawn from a handful of levels, so ties are everywhere.
    #[test]
    fn auc_equals_pairwise_count(
        data in prop::collection::vec((any::<bool>(), 0u8..6), 2..80)
            .prop_filter("both classes present", |d| d.iter().any(|x| x.0) && d.iter().any(|x| !x.0))
    ) {
        let positive: Vec<bool> = data.iter().map(|x| x.0).collect();
        let scores: Vec<f64> = data.iter().map(|x| f64::from(x.1) / 5.0).collect();
        let curve = roc_curve(&positive, &scores).unwrap();
        prop_assert!((curve.auc() - pairwise_auc(&positive, &scores)).abs() <= 1e-12);

        // Starts at (0, 0, +inf), ends at (1, 1), monotone, thresholds strictly decreasing.
        prop_assert_eq!((curve.fpr[0], curve.tpr[0], curve.thresholds[0]), (0.0, 0.0, f64::INFINITY));
        prop_assert_eq!((*curve.fpr.last().unwrap(), *curve.tpr.last().unwrap()), (1.0, 1.0));
        prop_assert!(curve.fpr.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(curve.tpr.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(curve.thresholds.windows(2).all(|w| w[0] > w[1]));
    }
}
