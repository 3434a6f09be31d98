//! A public finite-difference gradient checker, in the manner of `torch.autograd.gradcheck`.
//!
//! ```text
//! numeric_i = [ L(x + ε·e_i) − L(x − ε·e_i) ] / (2ε)          central difference, error O(ε²)
//! pass_i    ⇔ |analytic_i − numeric_i| ≤ atol + rtol·|numeric_i|
//! ```
//! Point it at any layer or loss of your own: write the scalar function `L(x)` as a closure
//! (for a layer with output `y`, the usual choice is `L = Σ y ⊙ r` with a fixed random `r`, so
//! that the upstream gradient is `dy = r`), compute the analytic gradient with your backward, and
//! call [`check_gradient`]. Work in `f64`: in `f32` the difference quotient loses most digits.
//!
//! ```
//! use distill::gradcheck::{check_gradient, Tolerance};
//! // L(x) = Σ x², so dL/dx = 2x.
//! let mut x = vec![0.3, -1.2, 2.0];
//! let analytic: Vec<f64> = x.iter().map(|v| 2.0 * v).collect();
//! let report = check_gradient(&mut x, &analytic, |x| x.iter().map(|v| v * v).sum(), Tolerance::default());
//! assert!(report.passed(), "{report}");
//! ```

use std::fmt;

/// Step and tolerances of a gradient check (the defaults are `torch.autograd.gradcheck`'s).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tolerance {
    /// Finite-difference step ε. Default `1e-6`.
    pub eps: f64,
    /// Absolute tolerance. Default `1e-5`.
    pub atol: f64,
    /// Relative tolerance, relative to the numeric value. Default `1e-3`.
    pub rtol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
        }
    }
}

/// The outcome of a gradient check: the worst element and whether every element passed.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// How many elements were compared.
    pub checked: usize,
    /// How many elements failed the tolerance.
    pub failures: usize,
    /// Index of the element with the largest excess over its tolerance.
    pub worst_index: usize,
    /// Analytic gradient at `worst_index`.
    pub analytic: f64,
    /// Central-difference gradient at `worst_index`.
    pub numeric: f64,
    /// `|analytic − numeric|` at `worst_index`.
    pub abs_error: f64,
    /// `atol + rtol·|numeric|` at `worst_index`.
    pub allowed: f64,
    /// `max_i |a_i − n_i|` over every element.
    pub max_abs_error: f64,
    /// `max_i |a_i − n_i| / max(|a_i|, |n_i|)` over every element (0 where both are 0): in
    /// `[0, 2]`, 1 when one side is 0 and the other is not.
    pub max_rel_error: f64,
}

impl GradcheckReport {
    /// True when every element is within tolerance.
    pub fn passed(&self) -> bool {
        self.failures == 0
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gradcheck {}: {} of {} elements out of tolerance; worst at index {}: analytic {:.10e}, numeric {:.10e}, |diff| {:.3e} vs allowed {:.3e}",
            if self.passed() { "passed" } else { "FAILED" },
            self.failures,
            self.checked,
            self.worst_index,
            self.analytic,
            self.numeric,
            self.abs_error,
            self.allowed,
        )
    }
}

/// Central-difference gradient of `loss` at `x`, one element at a time.
///
/// ```text
/// g_i = [ L(x + ε·e_i) − L(x − ε·e_i) ] / (2ε)
/// ```
/// `x` is restored exactly after each element (the original value is put back, not recomputed).
pub fn numeric_gradient(x: &mut [f64], mut loss: impl FnMut(&[f64]) -> f64, eps: f64) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let original = x[i];
            x[i] = original + eps;
            let plus = loss(x);
            x[i] = original - eps;
            let minus = loss(x);
            x[i] = original;
            (plus - minus) / (2.0 * eps)
        })
        .collect()
}

/// Compares an analytic gradient with a numeric one element by element.
///
/// ```text
/// pass_i ⇔ |a_i − n_i| ≤ atol + rtol·|n_i|
/// ```
/// A NaN on either side counts as a failure.
///
/// # Panics
/// If the two slices differ in length.
#[track_caller]
pub fn compare(analytic: &[f64], numeric: &[f64], tol: Tolerance) -> GradcheckReport {
    assert_eq!(
        analytic.len(),
        numeric.len(),
        "gradcheck: analytic and numeric lengths differ"
    );
    let mut report = GradcheckReport {
        checked: analytic.len(),
        failures: 0,
        worst_index: 0,
        analytic: analytic.first().copied().unwrap_or(0.0),
        numeric: numeric.first().copied().unwrap_or(0.0),
        abs_error: 0.0,
        allowed: tol.atol,
        max_abs_error: 0.0,
        max_rel_error: 0.0,
    };
    let mut worst_excess = f64::NEG_INFINITY;
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let abs_error = (a - n).abs();
        let allowed = tol.atol + tol.rtol * n.abs();
        let within = abs_error <= allowed; // false when either side is NaN
        let failed = !within;
        let excess = if abs_error.is_nan() {
            f64::INFINITY
        } else {
            abs_error - allowed
        };
        report.failures += usize::from(failed);
        report.max_abs_error = nan_max(report.max_abs_error, abs_error);
        report.max_rel_error = nan_max(report.max_rel_error, relative_error(a, n));
        if excess > worst_excess {
            worst_excess = excess;
            report.worst_index = i;
            report.analytic = a;
            report.numeric = n;
            report.abs_error = abs_error;
            report.allowed = allowed;
        }
    }
    report
}

