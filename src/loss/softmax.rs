//! Softmax and log-softmax with a temperature, row by row, stable by log-sum-exp.
//!
//! ```text
//! softmax(z/T)_j     = exp((z_j − m)/T) / Σ_k exp((z_k − m)/T)        m = max_k z_k
//! log_softmax(z/T)_j = (z_j − m)/T − ln Σ_k exp((z_k − m)/T)
//! ```
//! Subtracting the row maximum `m` before dividing by `T` changes nothing mathematically (it
//! cancels between numerator and denominator) but keeps every exponent `≤ 0`, so `exp` never
//! overflows, and the sum is `≥ 1` (the maximum contributes `exp(0) = 1`), so `ln` never sees 0.
//! Logits of ±1e4 with `T = 1e-2` give exponents down to −2e6: finite in f32 and f64.
//! The derivation of the backward passes is in `docs/math.md`, section "Softmax with temperature".

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, Zip};

use crate::Scalar;

/// Asserts a temperature is positive and finite.
///
/// # Panics
/// If `t <= 0`, `t` is NaN or infinite.
#[track_caller]
pub(crate) fn assert_temperature<A: Scalar>(t: A) {
    assert!(
        t > A::zero() && t.is_finite(),
        "temperature must be positive and finite, got {t}"
    );
}

/// One row: `out = log_softmax(z/T)`.
///
/// ```text
/// out_j = (z_j − m)/T − ln Σ_k exp((z_k − m)/T),   m = max_k z_k
/// ```
pub(crate) fn log_softmax_row<A: Scalar>(z: ArrayView1<A>, t: A, mut out: ArrayViewMut1<A>) {
    let m = z.fold(A::neg_infinity(), |m, &v| m.max(v));
    let mut sum = A::zero();
    Zip::from(&mut out).and(&z).for_each(|o, &v| {
        *o = (v - m) / t; // shifted, scaled logit ≤ 0
        sum += o.exp(); // Σ_k exp(·) ≥ 1
    });
    let lse = sum.ln();
    out.mapv_inplace(|o| o - lse);
}

/// One row: `out = softmax(z/T)`.
///
/// ```text
/// out_j = exp((z_j − m)/T) / Σ_k exp((z_k − m)/T),   m = max_k z_k
/// ```
fn softmax_row<A: Scalar>(z: ArrayView1<A>, t: A, mut out: ArrayViewMut1<A>) {
    let m = z.fold(A::neg_infinity(), |m, &v| m.max(v));
    let mut sum = A::zero();
    Zip::from(&mut out).and(&z).for_each(|o, &v| {
        *o = ((v - m) / t).exp(); // ∈ (0, 1], the maximum gives 1
        sum += *o;
    });
    out.mapv_inplace(|o| o / sum);
}

/// A `(B, N)` array whose row `b` is `row(z_b, T)`, after checking `T`.
#[track_caller]
fn map_rows<A: Scalar>(
    z: ArrayView2<A>,
    t: A,
    row: impl Fn(ArrayView1<A>, A, ArrayViewMut1<A>),
) -> Array2<A> {
    assert_temperature(t);
    let mut out = Array2::zeros(z.raw_dim());
    Zip::from(z.rows())
        .and(out.rows_mut())
        .for_each(|z, out| row(z, t, out));
    out
}

/// Row-wise softmax of logits divided by a temperature.
///
/// ```text
/// p_bj = exp(z_bj/T) / Σ_k exp(z_bk/T)          computed as exp((z_bj − max_k z_bk)/T) / Σ_k …
/// shapes  z: (B, N)   p: (B, N)
/// ```
/// Each row of `p` sums to 1. `T = 1` is the ordinary softmax; a larger `T` gives a softer
/// distribution (Hinton et al. 2015, eq. 1).
///
/// # Panics
/// If `t` is not positive and finite.
#[track_caller]
pub fn softmax<A: Scalar>(z: ArrayView2<A>, t: A) -> Array2<A> {
    map_rows(z, t, softmax_row)
}

/// Row-wise log-softmax of logits divided by a temperature.
///
/// ```text
/// log p_bj = (z_bj − m_b)/T − ln Σ_k exp((z_bk − m_b)/T),   m_b = max_k z_bk
/// shapes  z: (B, N)   log p: (B, N)
/// ```
/// Always finite for finite logits (no `ln 0`), even where `p_bj` itself underflows to 0.
///
/// # Panics
/// If `t` is not positive and finite.
#[track_caller]
pub fn log_softmax<A: Scalar>(z: ArrayView2<A>, t: A) -> Array2<A> {
    map_rows(z, t, log_softmax_row)
}

