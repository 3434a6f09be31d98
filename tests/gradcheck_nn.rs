//! What the gradient checks of the layers and whole MLPs rest on, beyond the checks themselves
//! (those are `distill::study::gradcheck::cases()`, run in f64 by `tests/study_gradcheck.rs`):
//! negative controls (the checker, with the fake loss `L = Σ y ⊙ r` and torch.autograd.gradcheck's
//! defaults, FAILS on a plausible wrong formula for dW, dx, db, ReLU, dropout and a whole MLP),
//! the Mlp being exactly its layers composed, accumulation and overwriting of gradients, and
//! bit-identical results for 1, 2, 3, 4 and 16 rayon threads.
//!
//! Dropout masks are frozen across perturbations by restarting the mask stream before every
//! forward (`mask_stream(seed)` for a bare layer, `Mlp::reseed_dropout(seed)` for an MLP): the
//! mask depends only on the stream, never on the values, so every evaluation drops the same units.

use distill::gradcheck::{check_gradient, GradcheckReport, Tolerance};
use distill::nn::{
    input_mask_stream, mask_stream, relu_backward, relu_forward, Dense, Dropout, Gradients, Mlp,
    Mode,
};
use ndarray::{Array, Array1, Array2, ArrayView2, Zip};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const MASK_SEED: u64 = 99;

fn uniform(shape: (usize, usize), seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array::random_using(shape, Uniform::new(-1.0, 1.0), &mut rng)
}

/// `L = Σ y ⊙ r`.
fn fake_loss(y: ArrayView2<f64>, r: &Array2<f64>) -> f64 {
    Zip::from(&y).and(r).fold(0.0, |acc, &y, &r| acc + y * r)
}

fn check(x: &mut [f64], analytic: &[f64], loss: impl FnMut(&[f64]) -> f64) -> GradcheckReport {
    check_gradient(x, analytic, loss, Tolerance::default())
}

fn dense_fixture() -> (Dense<f64>, Array2<f64>, Array2<f64>) {
    let weight = uniform((7, 5), 1);
    let bias = Array1::from_iter(uniform((1, 5), 2));
    let x = uniform((4, 7), 3);
    let r = uniform((4, 5), 4);
    (Dense::from_parameters(weight, bias), x, r)
}

fn dense_loss(layer: &Dense<f64>, x: ArrayView2<f64>, r: &Array2<f64>) -> f64 {
    let mut y = Array2::zeros((x.nrows(), layer.d_out()));
    layer.forward(x, y.view_mut());
    fake_loss(y.view(), r)
}

#[test]
fn checker_fails_on_a_wrong_dweight() {
    let (mut layer, x, r) = dense_fixture();
    layer.backward(x.view(), r.view(), None);
    let good = layer.dweight.as_slice().unwrap().to_vec();
    let mut flat = layer.weight.as_slice().unwrap().to_vec();
    let mut loss = |w: &[f64]| {
        layer.weight.as_slice_mut().unwrap().copy_from_slice(w);
        dense_loss(&layer, x.view(), &r)
    };
    // One element 1% off.
    let mut one_off = good.clone();
    one_off[12] *= 1.01;
    let report = check(&mut flat, &one_off, &mut loss);
    assert!(!report.passed(), "{report}");
    assert_eq!((report.failures, report.worst_index), (1, 12), "{report}");
    // A plausible bug: dW = xᵀ·dy with a stray factor (e.g. a mean over the batch that the
    // forward pass does not take).
    let scaled: Vec<f64> = good.iter().map(|g| g / x.nrows() as f64).collect();
    let report = check(&mut flat, &scaled, &mut loss);
    assert!(!report.passed(), "{report}");
    // The true gradient still passes with the same closure.
    assert!(check(&mut flat, &good, &mut loss).passed());
}

/// A wrong gradient must fail the check on at least `min_failures` elements (so the control does
/// not pass merely because one element happened to be off).
#[track_caller]
fn assert_rejected(report: &GradcheckReport, min_failures: usize) {
    assert!(
        report.failures >= min_failures,
        "expected ≥ {min_failures} failures: {report}"
    );
}

#[test]
fn checker_fails_on_a_dense_dx_without_the_transpose() {
    // dx = dy·Wᵀ; the bug reads W's buffer as if it were already (D_out, D_in), a lost stride
    // swap of the same shape.
    let (mut layer, x, r) = dense_fixture();
    let w_buffer = layer.weight.as_slice().unwrap().to_vec();
    let not_transposed = ArrayView2::from_shape((layer.d_out(), layer.d_in()), &w_buffer).unwrap();
    let wrong = r.dot(&not_transposed);
    let mut flat = x.iter().copied().collect::<Vec<_>>();
    let report = check(&mut flat, wrong.as_slice().unwrap(), |v| {
        dense_loss(&layer, ArrayView2::from_shape(x.dim(), v).unwrap(), &r)
    });
    assert_rejected(&report, x.len() / 2);
    let mut dx = Array2::zeros(x.dim());
    layer.backward(x.view(), r.view(), Some(dx.view_mut()));
    assert_ne!(dx, wrong, "the bug must change dx");
}

