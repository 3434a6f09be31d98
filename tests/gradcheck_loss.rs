//! Every loss gradient against central differences in f64, at the checker's default tolerances
//! (eps 1e-6, atol 1e-5, rtol 1e-3). Each check also proves it can fail: the same gradient off by
//! 1% must be rejected on most elements, so no case passes merely because its gradient is below
//! `atol`.

use distill::gradcheck::{check_gradient, Tolerance};
use distill::loss::{
    cross_entropy, kl_divergence, log_softmax, log_softmax_backward, softmax, softmax_backward,
    DistillLoss, SoftScale,
};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const B: usize = 3;
const N: usize = 5;

/// Logits uniform in `[−scale, scale]`, seeded.
fn logits(seed: u64, scale: f64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((B, N), |_| rng.gen_range(-scale..scale))
}

/// Logit scale for temperature `t`: proportional to `T` so `softmax(z/T)` stays far from uniform
/// and the gradient, which carries a `1/T`, stays well above `atol`.
fn scale(t: f64) -> f64 {
    2.0 * t.max(1.0)
}

const LABELS: [u8; B] = [4, 0, 2];

fn view(x: &[f64]) -> ArrayView2<'_, f64> {
    ArrayView2::from_shape((B, N), x).unwrap()
}

/// Passes at the default tolerances, and fails on most elements when the gradient is scaled by
/// 1.01 (a 1% error is visible where `0.01·|g| > atol + rtol·|g|`, i.e. `|g| > 1.1e-3`).
#[track_caller]
fn check(what: &str, z: &mut Array2<f64>, analytic: &Array2<f64>, loss: impl Fn(&[f64]) -> f64) {
    let tol = Tolerance::default();
    let x = z.as_slice_mut().unwrap();
    let analytic = analytic.as_slice().unwrap();
    let report = check_gradient(x, analytic, &loss, tol);
    assert!(report.passed(), "{what}: {report}");
    let off: Vec<f64> = analytic.iter().map(|a| a * 1.01).collect();
    let report = check_gradient(x, &off, &loss, tol);
    assert!(
        report.failures > B * N / 2,
        "{what}: a 1% error must fail on most elements: {report}"
    );
}

#[test]
fn softmax_jacobian_vector_product() {
    let r = logits(99, 1.0); // upstream gradient: L = Σ softmax(z/T) ⊙ r
    for t in [0.5, 1.0, 2.0, 10.0] {
        let mut z = logits(1, scale(t));
        let p = softmax(z.view(), t);
        let dz = softmax_backward(p.view(), r.view(), t);
        check(&format!("softmax T={t}"), &mut z, &dz, |x| {
            (softmax(view(x), t) * &r).sum()
        });
    }
}

#[test]
fn log_softmax_jacobian_vector_product() {
    let r = logits(98, 1.0); // L = Σ log_softmax(z/T) ⊙ r
    for t in [0.5, 1.0, 2.0, 10.0] {
        let mut z = logits(2, scale(t));
        let log_p = log_softmax(z.view(), t);
        let dz = log_softmax_backward(log_p.view(), r.view(), t);
        check(&format!("log_softmax T={t}"), &mut z, &dz, |x| {
            (log_softmax(view(x), t) * &r).sum()
        });
    }
}

#[test]
fn cross_entropy_gradient() {
    let mut z = logits(3, 3.0);
    let dz = cross_entropy(z.view(), &LABELS).dz;
    check("cross_entropy", &mut z, &dz, |x| {
        cross_entropy(view(x), &LABELS).loss
    });
}

#[test]
fn kl_gradient_at_every_temperature() {
    for t in [0.5, 1.0, 2.0, 10.0, 20.0] {
        let z_t = logits(4, scale(t));
        let mut z_s = logits(5, scale(t));
        let dz = kl_divergence(z_t.view(), z_s.view(), t).dz;
        check(&format!("KL T={t}"), &mut z_s, &dz, |x| {
            kl_divergence(z_t.view(), view(x), t).loss
        });
    }
}

#[test]
fn distillation_gradient_for_every_alpha_and_scaling() {
    for soft_scale in [SoftScale::One, SoftScale::TSquared] {
        for temperature in [2.0, 10.0] {
            for alpha in [0.0, 0.1, 0.5, 1.0] {
                let loss = DistillLoss {
                    alpha,
                    temperature,
                    soft_scale,
                };
                // Pure cross-entropy (α = 1) at the CE tests' logit scale: at 2T the softmax
                // saturates and most of its gradient lies below what a 1% error can show.
                let s = if alpha == 1.0 {
                    3.0
                } else {
                    scale(temperature)
                };
                let z_t = logits(6, s);
                let mut z_s = logits(7, s);
                let dz = loss.compute(z_s.view(), z_t.view(), &LABELS).dz_s;
                check(&format!("{loss:?}"), &mut z_s, &dz, |x| {
                    loss.compute(view(x), z_t.view(), &LABELS).total
                });
            }
        }
    }
}

#[test]
fn the_checker_rejects_a_kl_gradient_missing_its_one_over_t() {
    let t = 2.0;
    let z_t = logits(8, scale(t));
    let mut z_s = logits(9, scale(t));
    let wrong = kl_divergence(z_t.view(), z_s.view(), t).dz * t; // (p_s − p_t)/B, no 1/T
    let report = check_gradient(
        z_s.as_slice_mut().unwrap(),
        wrong.as_slice().unwrap(),
        |x| kl_divergence(z_t.view(), view(x), t).loss,
        Tolerance::default(),
    );
    assert!(!report.passed(), "{report}");
    assert!(report.failures > B * N / 2, "{report}");
}

#[test]
fn the_checker_rejects_a_cross_entropy_gradient_missing_its_one_over_b() {
    let mut z = logits(10, 3.0);
    let wrong = cross_entropy(z.view(), &LABELS).dz * B as f64; // summed, not averaged
    let report = check_gradient(
        z.as_slice_mut().unwrap(),
        wrong.as_slice().unwrap(),
        |x| cross_entropy(view(x), &LABELS).loss,
        Tolerance::default(),
    );
    assert!(report.failures > B * N / 2, "{report}");
}