/// Backward of [`softmax`]: the Jacobian-transpose product `dz = Jᵀ·dp`, row by row.
///
/// ```text
/// ∂p_j/∂z_i = p_j (δ_ij − p_i) / T                         (the softmax Jacobian, symmetric)
/// dz_i      = Σ_j dp_j ∂p_j/∂z_i = p_i (dp_i − Σ_j p_j dp_j) / T
/// shapes  p: (B, N)   dp: (B, N)   dz: (B, N)
/// ```
/// `p` is the forward output `softmax(z/T)`; no reduction over the batch (rows are independent).
///
/// # Panics
/// If `p` and `dp` differ in shape, or `t` is not positive and finite.
#[track_caller]
pub fn softmax_backward<A: Scalar>(p: ArrayView2<A>, dp: ArrayView2<A>, t: A) -> Array2<A> {
    assert_temperature(t);
    assert_eq!(
        p.dim(),
        dp.dim(),
        "softmax_backward: p and dp shapes differ"
    );
    let mut dz = Array2::zeros(p.raw_dim());
    Zip::from(dz.rows_mut())
        .and(p.rows())
        .and(dp.rows())
        .for_each(|mut dz, p, dp| {
            let p_dot_dp = p.dot(&dp); // Σ_j p_j dp_j
            Zip::from(&mut dz)
                .and(&p)
                .and(&dp)
                .for_each(|dz, &p, &dp| *dz = p * (dp - p_dot_dp) / t); // p_i (dp_i − p·dp) / T
        });
    dz
}

/// Backward of [`log_softmax`]: the Jacobian-transpose product `dz = Jᵀ·dy`, row by row.
///
/// ```text
/// ∂ log p_j/∂z_i = (δ_ij − p_i) / T
/// dz_i           = Σ_j dy_j ∂ log p_j/∂z_i = (dy_i − p_i Σ_j dy_j) / T
/// shapes  log p: (B, N)   dy: (B, N)   dz: (B, N)
/// ```
/// `log_p` is the forward output `log_softmax(z/T)`; no reduction over the batch.
///
/// # Panics
/// If `log_p` and `dy` differ in shape, or `t` is not positive and finite.
#[track_caller]
pub fn log_softmax_backward<A: Scalar>(log_p: ArrayView2<A>, dy: ArrayView2<A>, t: A) -> Array2<A> {
    assert_temperature(t);
    assert_eq!(
        log_p.dim(),
        dy.dim(),
        "log_softmax_backward: log_p and dy shapes differ"
    );
    let mut dz = Array2::zeros(log_p.raw_dim());
    Zip::from(dz.rows_mut())
        .and(log_p.rows())
        .and(dy.rows())
        .for_each(|mut dz, log_p, dy| {
            let dy_sum = dy.sum(); // Σ_j dy_j
            Zip::from(&mut dz)
                .and(&log_p)
                .and(&dy)
                .for_each(|dz, &lp, &dy| *dz = (dy - lp.exp() * dy_sum) / t); // (dy_i − p_i Σdy) / T
        });
    dz
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rows_sum_to_one_and_agree_with_log_softmax() {
        let z = array![[1.0, 2.0, 3.0], [-5.0, 0.0, 5.0]];
        for t in [0.5, 1.0, 4.0] {
            let p = softmax(z.view(), t);
            let log_p = log_softmax(z.view(), t);
            for row in p.rows() {
                assert!((row.sum() - 1.0_f64).abs() < 1e-15);
            }
            for (a, b) in p.iter().zip(&log_p) {
                assert!((a.ln() - b).abs() < 1e-13, "{a} vs exp({b})");
            }
        }
    }

    #[test]
    fn shift_invariant() {
        let z = array![[0.3_f64, -1.2, 2.0]];
        let shifted = z.mapv(|v| v + 1000.0);
        let a = log_softmax(z.view(), 2.0);
        let b = log_softmax(shifted.view(), 2.0);
        for (a, b) in a.iter().zip(&b) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    #[should_panic(expected = "temperature must be positive")]
    fn zero_temperature_panics() {
        softmax(array![[1.0_f64]].view(), 0.0);
    }
}
