//! Literal values from an independent NumPy computation, and finiteness on extreme inputs.

use distill::loss::{
    cross_entropy, kl_divergence, log_softmax, log_softmax_backward, softmax, softmax_backward,
    DistillLoss, SoftScale,
};
use distill::Scalar;
use ndarray::{array, Array2};

// Produced by NumPy 2.4 (python3, float64) with this snippet; note it does NOT subtract the row
// maximum, so it is a different computation from the Rust code, not a transcription of it:
//
// import numpy as np
// np.set_printoptions(precision=17, floatmode="unique")
// z_s = np.array([[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.7, 3.0]])
// z_t = np.array([[1.0, -2.0, 4.0, 0.0], [0.3, 0.1, -1.0, 5.0]])
// y = np.array([2, 0]); T = 3.0; alpha = 0.3; B = 2
// def log_softmax(z, T):
//     a = z / T
//     return a - np.log(np.exp(a).sum(axis=1, keepdims=True))
// log_q, log_ps, log_pt = log_softmax(z_s, 1.0), log_softmax(z_s, T), log_softmax(z_t, T)
// q, p_s, p_t = np.exp(log_q), np.exp(log_ps), np.exp(log_pt)
// onehot = np.eye(4)[y]
// ce = -log_q[np.arange(B), y].mean();       dce = (q - onehot) / B
// kl = (p_t * (log_pt - log_ps)).sum(axis=1).mean(); dkl = (p_s - p_t) / (T * B)
// for name, s in [("one", 1.0), ("t-squared", T * T)]:
//     print(name, repr(alpha * ce + (1 - alpha) * s * kl), repr(alpha * dce + (1 - alpha) * s * dkl))
// print("softmax T", repr(p_s)); print("ce", repr(ce), repr(dce)); print("kl", repr(kl), repr(dkl))

const TOL: f64 = 1e-12;
const T: f64 = 3.0;
const LABELS: [u8; 2] = [2, 0];

fn inputs() -> (Array2<f64>, Array2<f64>) {
    let z_s = array![[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.7, 3.0]];
    let z_t = array![[1.0, -2.0, 4.0, 0.0], [0.3, 0.1, -1.0, 5.0]];
    (z_s, z_t)
}

#[track_caller]
fn assert_close(what: &str, got: &Array2<f64>, want: [[f64; 4]; 2]) {
    for (g, w) in got.iter().zip(want.iter().flatten()) {
        assert!((g - w).abs() <= TOL, "{what}: {g} vs {w}\n{got}");
    }
}

#[test]
fn softmax_with_temperature_matches_numpy() {
    let (z_s, _) = inputs();
    let want = [
        [
            0.2421058219445507,
            0.14684460390429768,
            0.39916501840031854,
            0.2118845557508333,
        ],
        [
            0.26473439412943717,
            0.17163904630228385,
            0.12715333288116495,
            0.43647322668711414,
        ],
    ];
    assert_close("softmax", &softmax(z_s.view(), T), want);
    let log_p = log_softmax(z_s.view(), T).mapv(f64::exp);
    assert_close("exp(log_softmax)", &log_p, want);
}

#[test]
fn cross_entropy_matches_numpy() {
    let (z_s, _) = inputs();
    let out = cross_entropy(z_s.view(), &LABELS);
    assert!((out.loss - 1.0607062579889375).abs() <= TOL, "{}", out.loss);
    let want = [
        [
            0.078429659072918,
            0.017500022389326946,
            -0.14850265414256275,
            0.052572972680317895,
        ],
        [
            -0.4147488572685949,
            0.02323364678678837,
            0.009446095868637809,
            0.38206911461316867,
        ],
    ];
    assert_close("dCE", &out.dz, want);
}

#[test]
fn kl_matches_numpy() {
    let (z_s, z_t) = inputs();
    let out = kl_divergence(z_t.view(), z_s.view(), T);
    assert!(
        (out.loss - 0.08044105270446614).abs() <= TOL,
        "{}",
        out.loss
    );
    let want = [
        [
            0.005648214758675667,
            0.011707670326201841,
            -0.027804366784206863,
            0.010448481699329415,
        ],
        [
            0.02152200909457599,
            0.007463685075903527,
            0.006539387233264883,
            -0.03552508140374439,
        ],
    ];
    assert_close("dKL", &out.dz, want);
}

