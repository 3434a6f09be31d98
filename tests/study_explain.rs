//! `distill explain`'s identities, on small fresh models and synthetic test images: the
//! probabilities sum to 1 at every T, hard + soft part is the gradient `DistillLoss::compute`
//! returns, `T²·‖soft‖` is flat at high T to the printed precision, and eq. 4's limit holds to
//! the documented tolerance (`2·m/T` for `T ≥ 10·m`).

use distill::config::ModelConfig;
use distill::data::Split;
use distill::loss::{DistillLoss, SoftScale};
use distill::nn::Mlp;
use distill::study::explain::{explain_at, logit_matching, ModelSource, NORM_DIGITS};
use distill::study::{explain, Explanation};
use distill::Error;
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const SIDE: usize = 4;

/// Twelve 4×4 images of random pixels, labels 0..9 then 3, 7.
fn test_set() -> Split {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let pixels = Array2::from_shape_fn((12, SIDE * SIDE), |_| rng.gen::<u8>());
    let labels = (0..10).chain([3, 7]).collect();
    Split::new(pixels, labels, (SIDE, SIDE))
}

fn fresh(config: ModelConfig, seed: u64) -> (Mlp<f32>, ModelSource) {
    let source = ModelSource::Fresh { config, seed };
    (source.load(SIDE * SIDE).unwrap(), source)
}

fn models() -> ((Mlp<f32>, ModelSource), (Mlp<f32>, ModelSource)) {
    let teacher = ModelConfig {
        hidden: vec![20, 20],
        dropout: 0.5,
    };
    let student = ModelConfig {
        hidden: vec![8],
        dropout: 0.0,
    };
    (fresh(teacher, 1), fresh(student, 2))
}

fn run(indices: &[usize], loss: DistillLoss, sweep: &[f64], limit: &[f64]) -> Explanation {
    let ((t, ts), (s, ss)) = models();
    explain_at(
        (&t, &ts),
        (&s, &ss),
        &test_set(),
        indices,
        loss,
        sweep,
        limit,
    )
    .unwrap()
}

fn loss(alpha: f64, temperature: f64, soft_scale: SoftScale) -> DistillLoss {
    DistillLoss {
        alpha,
        temperature,
        soft_scale,
    }
}

#[test]
fn probabilities_sum_to_one_at_every_temperature() {
    for t in [0.05, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 1e3] {
        let e = run(&[0, 4, 11], loss(0.1, t, SoftScale::One), &[1.0], &[10.0]);
        for img in &e.images {
            for (name, p) in [("p_t", &img.p_t), ("p_s", &img.p_s), ("q", &img.q)] {
                let sum: f64 = p.iter().sum();
                assert!((sum - 1.0).abs() < 1e-14, "T={t} {name}: Σ = {sum}");
                assert!(p.iter().all(|&v| (0.0..=1.0).contains(&v)));
            }
        }
    }
}

#[test]
fn hard_plus_soft_is_the_gradient_compute_returns() {
    for soft_scale in [SoftScale::One, SoftScale::TSquared] {
        for (alpha, t) in [(0.1, 10.0), (0.5, 2.0), (0.0, 4.0), (1.0, 1.0)] {
            let e = run(&[2, 3, 9], loss(alpha, t, soft_scale), &[1.0], &[10.0]);
            for img in &e.images {
                for j in 0..10 {
                    let (h, s, g) = (img.grad_hard[j], img.grad_soft[j], img.grad[j]);
                    assert!(
                        (h + s - g).abs() <= 1e-15 + 1e-13 * g.abs(),
                        "{soft_scale} α={alpha} T={t} image {} class {j}: {h} + {s} vs {g}",
                        img.index
                    );
                }
                // The hard part's row sums to 0 (Σ_j q_j = 1), and so does the soft part's.
                assert!(img.grad_hard.iter().sum::<f64>().abs() < 1e-15);
                assert!(img.grad_soft.iter().sum::<f64>().abs() < 1e-15);
            }
            // The total loss is the combination of the two printed terms.
            let s = soft_scale.factor(t);
            let total = alpha * e.cross_entropy + (1.0 - alpha) * s * e.kl;
            assert!((e.total - total).abs() <= 1e-12 * total.abs().max(1.0));
        }
    }
}

#[test]
fn the_hard_part_is_alpha_q_minus_onehot_over_b() {
    // Read off the printed numbers: hard_j = α(q_j − [j = y])/B.
    let e = run(&[1, 8], loss(0.3, 5.0, SoftScale::One), &[1.0], &[10.0]);
    for img in &e.images {
        for j in 0..10 {
            let onehot = if j == usize::from(img.label) {
                1.0
            } else {
                0.0
            };
            let expected = 0.3 * (img.q[j] - onehot) / 2.0;
            assert!((img.grad_hard[j] - expected).abs() < 1e-16);
            let soft = 0.7 * (1.0 / 5.0) * (img.p_s[j] - img.p_t[j]) / 2.0;
            assert!((img.grad_soft[j] - soft).abs() < 1e-16);
        }
    }
}