#[test]
fn checker_fails_on_a_dense_db_averaged_over_the_batch() {
    // db = Σ_b dy; the bug takes the mean (1/B too small).
    let (mut layer, x, r) = dense_fixture();
    layer.backward(x.view(), r.view(), None);
    let wrong: Vec<f64> = layer.dbias.iter().map(|g| g / x.nrows() as f64).collect();
    let mut flat = layer.bias.as_slice().unwrap().to_vec();
    let report = check(&mut flat, &wrong, |b| {
        layer.bias.as_slice_mut().unwrap().copy_from_slice(b);
        dense_loss(&layer, x.view(), &r)
    });
    assert_rejected(&report, wrong.len());
}

#[test]
fn checker_fails_on_a_relu_that_passes_every_gradient() {
    // dx = dy ⊙ [x > 0]; the bug forgets the mask: every negative input must fail.
    let x = uniform((5, 6), 5).mapv(|v| v.signum() * (v.abs() + 1e-3));
    let r = uniform((5, 6), 6);
    let negatives = x.iter().filter(|&&v| v < 0.0).count();
    let mut flat = x.iter().copied().collect::<Vec<_>>();
    let report = check(&mut flat, r.as_slice().unwrap(), |v| {
        let mut y = Array2::from_shape_vec(x.dim(), v.to_vec()).unwrap();
        relu_forward(y.view_mut());
        fake_loss(y.view(), &r)
    });
    assert!(negatives > 5, "the fixture needs negative inputs");
    assert_eq!(report.failures, negatives, "{report}");
}

#[test]
fn checker_fails_on_a_dropout_without_its_rescaling() {
    // dx = dy ⊙ m/(1−p); the bug drops the 1/(1−p): every kept unit must fail.
    let p = 0.5;
    let x = uniform((6, 9), 7);
    let r = uniform((6, 9), 8);
    let mut layer = Dropout::new(p);
    let mut y = x.clone();
    layer.forward(y.view_mut(), Mode::Train, &mut mask_stream(MASK_SEED));
    let mut dx = r.clone();
    layer.backward(dx.view_mut());
    let wrong = dx.mapv(|g| g * (1.0 - p)); // dy ⊙ m
    let kept = dx.iter().filter(|&&g| g != 0.0).count();
    let mut flat = x.iter().copied().collect::<Vec<_>>();
    let report = check(&mut flat, wrong.as_slice().unwrap(), |v| {
        let mut y = Array2::from_shape_vec(x.dim(), v.to_vec()).unwrap();
        layer.forward(y.view_mut(), Mode::Train, &mut mask_stream(MASK_SEED));
        fake_loss(y.view(), &r)
    });
    assert!(kept > 5, "the mask should keep some units");
    assert_eq!(report.failures, kept, "{report}");
}

fn parameters(mlp: &mut Mlp<f64>) -> Vec<f64> {
    let mut out = Vec::new();
    mlp.visit_parameters(|_, p, _| out.extend_from_slice(p));
    out
}

fn gradients(mlp: &mut Mlp<f64>) -> Vec<f64> {
    let mut out = Vec::new();
    mlp.visit_parameters(|_, _, g| out.extend_from_slice(g));
    out
}

fn set_parameters(mlp: &mut Mlp<f64>, theta: &[f64]) {
    let mut at = 0;
    mlp.visit_parameters(|_, p, _| {
        p.copy_from_slice(&theta[at..at + p.len()]);
        at += p.len();
    });
}

/// The Mlp's forward rebuilt from its parts, as the docs describe it.
fn composed_forward(mlp: &Mlp<f64>, x: &Array2<f64>, mode: Mode) -> Array2<f64> {
    let mut rng = mask_stream(MASK_SEED);
    let last = mlp.layers().len() - 1;
    let mut h = x.clone();
    Dropout::new(mlp.input_dropout()).forward(
        h.view_mut(),
        mode,
        &mut input_mask_stream(MASK_SEED),
    );
    for (l, layer) in mlp.layers().iter().enumerate() {
        let mut z = Array2::zeros((x.nrows(), layer.d_out()));
        layer.forward(h.view(), z.view_mut());
        if l < last {
            relu_forward(z.view_mut());
            Dropout::new(mlp.dropout()).forward(z.view_mut(), mode, &mut rng);
        }
        h = z;
    }
    h
}