#[test]
fn distillation_loss_matches_numpy_for_both_scalings() {
    let (z_s, z_t) = inputs();
    let cases = [
        (
            SoftScale::One,
            0.37452061428980754,
            [
                [
                    0.027482648052948366,
                    0.013445375945139372,
                    -0.06401385299171362,
                    0.023085828993625955,
                ],
                [
                    -0.10935925081437527,
                    0.01219467358916898,
                    0.00741139982387676,
                    0.08975317740132951,
                ],
            ],
        ),
        (
            SoftScale::TSquared,
            0.8249905094348179,
            [
                [
                    0.0591126507015321,
                    0.07900832977186968,
                    -0.21971830698327205,
                    0.08159732650987069,
                ],
                [
                    0.011164000115250289,
                    0.05399131001422873,
                    0.044031968330160105,
                    -0.10918727845963908,
                ],
            ],
        ),
    ];
    for (soft_scale, total, dz) in cases {
        let loss = DistillLoss {
            alpha: 0.3,
            temperature: T,
            soft_scale,
        };
        let terms = loss.compute(z_s.view(), z_t.view(), &LABELS);
        assert!((terms.student - 1.0607062579889375).abs() <= TOL);
        assert!((terms.distill - 0.08044105270446614).abs() <= TOL);
        assert!(
            (terms.total - total).abs() <= TOL,
            "{soft_scale}: {}",
            terms.total
        );
        assert_close(&format!("dL/dz_s {soft_scale}"), &terms.dz_s, dz);
    }
}

/// Every loss on logits of ±1e4 at temperatures from 1e-2 to 1e3: finite values, rows of
/// probabilities summing to 1, non-negative losses.
fn extremes<A: Scalar>() {
    let big = 1e4;
    let z_s = array![
        [big, -big, 0.0, 0.5 * big],
        [-big, -big, -big, -big],
        [0.0, 1e-3, -big, big]
    ]
    .mapv(A::of);
    let z_t = array![
        [-big, big, 0.0, big],
        [big, -big, big, 0.0],
        [big, -big, 0.0, -0.5 * big]
    ]
    .mapv(A::of);
    let labels = [1, 3, 0];
    let finite = |what: &str, x: &Array2<A>, t: f64| {
        assert!(
            x.iter().all(|v| v.is_finite()),
            "{} T={t} {what}: {x}",
            A::NAME
        );
    };
    for t in [1e-2, 0.1, 1.0, 10.0, 1e3] {
        let ta = A::of(t);
        let p = softmax(z_s.view(), ta);
        let log_p = log_softmax(z_s.view(), ta);
        finite("softmax", &p, t);
        finite("log_softmax", &log_p, t);
        for row in p.rows() {
            let sum: A = row.sum();
            assert!(
                (sum - A::one()).abs() < A::of(1e-6),
                "{} T={t}: sum {sum}",
                A::NAME
            );
        }
        finite(
            "softmax_backward",
            &softmax_backward(p.view(), z_t.view(), ta),
            t,
        );
        finite(
            "log_softmax_backward",
            &log_softmax_backward(log_p.view(), z_t.view(), ta),
            t,
        );
        let ce = cross_entropy(z_s.view(), &labels);
        assert!(
            ce.loss.is_finite() && ce.loss >= A::zero(),
            "CE {}",
            ce.loss
        );
        finite("dCE", &ce.dz, t);
        let kl = kl_divergence(z_t.view(), z_s.view(), ta);
        assert!(
            kl.loss.is_finite() && kl.loss >= A::zero(),
            "{} T={t}: KL {}",
            A::NAME,
            kl.loss
        );
        finite("dKL", &kl.dz, t);
        for soft_scale in [SoftScale::One, SoftScale::TSquared] {
            let loss = DistillLoss {
                alpha: 0.5,
                temperature: t,
                soft_scale,
            };
            let terms = loss.compute(z_s.view(), z_t.view(), &labels);
            assert!(
                terms.total.is_finite(),
                "{} T={t} {soft_scale}: {}",
                A::NAME,
                terms.total
            );
            finite("dL/dz_s", &terms.dz_s, t);
        }
    }
}

#[test]
fn finite_on_extreme_logits_and_temperatures_f32() {
    extremes::<f32>();
}

#[test]
fn finite_on_extreme_logits_and_temperatures_f64() {
    extremes::<f64>();
}