/// Half a unit in the last of `NORM_DIGITS` significant digits of `v`.
fn half_printed_unit(v: f64) -> f64 {
    0.5 * 10f64.powi(v.abs().log10().floor() as i32 - (NORM_DIGITS as i32 - 1))
}

#[test]
fn t_squared_soft_norm_is_flat_at_high_t_to_the_printed_precision() {
    let sweep = [1.0, 2.0, 5.0, 1e4, 2e4, 4e4, 8e4];
    let e = run(&[0, 5], loss(0.1, 10.0, SoftScale::One), &sweep, &[10.0]);
    for r in &e.sweep {
        let t2 = r.temperature * r.temperature;
        assert!(
            (r.soft_norm_t_squared - t2 * r.soft_norm_one).abs() <= 1e-12 * r.soft_norm_t_squared,
            "{r:?}"
        );
    }
    // At small T it is not flat (the printed sweep shows the approach) ...
    let (t1, t5) = (
        e.sweep[0].soft_norm_t_squared,
        e.sweep[2].soft_norm_t_squared,
    );
    assert!((t1 - t5).abs() > half_printed_unit(t1), "{t1} vs {t5}");
    // ... for T ≫ m it is, to the printed digits, while the s = 1 norm falls as 1/T².
    let high = &e.sweep[3..];
    for pair in high.windows(2) {
        let (a, b) = (pair[0].soft_norm_t_squared, pair[1].soft_norm_t_squared);
        assert!((a - b).abs() <= half_printed_unit(a), "{a} vs {b}");
        let fall = pair[0].soft_norm_one / pair[1].soft_norm_one;
        assert!(
            (fall - 4.0).abs() < 4.0 * 1e-3,
            "doubling T divides by {fall}"
        );
    }
    assert!(e.max_centred_logit * 1e3 < sweep[3], "pick T ≫ m");
}

#[test]
fn eq4_limit_holds_to_the_documented_tolerance() {
    // On the models' logits: the error shrinks tenfold per tenfold T, under the bound m/T·2.
    let e = run(
        &[0, 1, 2],
        loss(0.1, 10.0, SoftScale::One),
        &[1.0],
        &[10.0, 1e2, 1e3, 1e4],
    );
    let m = e.max_centred_logit;
    for r in &e.logit_matching {
        assert!(
            r.temperature < 10.0 * m || r.relative_error <= 2.0 * r.bound,
            "{r:?}"
        );
        assert!((r.bound - m / r.temperature).abs() < 1e-15);
    }
    for pair in e.logit_matching.windows(2) {
        let ratio = pair[0].relative_error / pair[1].relative_error;
        assert!((8.0..12.0).contains(&ratio), "O(1/T): {ratio}");
    }
    let last = e.limit_gradient.iter().zip(&e.limit_logit_difference);
    for (g, l) in last {
        assert!((g - l).abs() <= 1e-3 * l.abs().max(1e-6), "{g} vs {l}");
    }
    // On random logits of every scale, shape and offset, at T = 10·m, 100·m, 1000·m.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    for trial in 0..300 {
        let batch = 1 + trial % 4;
        let scale = [0.1, 1.0, 5.0, 30.0][trial % 4];
        let mut draw = || {
            let z = Array2::from_shape_fn((batch, 10), |_| rng.gen_range(-scale..scale));
            z + rng.gen_range(-50.0..50.0) // an offset: softmax ignores it
        };
        let (z_t, z_s) = (draw(), draw());
        let centred = |z: &Array2<f64>| z - &z.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1));
        let m = centred(&z_t)
            .iter()
            .chain(centred(&z_s).iter())
            .fold(0.0_f64, |m, v| m.max(v.abs()));
        for k in [10.0, 100.0, 1000.0] {
            let r = logit_matching(z_t.view(), z_s.view(), k * m);
            assert!(
                r.relative_error <= 2.0 * r.bound,
                "trial {trial}, T = {k}·m: {r:?}"
            );
        }
    }
}