#[test]
fn the_mlp_is_exactly_its_layers_composed() {
    // The shapes, dropout rates and modes of the MLPs `cases()` checks the gradients of.
    let teacher: &[usize] = &[12, 9, 9, 4];
    for (sizes, p, p_in, mode) in [
        (teacher, 0.5, 0.0, Mode::Train),
        (teacher, 0.5, 0.2, Mode::Train),
        (teacher, 0.5, 0.0, Mode::Eval),
        (&[12, 7, 4], 0.0, 0.0, Mode::Train),
        (&[6, 3], 0.0, 0.0, Mode::Train),
    ] {
        let mut mlp = Mlp::<f64>::new(sizes, p, 11).with_input_dropout(p_in);
        // Nonzero biases so their path through the forward pass is compared too.
        let mut bias_rng = Xoshiro256PlusPlus::seed_from_u64(12);
        mlp.visit_parameters(|slot, b, _| {
            if slot % 2 == 1 {
                let noise = Array::random_using(b.len(), Uniform::new(-0.3, 0.3), &mut bias_rng);
                b.copy_from_slice(noise.as_slice().unwrap());
            }
        });
        let x = uniform((5, sizes[0]), 13);
        mlp.reseed_dropout(MASK_SEED);
        let logits = mlp.forward(x.view(), mode).to_owned();
        assert_eq!(
            logits,
            composed_forward(&mlp, &x, mode),
            "{sizes:?} p={p} p_in={p_in} {mode:?}"
        );
    }
}

#[test]
fn input_dropout_is_the_identity_in_eval_and_with_rate_zero() {
    let x = uniform((5, 12), 13);
    let mut plain = Mlp::<f64>::new(&[12, 9, 4], 0.5, 11);
    let mut with_input = Mlp::<f64>::new(&[12, 9, 4], 0.5, 11).with_input_dropout(0.3);
    assert_eq!(
        plain.forward(x.view(), Mode::Eval).to_owned(),
        with_input.forward(x.view(), Mode::Eval).to_owned()
    );
    // Train mode, rate 0: the same logits as a model built without it (no draw, no arithmetic)
    let mut zero = Mlp::<f64>::new(&[12, 9, 4], 0.5, 11).with_input_dropout(0.0);
    let mut plain = Mlp::<f64>::new(&[12, 9, 4], 0.5, 11);
    assert_eq!(
        plain.forward(x.view(), Mode::Train).to_owned(),
        zero.forward(x.view(), Mode::Train).to_owned()
    );
    // (With a rate > 0, the_mlp_is_exactly_its_layers_composed proves the input mask comes from
    // input_mask_stream and the hidden masks from mask_stream, as without input dropout.)
}

/// The MLP's parameter gradients rebuilt from its layers' own backward passes, in slot order,
/// with or without the ReLU mask (`relu_mask = false` is the negative control's bug).
fn composed_gradients(
    mlp: &Mlp<f64>,
    x: &Array2<f64>,
    r: &Array2<f64>,
    relu_mask: bool,
) -> Vec<f64> {
    let mut layers = mlp.layers().to_vec();
    let last = layers.len() - 1;
    let mut rng = mask_stream(MASK_SEED);
    let (mut inputs, mut dropouts) = (vec![x.clone()], Vec::new());
    for (l, layer) in layers.iter().enumerate() {
        let mut z = Array2::zeros((x.nrows(), layer.d_out()));
        layer.forward(inputs[l].view(), z.view_mut());
        if l < last {
            relu_forward(z.view_mut());
            let mut dropout = Dropout::new(mlp.dropout());
            dropout.forward(z.view_mut(), Mode::Train, &mut rng);
            dropouts.push(dropout);
        }
        inputs.push(z); // inputs[l + 1] = h_{l+1}
    }
    let mut dy = r.clone();
    for l in (0..=last).rev() {
        let mut dx = Array2::zeros(inputs[l].dim());
        layers[l].zero_grad();
        layers[l].backward(inputs[l].view(), dy.view(), Some(dx.view_mut()));
        if l > 0 {
            dropouts[l - 1].backward(dx.view_mut());
            if relu_mask {
                relu_backward(inputs[l].view(), dx.view_mut());
            }
        }
        dy = dx;
    }
    layers
        .iter()
        .flat_map(|d| d.dweight.iter().chain(d.dbias.iter()).copied())
        .collect()
}

