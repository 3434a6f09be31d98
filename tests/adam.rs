//! Adam against hand computations: one step in closed form, several steps by an independent
//! scalar loop (in the PyTorch/paper form with the equivalent ε), Keras' ε vs PyTorch's, and
//! bit-identical results for any rayon thread count.

use distill::optim::{Adam, AdamConfig};

/// A deterministic gradient sequence, different per element and per step (no RNG needed).
fn grad(step: usize, i: usize) -> f64 {
    let x = (i as f64 + 1.0) * 0.37 + step as f64 * 1.3;
    x.sin() * 10f64.powi((i % 5) as i32 - 3) // magnitudes from 1e-3 to 10
}

#[test]
fn one_step_matches_the_closed_form() {
    // t = 1, m₀ = v₀ = 0:  m = (1−β₁)g,  v = (1−β₂)g²,  α₁ = lr·√(1−β₂)/(1−β₁), so
    // θ₁ = θ₀ − lr·√(1−β₂)·g / (√(1−β₂)·|g| + ε)      (≈ θ₀ − lr·sign(g) when |g| ≫ ε)
    let c = AdamConfig::default();
    let theta0 = [0.5, -1.0, 2.0, 0.0, 3.0];
    let g = [0.1, -2.0, 1e-6, 3e-8, 0.0];
    let mut theta = theta0;
    let mut adam = Adam::<f64>::new(c);
    adam.begin_step();
    adam.update(0, &mut theta, &g);
    assert_eq!(adam.steps(), 1);
    let r = (1.0 - c.beta2).sqrt();
    for i in 0..5 {
        let expected = theta0[i] - c.learning_rate * r * g[i] / (r * g[i].abs() + c.epsilon);
        assert!(
            (theta[i] - expected).abs() <= 1e-15 * expected.abs().max(1.0),
            "element {i}: {} vs {expected}",
            theta[i]
        );
    }
    // The ε matters at t = 1 for small gradients: g = 1e-6 moves θ by lr·(3.16e-8/(3.16e-8 + 1e-7)).
    let moved = theta0[2] - theta[2];
    assert!((moved / c.learning_rate - 0.240253).abs() < 1e-6, "{moved}");
}

#[test]
fn several_steps_match_the_bias_corrected_textbook_form() {
    check_against_textbook(|_| 0.01);
}

#[test]
fn a_learning_rate_changed_between_steps_scales_only_the_later_steps() {
    // What a schedule does: set_learning_rate before a step; the moments and t carry on.
    check_against_textbook(|step| 0.01 * 0.5f64.powi(step as i32 / 2));
}

/// Six steps of Adam with learning rate `lr(step)` against an independent loop in the paper's /
/// PyTorch's form: m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), θ ← θ − lr_t·m̂/(√v̂ + ε_torch) with
/// ε_torch = ε/√(1−β₂ᵗ) (the equivalence in the module docs).
fn check_against_textbook(lr: impl Fn(usize) -> f64) {
    let c = AdamConfig {
        learning_rate: lr(1),
        beta1: 0.8,
        beta2: 0.99,
        epsilon: 1e-5,
    };
    let sizes = [7usize, 3, 12];
    let mut params: Vec<Vec<f64>> = sizes
        .iter()
        .map(|&n| (0..n).map(|i| (i as f64 * 0.7).cos()).collect())
        .collect();
    let mut reference = params.clone();
    let mut m: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let mut v = m.clone();
    let mut adam = Adam::<f64>::new(c);
    for step in 1..=6 {
        adam.set_learning_rate(lr(step));
        adam.begin_step();
        // slots visited out of order: moments are allocated lazily per slot
        for slot in [2, 0, 1] {
            let g: Vec<f64> = (0..sizes[slot])
                .map(|i| grad(step, i + 10 * slot))
                .collect();
            adam.update(slot, &mut params[slot], &g);
            let t = step as i32;
            let eps_torch = c.epsilon / (1.0 - c.beta2.powi(t)).sqrt();
            for i in 0..sizes[slot] {
                m[slot][i] = c.beta1 * m[slot][i] + (1.0 - c.beta1) * g[i];
                v[slot][i] = c.beta2 * v[slot][i] + (1.0 - c.beta2) * g[i] * g[i];
                let m_hat = m[slot][i] / (1.0 - c.beta1.powi(t));
                let v_hat = v[slot][i] / (1.0 - c.beta2.powi(t));
                reference[slot][i] -= lr(step) * m_hat / (v_hat.sqrt() + eps_torch);
            }
        }
        for (p, r) in params.iter().flatten().zip(reference.iter().flatten()) {
            assert!(
                (p - r).abs() <= 1e-13 * r.abs().max(1.0),
                "step {step}: {p} vs {r}"
            );
        }
    }
    assert_eq!(adam.steps(), 6);
}

#[test]
fn keras_epsilon_is_not_pytorch_epsilon() {
    // Same ε in the PyTorch form gives a visibly different first step for a small gradient:
    // Keras behaves like PyTorch with ε/√(1−β₂) ≈ 31.6·ε at t = 1.
    let c = AdamConfig::default();
    let g = 1e-6;
    let mut theta = [0.0];
    let mut adam = Adam::<f64>::new(c);
    adam.begin_step();
    adam.update(0, &mut theta, &[g]);
    let torch_same_eps = -c.learning_rate * g / (g + c.epsilon); // m̂ = g, √v̂ = |g| at t = 1
    let torch_equivalent = -c.learning_rate * g / (g + c.epsilon / (1.0 - c.beta2).sqrt());
    assert!((theta[0] - torch_equivalent).abs() < 1e-18);
    assert!((theta[0] - torch_same_eps).abs() > 0.5 * torch_same_eps.abs());
}

#[test]
fn identical_for_any_thread_count_and_to_a_serial_loop() {
    // A slot of several 4096-element chunks plus a ragged tail, in f32 as training runs.
    let n = 3 * 4096 + 17;
    let c = AdamConfig::default();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut adam = Adam::<f32>::new(c);
            let mut theta: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin()).collect();
            for step in 1..=4 {
                let g: Vec<f32> = (0..n).map(|i| grad(step, i) as f32).collect();
                adam.begin_step();
                adam.update(0, &mut theta, &g);
            }
            theta
        })
    };
    let one = run(1);
    for threads in [2, 3, 4, 16] {
        assert!(
            run(threads)
                .iter()
                .zip(&one)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{threads} threads differ from 1"
        );
    }
    // The same operations, element by element, on one thread, in Keras' order.
    let mut theta: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin()).collect();
    let (mut m, mut v) = (vec![0f32; n], vec![0f32; n]);
    for step in 1..=4 {
        let t = step as f64;
        let alpha =
            (c.learning_rate * (1.0 - c.beta2.powf(t)).sqrt() / (1.0 - c.beta1.powf(t))) as f32;
        for i in 0..n {
            let g = grad(step, i) as f32;
            m[i] += (g - m[i]) * (1.0 - c.beta1) as f32;
            v[i] += (g * g - v[i]) * (1.0 - c.beta2) as f32;
            theta[i] -= m[i] * alpha / (v[i].sqrt() + c.epsilon as f32);
        }
    }
    assert!(theta
        .iter()
        .zip(&one)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}