#[test]
fn json_has_every_printed_quantity() {
    let e = run(
        &[0],
        loss(0.1, 10.0, SoftScale::TSquared),
        &[1.0, 2.0],
        &[10.0],
    );
    let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
    for key in [
        "z_t",
        "z_s",
        "p_t",
        "p_s",
        "q",
        "grad_hard",
        "grad_soft",
        "grad",
    ] {
        assert_eq!(v["images"][0][key].as_array().unwrap().len(), 10, "{key}");
    }
    assert_eq!(v["loss"]["soft_scale"], "t-squared");
    assert_eq!(v["sweep"].as_array().unwrap().len(), 2);
    assert!(v["logit_matching"][0]["relative_error"].is_f64());
    let text = e.to_string();
    for needle in [
        "α(q − onehot(y))/B",
        "(1−α)(s/T)(p_s − p_t)/B",
        "KL(p_t ‖ p_s)",
        "eq. 4",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let ((t, ts), (s, ss)) = models();
    let test = test_set();
    let explain_with =
        |indices: &[usize], loss| explain((&t, &ts), (&s, &ss), &test, indices, loss);
    let field = |r: distill::Result<Explanation>| match r {
        Err(Error::InvalidConfig { field, reason }) => (field, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    let ok = DistillLoss::default();
    let (f, reason) = field(explain_with(&[12], ok));
    assert_eq!(f, "index");
    assert!(
        reason.contains("12") && reason.contains("0..=11"),
        "{reason}"
    );
    assert_eq!(field(explain_with(&[], ok)).0, "index");
    for temperature in [0.0, -1.0, f64::NAN] {
        let bad = DistillLoss { temperature, ..ok };
        assert_eq!(field(explain_with(&[0], bad)).0, "temperature");
    }
    let bad = DistillLoss { alpha: 1.5, ..ok };
    assert_eq!(field(explain_with(&[0], bad)).0, "alpha");
    // A checkpoint of the wrong shape: input 4 pixels against 16-pixel images.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.safetensors");
    distill::experiment::save_model(&path, &Mlp::<f32>::new(&[4, 10], 0.0, 0), &()).unwrap();
    match ModelSource::Checkpoint(path.clone()).load(SIDE * SIDE) {
        Err(Error::Checkpoint { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains('4') && reason.contains("16"), "{reason}");
        }
        other => panic!(
            "expected a checkpoint error, got {:?}",
            other.map(|m| m.sizes())
        ),
    }
}

#[test]
fn fresh_models_say_so() {
    let e = run(&[0], DistillLoss::default(), &[1.0], &[10.0]);
    assert!(e.teacher.contains("freshly initialised"), "{}", e.teacher);
    assert!(e.to_string().contains("freshly initialised"));
}

#[test]
fn the_sweep_prints_each_norm_with_norm_digits_significant_digits() {
    let e = run(
        &[0, 5],
        loss(0.1, 10.0, SoftScale::One),
        &[1.0, 20.0],
        &[10.0],
    );
    let text = e.to_string();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip_while(|l| !l.contains("‖hard‖"))
        .skip(1)
        .take(e.sweep.len())
        .map(|l| l.split_whitespace().collect())
        .collect();
    for (r, row) in e.sweep.iter().zip(&rows) {
        assert_eq!(row[0].parse::<f64>().unwrap(), r.temperature, "{row:?}");
        for (printed, value) in
            row[1..4]
                .iter()
                .zip([r.hard_norm, r.soft_norm_one, r.soft_norm_t_squared])
        {
            let mantissa = printed.split('e').next().unwrap();
            let digits = mantissa.chars().filter(char::is_ascii_digit).count();
            assert_eq!(digits, NORM_DIGITS, "{printed} in {row:?}");
            let back: f64 = printed.parse().unwrap();
            assert!(
                (back - value).abs() <= half_printed_unit(value) * (1.0 + 1e-12),
                "{printed} vs {value}"
            );
        }
    }
}

#[test]
fn the_limits_relative_error_does_not_depend_on_the_batch() {
    // Both T²·∂KL/∂z_s and (z_s − z_t)/(N·B) carry 1/B, so a row repeated B times has the
    // relative error of the row alone, while the norms themselves change.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let (z_t, z_s) = (
        Array2::from_shape_fn((1, 10), |_| rng.gen_range(-3.0..3.0)),
        Array2::from_shape_fn((1, 10), |_| rng.gen_range(-3.0..3.0)),
    );
    let repeat = |z: &Array2<f64>| z.broadcast((3, 10)).unwrap().to_owned();
    for t in [10.0, 100.0] {
        let one = logit_matching(z_t.view(), z_s.view(), t);
        let three = logit_matching(repeat(&z_t).view(), repeat(&z_s).view(), t);
        assert!(
            one.relative_error > 0.0 && one.relative_error < 1.0,
            "{one:?}"
        );
        assert!(
            (one.relative_error - three.relative_error).abs() <= 1e-12 * one.relative_error,
            "{one:?} vs {three:?}"
        );
    }
}