/// The larger of `a` and `b`, NaN if either is (`f64::max` would drop a NaN).
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `|a − n| / max(|a|, |n|)`, 0 when both are 0 (NaN when either is NaN).
///
/// ```text
/// rel(a, n) = |a − n| / max(|a|, |n|)      ∈ [0, 2]
/// ```
fn relative_error(a: f64, n: f64) -> f64 {
    let scale = a.abs().max(n.abs());
    if a.is_nan() || n.is_nan() {
        f64::NAN
    } else if scale == 0.0 {
        0.0
    } else {
        (a - n).abs() / scale
    }
}

/// Checks `analytic` against the central-difference gradient of `loss` at `x`.
///
/// ```text
/// n_i    = [ L(x + ε·e_i) − L(x − ε·e_i) ] / (2ε)        (numeric_gradient)
/// pass_i ⇔ |a_i − n_i| ≤ atol + rtol·|n_i|               (compare)
/// shapes  x: (n)   analytic: (n)
/// ```
/// Calls `loss` `2n` times; `x` is restored exactly before returning.
///
/// # Panics
/// If `x` and `analytic` differ in length.
#[track_caller]
pub fn check_gradient(
    x: &mut [f64],
    analytic: &[f64],
    loss: impl FnMut(&[f64]) -> f64,
    tol: Tolerance,
) -> GradcheckReport {
    assert_eq!(
        x.len(),
        analytic.len(),
        "gradcheck: x and analytic lengths differ"
    );
    let numeric = numeric_gradient(x, loss, tol.eps);
    compare(analytic, &numeric, tol)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L(x) = Σ sin(x_i)·x_i², dL/dx_i = cos(x_i)·x_i² + 2·x_i·sin(x_i).
    fn loss(x: &[f64]) -> f64 {
        x.iter().map(|v| v.sin() * v * v).sum()
    }
    fn grad(x: &[f64]) -> Vec<f64> {
        x.iter()
            .map(|v| v.cos() * v * v + 2.0 * v * v.sin())
            .collect()
    }

    #[test]
    fn passes_on_the_true_gradient() {
        let mut x = vec![0.1, -0.7, 1.3, 2.9, -3.3];
        let analytic = grad(&x);
        let report = check_gradient(&mut x, &analytic, loss, Tolerance::default());
        assert!(report.passed(), "{report}");
        assert!(report.abs_error < 1e-8, "{report}");
        assert_eq!(x, vec![0.1, -0.7, 1.3, 2.9, -3.3], "x must be restored");
    }

    #[test]
    fn fails_on_a_wrong_gradient() {
        let mut x = vec![0.1, -0.7, 1.3, 2.9, -3.3];
        let mut analytic = grad(&x);
        analytic[3] *= 1.01; // a 1% error in one element
        let report = check_gradient(&mut x, &analytic, loss, Tolerance::default());
        assert!(!report.passed());
        assert_eq!(report.failures, 1);
        assert_eq!(report.worst_index, 3);
    }

    #[test]
    fn fails_on_nan() {
        let report = compare(&[0.0, f64::NAN], &[0.0, 1.0], Tolerance::default());
        assert_eq!(report.failures, 1);
        assert_eq!(report.worst_index, 1);
        assert!(report.max_abs_error.is_nan() && report.max_rel_error.is_nan());
    }

    #[test]
    fn max_errors_cover_every_element() {
        // |a − n|: 0, 0.5, 0.25, 0      rel: 0, 0.5/2, 0.25/0.25 = 1 (n = 0), 0 (both 0)
        let report = compare(
            &[1.0, 1.5, 0.25, 0.0],
            &[1.0, 2.0, 0.0, 0.0],
            Tolerance::default(),
        );
        assert_eq!(report.max_abs_error, 0.5);
        assert_eq!(report.max_rel_error, 1.0);
        assert_eq!(report.failures, 2);
    }
}
