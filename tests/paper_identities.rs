//! Identities from Hinton, Vinyals & Dean (2015), §2 and §2.1, checked on the implementation.

use distill::loss::{cross_entropy, kl_divergence, softmax, DistillLoss, SoftScale};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const B: usize = 4;
const N: usize = 10;

/// Logits uniform in `[−3, 3]`, each row shifted to zero mean (the premise of eq. 4).
fn zero_mean_logits(seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let z = Array2::from_shape_fn((B, N), |_| rng.gen_range(-3.0..3.0));
    let mean = z.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
    z - mean
}

fn norm(x: &Array2<f64>) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[test]
fn eq2_soft_target_gradient_is_p_s_minus_p_t_over_t_b() {
    // Eq. 2: ∂C/∂z_i = (q_i − p_i)/T per example; with the batch mean, (p_s − p_t)/(T·B).
    let (z_t, z_s) = (zero_mean_logits(1), zero_mean_logits(2));
    for t in [0.5, 1.0, 4.0, 20.0] {
        let dz = kl_divergence(z_t.view(), z_s.view(), t).dz;
        let expected = (softmax(z_s.view(), t) - softmax(z_t.view(), t)) / (t * B as f64);
        for (a, e) in dz.iter().zip(&expected) {
            assert!((a - e).abs() <= 1e-15, "T={t}: {a} vs {e}");
        }
    }
}

/// `T²·dKL/dz_s` and the logit-matching limit `(z_s − z_t)/(N·B)` of eq. 4.
fn scaled_gradient_and_limit(t: f64) -> (Array2<f64>, Array2<f64>) {
    let (z_t, z_s) = (zero_mean_logits(3), zero_mean_logits(4));
    let scaled = kl_divergence(z_t.view(), z_s.view(), t).dz * (t * t);
    let limit = (&z_s - &z_t) / (N * B) as f64;
    (scaled, limit)
}

#[test]
fn eq4_high_temperature_limit_is_logit_matching() {
    // Eq. 4: for zero-mean logits and T large, ∂C/∂z_i ≈ (z_i − v_i)/(N·T²); the relative error
    // of T²·dKL/dz_s against (z_s − z_t)/(N·B) is O(1/T) (the next term of exp(x) ≈ 1 + x).
    let temperatures = [5.0, 10.0, 20.0, 50.0];
    let errors: Vec<f64> = temperatures
        .iter()
        .map(|&t| {
            let (scaled, limit) = scaled_gradient_and_limit(t);
            norm(&(&scaled - &limit)) / norm(&limit)
        })
        .collect();
    for w in errors.windows(2) {
        assert!(w[1] < w[0], "error must shrink as T grows: {errors:?}");
    }
    assert!(errors[3] < 0.02, "relative error at T=50: {}", errors[3]);
    // First order in 1/T: doubling T about halves the error (a 1/T² error would quarter it).
    for (w, t) in errors.windows(2).zip(temperatures.windows(2)) {
        let rate = (w[0] / w[1]).ln() / (t[1] / t[0]).ln();
        assert!((0.8..1.2).contains(&rate), "error ∝ T^-{rate}: {errors:?}");
    }
}

#[test]
fn soft_gradient_falls_as_one_over_t_squared_and_t_squared_restores_it() {
    // ‖dKL/dz_s‖ ≈ ‖z_s − z_t‖/(N·B·T²) (§2). The bounds follow from eq. 4 rather than from the
    // seed: with L = (z_s − z_t)/(N·B) and e(T) = ‖T²·dKL/dz_s − L‖/‖L‖ (the eq. 4 error), the
    // triangle inequality gives |T²·‖dKL/dz_s‖/‖L‖ − 1| ≤ e(T), so T²·‖grad‖ stays within
    // ±e(T) of the limit; e(T) shrinks as T grows (O(1/T)), and so does that spread.
    let temperatures = [5.0, 10.0, 20.0, 40.0, 80.0];
    for seed in [5, 15, 25, 35, 45] {
        let (z_t, z_s) = (zero_mean_logits(seed), zero_mean_logits(seed + 1));
        let limit = (&z_s - &z_t) / (N * B) as f64;
        let mut previous_error = f64::INFINITY;
        let mut measured = Vec::new(); // (‖grad‖, its bound e(T))
        for &t in &temperatures {
            let grad = kl_divergence(z_t.view(), z_s.view(), t).dz;
            let scaled = &grad * (t * t);
            let error = norm(&(&scaled - &limit)) / norm(&limit);
            let deviation = norm(&scaled) / norm(&limit) - 1.0;
            assert!(
                deviation.abs() <= error + 1e-12,
                "seed {seed}, T={t}: T²‖grad‖ is {deviation:+e} off the limit, beyond e(T) = {error:e}"
            );
            assert!(
                error < previous_error,
                "seed {seed}: e(T) must shrink as T grows"
            );
            previous_error = error;
            measured.push((norm(&grad), error));
        }
        // ‖grad‖ ∝ T^−r: since ‖grad(T)‖ = ‖L‖(1 + d(T))/T² with |d| ≤ e(T), the rate between
        // T₀ and T₁, ln(‖grad₀‖/‖grad₁‖)/ln(T₁/T₀), is 2 ± the bound below.
        for (pair, t) in measured.windows(2).zip(temperatures.windows(2)) {
            let ((n0, e0), (n1, e1)) = (pair[0], pair[1]);
            let span = (t[1] / t[0]).ln();
            let rate = (n0 / n1).ln() / span;
            let bound = ((1.0 + e0) / (1.0 - e1))
                .ln()
                .max(((1.0 + e1) / (1.0 - e0)).ln())
                / span;
            assert!(
                (rate - 2.0).abs() <= bound + 1e-12,
                "seed {seed}: ‖grad‖ ∝ T^-{rate}, allowed 2 ± {bound}"
            );
        }
    }
}

#[test]
fn t_squared_makes_the_soft_gradient_t_squared_times_stronger() {
    // With α = 0.1 and T = 10: the hard part α(q − onehot)/B is the same under both scalings;
    // the soft part (1−α)(s/T)(p_s − p_t)/B is exactly 100× larger with s = T² than with s = 1.
    let (z_t, z_s) = (zero_mean_logits(7), zero_mean_logits(8));
    let labels = [3, 0, 9, 5];
    let hard = cross_entropy(z_s.view(), &labels).dz * 0.1;
    let soft_part = |soft_scale| {
        let loss = DistillLoss {
            alpha: 0.1,
            temperature: 10.0,
            soft_scale,
        };
        loss.compute(z_s.view(), z_t.view(), &labels).dz_s - &hard
    };
    let (one, paper) = (soft_part(SoftScale::One), soft_part(SoftScale::TSquared));
    for (o, p) in one.iter().zip(&paper) {
        assert!(
            (p - 100.0 * o).abs() <= 1e-12 * p.abs().max(1e-3),
            "{p} vs 100·{o}"
        );
    }
    // Under the notebook's scaling the soft part is much weaker than the hard part here
    // (‖soft‖ ≈ 3.4e-3 vs ‖hard‖ ≈ 4.7e-2); under the paper's it dominates (≈ 3.4e-1).
    let (h, o, p) = (norm(&hard), norm(&one), norm(&paper));
    assert!(o < h && p > h, "hard {h}, soft one {o}, soft T² {p}");
}