#[test]
fn checker_fails_on_an_mlp_backward_without_the_relu_mask() {
    let sizes = [12, 9, 9, 4];
    let mut mlp = Mlp::<f64>::new(&sizes, 0.5, 11);
    let x = uniform((5, sizes[0]), 13);
    let r = uniform((5, sizes[3]), 14);
    mlp.reseed_dropout(MASK_SEED);
    mlp.forward(x.view(), Mode::Train);
    mlp.zero_grad();
    mlp.backward(r.view());
    let right = composed_gradients(&mlp, &x, &r, true);
    assert_eq!(
        right,
        gradients(&mut mlp),
        "the composition is the Mlp's backward"
    );
    let wrong = composed_gradients(&mlp, &x, &r, false);

    let mut theta = parameters(&mut mlp);
    let mut loss = |t: &[f64]| {
        set_parameters(&mut mlp, t);
        mlp.reseed_dropout(MASK_SEED);
        fake_loss(mlp.forward(x.view(), Mode::Train), &r)
    };
    assert!(check(&mut theta, &right, &mut loss).passed());
    // Every parameter below the last hidden ReLU (layers 1 and 2) gets a wrong gradient wherever
    // a unit is negative: at least a quarter of those elements fail.
    let below = (sizes[0] + 1) * sizes[1] + (sizes[1] + 1) * sizes[2];
    let report = check(&mut theta, &wrong, &mut loss);
    assert_rejected(&report, below / 4);
}

#[test]
fn backward_accumulates_and_zero_grad_resets() {
    let mut mlp = Mlp::<f64>::new(&[8, 6, 6, 3], 0.5, 21);
    let x = uniform((4, 8), 22);
    let r = uniform((4, 3), 23);
    mlp.forward(x.view(), Mode::Train);
    mlp.backward(r.view());
    let once = gradients(&mut mlp);
    mlp.backward(r.view()); // same forward, same dlogits: the gradient doubles
    let twice = gradients(&mut mlp);
    for (i, (&g1, &g2)) in once.iter().zip(&twice).enumerate() {
        assert!(
            (g2 - 2.0 * g1).abs() <= 1e-12 * g1.abs().max(1.0),
            "slot element {i}: {g2} vs 2·{g1}"
        );
    }
    assert!(once.iter().any(|&g| g != 0.0));
    mlp.zero_grad();
    assert!(gradients(&mut mlp).iter().all(|&g| g == 0.0));
    mlp.backward(r.view());
    assert_eq!(gradients(&mut mlp), once);
}

#[test]
fn overwriting_backward_equals_zero_grad_then_backward() {
    let mut mlp = Mlp::<f64>::new(&[8, 6, 6, 3], 0.5, 21);
    let x = uniform((4, 8), 22);
    let r = uniform((4, 3), 23);
    mlp.forward(x.view(), Mode::Train);
    mlp.backward(r.view());
    let once = gradients(&mut mlp);
    mlp.backward(r.view()); // stale gradients, now twice the batch's
    mlp.backward_with(r.view(), Gradients::Overwrite);
    assert_eq!(
        gradients(&mut mlp),
        once,
        "overwrite discards what was there"
    );
}

/// Logits of two Train batches (64 then 48 rows) and the gradients accumulated over both, plus
/// predict on 100 rows, in f32 on the real teacher shape (every gemm above the split threshold).
fn teacher_run(threads: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut mlp = Mlp::<f32>::new(&[784, 1200, 1200, 10], 0.5, 31);
        let x = uniform((64, 784), 32).mapv(|v| v as f32);
        let r = uniform((64, 10), 33).mapv(|v| v as f32);
        let mut logits = Vec::new();
        for rows in [64, 48] {
            let xb = x.slice(ndarray::s![..rows, ..]);
            logits.extend(mlp.forward(xb, Mode::Train).iter().copied());
            mlp.backward(r.slice(ndarray::s![..rows, ..]));
        }
        let mut grads = Vec::new();
        mlp.visit_parameters(|_, _, g| grads.extend_from_slice(g));
        let predicted = mlp.predict(x.view()).iter().copied().collect();
        (logits, grads, predicted)
    })
}

#[test]
fn bit_identical_for_any_thread_count() {
    let reference = teacher_run(1);
    for threads in [2, 3, 4, 16] {
        let run = teacher_run(threads);
        // Compare bit patterns, so -0.0 vs 0.0 or NaN would also be caught.
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert!(
            bits(&run.0) == bits(&reference.0),
            "logits differ with {threads} threads"
        );
        assert!(
            bits(&run.1) == bits(&reference.1),
            "gradients differ with {threads} threads"
        );
        assert!(
            bits(&run.2) == bits(&reference.2),
            "predict differs with {threads} threads"
        );
    }
}
