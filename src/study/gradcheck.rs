//! `distill gradcheck`: every layer and loss of the engine against central differences, on small
//! random inputs, as one table.
//!
//! ```text
//! numeric_i = [L(x + ε·e_i) − L(x − ε·e_i)] / (2ε)        (crate::gradcheck, ε = 1e-6)
//! pass      ⇔ |a_i − n_i| ≤ atol + rtol·|n_i| for every i   (atol 1e-5, rtol 1e-3)
//! layers:  L = Σ y ⊙ r with a fixed random r, so dL/dy = r
//! losses:  L = the loss itself (CE, KL, the distillation loss), or Σ softmax(z/T) ⊙ r
//! ```
//! The table is built from a list of [`Case`]s ([`cases`]); [`run_checks`] runs any list, so a
//! test can swap one case for a deliberately wrong gradient and see the table fail.
//!
//! Every case runs the engine's own code in the chosen [`Dtype`]: `f64` is where the checks
//! belong; `f32` (what training uses) shows why: the difference quotient of a loss known to 7
//! digits, over a step of 1e-6, keeps almost none of them.

use std::fmt;

use ndarray::{Array1, Array2, ArrayView2, Zip};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::gradcheck::{check_gradient, Tolerance};
use crate::loss::{
    cross_entropy, kl_divergence, log_softmax, log_softmax_backward, softmax, softmax_backward,
    DistillLoss, SoftScale,
};
use crate::nn::{mask_stream, relu_backward, relu_forward, Dense, Dropout, Mlp, Mode};
use crate::Scalar;

/// The element type the checked code runs in.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 32-bit floats: what training uses; too coarse for central differences.
    F32,
    /// 64-bit floats: where gradient checks belong.
    F64,
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        })
    }
}

/// A scalar function of a flattened point: the loss a gradient check differentiates.
pub type LossFn = Box<dyn FnMut(&[f64]) -> f64>;

/// One gradient-check problem: a point `x`, the analytic gradient there, and the scalar `L(x)`.
pub struct Problem {
    /// The point, flattened row-major (values of the case's dtype, widened to f64).
    pub x: Vec<f64>,
    /// `dL/dx` at `x` from the engine's backward pass, same length as `x`.
    pub analytic: Vec<f64>,
    /// `L(x)`, computed by the engine's forward pass in the case's dtype.
    pub loss: LossFn,
}

/// One row of the table: what is checked, and how to build its [`Problem`].
pub struct Case {
    /// The layer or loss, e.g. `"Dense"`, `"softmax T=2"`.
    pub op: String,
    /// What the gradient is taken with respect to, e.g. `"W"`, `"z_s"`.
    pub parameter: String,
    /// Builds the problem for a dtype and a seed.
    pub problem: Box<dyn Fn(Dtype, u64) -> Problem>,
}

impl Case {
    /// A case from its names and its problem builder.
    pub fn new(
        op: impl Into<String>,
        parameter: impl Into<String>,
        problem: impl Fn(Dtype, u64) -> Problem + 'static,
    ) -> Self {
        Case {
            op: op.into(),
            parameter: parameter.into(),
            problem: Box::new(problem),
        }
    }
}

/// One checked row.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The layer or loss.
    pub op: String,
    /// The variable the gradient is taken with respect to.
    pub parameter: String,
    /// `max_i |a_i − n_i|`.
    pub max_abs_error: f64,
    /// `max_i |a_i − n_i| / max(|a_i|, |n_i|)` (0 where both are 0).
    pub max_rel_error: f64,
    /// Step and tolerances: element `i` passes iff `|a_i − n_i| ≤ atol + rtol·|n_i|`.
    pub tolerance: Tolerance,
    /// Whether every element passed.
    pub passed: bool,
}

/// The whole table.
#[derive(Debug, Clone, Serialize)]
pub struct GradcheckTable {
    /// The dtype every case ran in.
    pub dtype: Dtype,
    /// The seed of the random inputs.
    pub seed: u64,
    /// One row per case, in the order of [`cases`].
    pub checks: Vec<Check>,
}

impl GradcheckTable {
    /// How many checks failed.
    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed).count()
    }

    /// `Ok` when every check passed.
    ///
    /// # Errors
    /// [`Error::GradcheckFailed`] with the count of failed checks.
    pub fn verdict(&self) -> Result<()> {
        match self.failures() {
            0 => Ok(()),
            failed => Err(Error::GradcheckFailed {
                failed,
                total: self.checks.len(),
                dtype: self.dtype.to_string(),
            }),
        }
    }
}

/// Why the checks run in f64, printed under an f32 table.
pub const WHY_F64: &str = "why f64: f32 keeps ~7 digits (unit roundoff 6e-8): L(x ± 1e-6) \
     agree in all but their last few digits, and x ± 1e-6 itself rounds to another step (to no \
     step at all once |x| ≥ 32), so [L(x+ε) − L(x−ε)]/(2ε) is off by ~|L|·6e-8/1e-6 ≈ 6% of |L|; \
     in f64 (unit roundoff 1e-16) the same quotient is good to ~1e-10.";

impl fmt::Display for GradcheckTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gradient checks in {} (seed {}): central differences vs backward",
            self.dtype, self.seed
        )?;
        writeln!(
            f,
            "{:<40} {:<9} {:>13} {:>13}  {:<26} result",
            "op", "parameter", "max abs error", "max rel error", "tolerance (ε 1e-6)"
        )?;
        for c in &self.checks {
            let tol = format!(
                "|a−n| ≤ {:.0e} + {:.0e}·|n|",
                c.tolerance.atol, c.tolerance.rtol
            );
            writeln!(
                f,
                "{:<40} {:<9} {:>13.3e} {:>13.3e}  {:<26} {}",
                c.op,
                c.parameter,
                c.max_abs_error,
                c.max_rel_error,
                tol,
                if c.passed { "pass" } else { "FAIL" }
            )?;
        }
        let failed = self.failures();
        writeln!(
            f,
            "{} of {} checks passed{}",
            self.checks.len() - failed,
            self.checks.len(),
            if failed > 0 {
                format!(", {failed} FAILED")
            } else {
                String::new()
            }
        )?;
        if self.dtype == Dtype::F32 {
            writeln!(f, "{WHY_F64}")?;
        }
        Ok(())
    }
}

/// Runs every case at the default tolerances (`crate::gradcheck::Tolerance::default()`).
pub fn run_checks(cases: &[Case], dtype: Dtype, seed: u64) -> GradcheckTable {
    let tolerance = Tolerance::default();
    let checks = cases
        .iter()
        .map(|case| {
            let mut p = (case.problem)(dtype, seed);
            let report = check_gradient(&mut p.x, &p.analytic, &mut p.loss, tolerance);
            Check {
                op: case.op.clone(),
                parameter: case.parameter.clone(),
                max_abs_error: report.max_abs_error,
                max_rel_error: report.max_rel_error,
                tolerance,
                passed: report.passed(),
            }
        })
        .collect();
    GradcheckTable {
        dtype,
        seed,
        checks,
    }
}

/// A case whose problem is `f::<A>(seed, args…)` for the dtype asked for.
macro_rules! case {
    ($op:expr, $parameter:expr, $f:ident($($arg:expr),*)) => {
        Case::new($op, $parameter, move |dtype, seed| match dtype {
            Dtype::F32 => $f::<f32>(seed $(, $arg)*),
            Dtype::F64 => $f::<f64>(seed $(, $arg)*),
        })
    };
}

/// Temperatures of the softmax, log-softmax and KL checks.
const TEMPERATURES: [f64; 5] = [0.5, 1.0, 2.0, 10.0, 20.0];

/// Every layer and loss of the engine: Dense (x, W, b), ReLU, Dropout (train with a fixed mask,
/// eval), softmax, log-softmax and KL at T = 0.5, 1, 2, 10, 20, cross-entropy, the distillation
/// loss at α = 0, 0.1, 0.5, 1 and T = 2, 10 for both soft scales, and five whole small MLPs
/// (teacher-shaped with dropout in train and eval mode and with input dropout, student-shaped,
/// one layer).
///
/// This list is the crate's gradient checks: `tests/study_gradcheck.rs` runs every case in f64
/// and fails if one is missing, so a check belongs here, not in a test of its own.
pub fn cases() -> Vec<Case> {
    let mut cases = vec![
        case!("Dense", "x", dense_problem(DenseWrt::X)),
        case!("Dense", "W", dense_problem(DenseWrt::Weight)),
        case!("Dense", "b", dense_problem(DenseWrt::Bias)),
        case!("ReLU", "x", relu_problem()),
        case!(
            "Dropout p=0.5 (fixed mask)",
            "x",
            dropout_problem(Mode::Train)
        ),
        case!("Dropout p=0.5 (eval)", "x", dropout_problem(Mode::Eval)),
    ];
    for t in TEMPERATURES {
        cases.push(case!(format!("softmax T={t}"), "z", softmax_problem(t)));
    }
    for t in TEMPERATURES {
        cases.push(case!(
            format!("log_softmax T={t}"),
            "z",
            log_softmax_problem(t)
        ));
    }
    cases.push(case!("cross_entropy", "z", cross_entropy_problem()));
    for t in TEMPERATURES {
        cases.push(case!(format!("KL(p_t ‖ p_s) T={t}"), "z_s", kl_problem(t)));
    }
    for soft_scale in [SoftScale::One, SoftScale::TSquared] {
        for temperature in [2.0, 10.0] {
            for alpha in [0.0, 0.1, 0.5, 1.0] {
                let loss = DistillLoss {
                    alpha,
                    temperature,
                    soft_scale,
                };
                let op = format!("distill α={alpha} T={temperature} s={soft_scale}");
                cases.push(case!(op, "z_s", distill_problem(loss)));
            }
        }
    }
    let teacher: &[usize] = &[12, 9, 9, 4];
    for (op, sizes, p, p_in, mode) in [
        (
            "MLP 12-9-9-4 p=0.5 (train, fixed masks)",
            teacher,
            0.5,
            0.0,
            Mode::Train,
        ),
        (
            "MLP 12-9-9-4 p_in=0.2 p=0.5 (train)",
            teacher,
            0.5,
            0.2,
            Mode::Train,
        ),
        ("MLP 12-9-9-4 p=0.5 (eval)", teacher, 0.5, 0.0, Mode::Eval),
        ("MLP 12-7-4", &[12, 7, 4], 0.0, 0.0, Mode::Train),
        ("MLP 6-3", &[6, 3], 0.0, 0.0, Mode::Train),
    ] {
        cases.push(case!(op, "all W, b", mlp_problem(sizes, p, p_in, mode)));
    }
    cases
}

// ----- random inputs -----------------------------------------------------------------------

/// Values uniform in `[−half_width, half_width)`, from the stream of `(seed, purpose)`, rounded
/// to `A`.
///
/// ```text
/// stream = Xoshiro256PlusPlus::seed_from_u64(seed + purpose·0x9E3779B97F4A7C15)
/// ```
/// (`seed_from_u64` expands its argument with SplitMix64, so nearby arguments give unrelated
/// streams.)
fn draw<A: Scalar>(shape: (usize, usize), seed: u64, purpose: u64, half_width: f64) -> Array2<A> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        seed.wrapping_add(purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    );
    Array2::from_shape_fn(shape, |_| A::of(rng.gen_range(-half_width..half_width)))
}

/// Logit scale for temperature `t`: proportional to `T`, so `softmax(z/T)` stays far from
/// uniform and the gradient, which carries a `1/T`, stays well above `atol`.
fn logit_scale(t: f64) -> f64 {
    2.0 * t.max(1.0)
}

/// The elements of `a`, widened to f64.
fn widen<A: Scalar>(a: impl IntoIterator<Item = A>) -> Vec<f64> {
    a.into_iter()
        .map(|v| v.to_f64().expect("a float widens to f64"))
        .collect()
}

/// `v` rounded to `A`, as a `shape` array.
fn narrow<A: Scalar>(shape: (usize, usize), v: &[f64]) -> Array2<A> {
    Array2::from_shape_fn(shape, |(i, j)| A::of(v[i * shape.1 + j]))
}

/// The fake loss `L = Σ y ⊙ r`, summed in `A`.
fn fake_loss<A: Scalar>(y: ArrayView2<A>, r: &Array2<A>) -> f64 {
    let sum = Zip::from(&y)
        .and(r)
        .fold(A::zero(), |acc, &y, &r| acc + y * r);
    widen([sum])[0]
}

// ----- the problems --------------------------------------------------------------------------

/// Which gradient of a Dense layer is checked.
#[derive(Clone, Copy)]
enum DenseWrt {
    X,
    Weight,
    Bias,
}

/// Dense 7 → 5 on a batch of 4, `L = Σ y ⊙ r`.
fn dense_problem<A: Scalar>(seed: u64, wrt: DenseWrt) -> Problem {
    let weight = draw::<A>((7, 5), seed, 1, 1.0);
    let bias: Array1<A> = draw::<A>((1, 5), seed, 2, 1.0).row(0).to_owned();
    let x = draw::<A>((4, 7), seed, 3, 1.0);
    let r = draw::<A>((4, 5), seed, 4, 1.0);
    let mut layer = Dense::from_parameters(weight, bias);
    let mut dx = Array2::zeros(x.dim());
    layer.backward(x.view(), r.view(), Some(dx.view_mut()));
    let loss = move |layer: &Dense<A>, x: ArrayView2<A>| {
        let mut y = Array2::zeros((x.nrows(), layer.d_out()));
        layer.forward(x, y.view_mut());
        fake_loss(y.view(), &r)
    };
    match wrt {
        DenseWrt::X => Problem {
            x: widen(x.iter().copied()),
            analytic: widen(dx),
            loss: Box::new(move |v| loss(&layer, narrow::<A>(x.dim(), v).view())),
        },
        DenseWrt::Weight => Problem {
            x: widen(layer.weight.iter().copied()),
            analytic: widen(layer.dweight.iter().copied()),
            loss: Box::new(move |v| {
                layer.weight = narrow(layer.weight.dim(), v);
                loss(&layer, x.view())
            }),
        },
        DenseWrt::Bias => Problem {
            x: widen(layer.bias.iter().copied()),
            analytic: widen(layer.dbias.iter().copied()),
            loss: Box::new(move |v| {
                layer.bias = narrow::<A>((1, v.len()), v).row(0).to_owned();
                loss(&layer, x.view())
            }),
        },
    }
}

/// ReLU on a (5, 6) input kept at least 1e-3 from the kink, `L = Σ relu(x) ⊙ r`.
fn relu_problem<A: Scalar>(seed: u64) -> Problem {
    let away = A::of(1e-3);
    let x = draw::<A>((5, 6), seed, 5, 1.0).mapv(|v| v.signum() * (v.abs() + away));
    let r = draw::<A>((5, 6), seed, 6, 1.0);
    let mut y = x.clone();
    relu_forward(y.view_mut());
    let mut dx = r.clone();
    relu_backward(y.view(), dx.view_mut()); // r ⊙ [x > 0]
    Problem {
        x: widen(x.iter().copied()),
        analytic: widen(dx),
        loss: Box::new(move |v| {
            let mut y = narrow::<A>(x.dim(), v);
            relu_forward(y.view_mut());
            fake_loss(y.view(), &r)
        }),
    }
}

/// Dropout p = 0.5 in `mode` on a (6, 9) input; the mask stream restarts before every forward,
/// so in Train mode every evaluation drops the same units (in Eval mode dropout is the identity).
fn dropout_problem<A: Scalar>(seed: u64, mode: Mode) -> Problem {
    let x = draw::<A>((6, 9), seed, 7, 1.0);
    let r = draw::<A>((6, 9), seed, 8, 1.0);
    let mut layer = Dropout::new(0.5);
    let mut y = x.clone();
    layer.forward(y.view_mut(), mode, &mut mask_stream(seed));
    let mut dx = r.clone();
    layer.backward(dx.view_mut()); // r ⊙ m/(1−p) in Train, r in Eval
    Problem {
        x: widen(x.iter().copied()),
        analytic: widen(dx),
        loss: Box::new(move |v| {
            let mut y = narrow::<A>(x.dim(), v);
            layer.forward(y.view_mut(), mode, &mut mask_stream(seed)); // same mask
            fake_loss(y.view(), &r)
        }),
    }
}

/// `L = Σ softmax(z/T) ⊙ r` on (3, 5) logits, `r` uniform in `[−T, T]` (at least `[−1, 1]`):
/// `dL/dz = p ⊙ (r − ⟨p, r⟩)/T` carries a `1/T` that `r` makes up for, so most of the gradient
/// stays above what a 1% error can show even at T = 20.
fn softmax_problem<A: Scalar>(seed: u64, t: f64) -> Problem {
    let z = draw::<A>((3, 5), seed, 9, logit_scale(t));
    let r = draw::<A>((3, 5), seed, 10, t.max(1.0));
    let t = A::of(t);
    let p = softmax(z.view(), t);
    let dz = softmax_backward(p.view(), r.view(), t);
    Problem {
        x: widen(z.iter().copied()),
        analytic: widen(dz),
        loss: Box::new(move |v| fake_loss(softmax(narrow::<A>(z.dim(), v).view(), t).view(), &r)),
    }
}

/// `L = Σ log_softmax(z/T) ⊙ r` on (3, 5) logits.
fn log_softmax_problem<A: Scalar>(seed: u64, t: f64) -> Problem {
    let z = draw::<A>((3, 5), seed, 11, logit_scale(t));
    let r = draw::<A>((3, 5), seed, 12, 1.0);
    let t = A::of(t);
    let log_p = log_softmax(z.view(), t);
    let dz = log_softmax_backward(log_p.view(), r.view(), t);
    Problem {
        x: widen(z.iter().copied()),
        analytic: widen(dz),
        loss: Box::new(move |v| {
            fake_loss(log_softmax(narrow::<A>(z.dim(), v).view(), t).view(), &r)
        }),
    }
}

/// Labels of the (3, 5) loss problems.
const LABELS: [u8; 3] = [4, 0, 2];

/// Logit scale of the cross-entropy checks: wider logits saturate `softmax(z)`, and most of its
/// gradient would lie below what a 1% error can show.
const CE_LOGIT_SCALE: f64 = 3.0;

/// `L = CE(y, softmax(z))` on (3, 5) logits.
fn cross_entropy_problem<A: Scalar>(seed: u64) -> Problem {
    let z = draw::<A>((3, 5), seed, 13, CE_LOGIT_SCALE);
    let dz = cross_entropy(z.view(), &LABELS).dz;
    Problem {
        x: widen(z.iter().copied()),
        analytic: widen(dz),
        loss: Box::new(move |v| {
            widen([cross_entropy(narrow::<A>(z.dim(), v).view(), &LABELS).loss])[0]
        }),
    }
}

/// `L = KL(softmax(z_t/T) ‖ softmax(z_s/T))` on (3, 5) logits, with respect to `z_s`, at a student
/// that mirrors the teacher (`z_s = −z_t`): `p_s` and `p_t` then differ on every class, and the
/// gradient `(p_s − p_t)/(T·B)` stays above what a 1% error can show even at T = 20.
fn kl_problem<A: Scalar>(seed: u64, t: f64) -> Problem {
    let z_t = draw::<A>((3, 5), seed, 14, logit_scale(t));
    let z_s = z_t.mapv(|z| -z);
    let t = A::of(t);
    let dz = kl_divergence(z_t.view(), z_s.view(), t).dz;
    Problem {
        x: widen(z_s.iter().copied()),
        analytic: widen(dz),
        loss: Box::new(move |v| {
            let z_s = narrow::<A>(z_t.dim(), v);
            widen([kl_divergence(z_t.view(), z_s.view(), t).loss])[0]
        }),
    }
}

/// `L = α·CE(y, q) + (1−α)·s·KL(p_t ‖ p_s)` on (3, 5) logits, with respect to `z_s`.
fn distill_problem<A: Scalar>(seed: u64, loss: DistillLoss) -> Problem {
    // α = 1 is pure cross-entropy, whose softmax has no 1/T: it gets the CE scale.
    let scale = if loss.alpha == 1.0 {
        CE_LOGIT_SCALE
    } else {
        logit_scale(loss.temperature)
    };
    let z_t = draw::<A>((3, 5), seed, 16, scale);
    let z_s = draw::<A>((3, 5), seed, 17, scale);
    let dz = loss.compute(z_s.view(), z_t.view(), &LABELS).dz_s;
    Problem {
        x: widen(z_s.iter().copied()),
        analytic: widen(dz),
        loss: Box::new(move |v| {
            let z_s = narrow::<A>(z_t.dim(), v);
            widen([loss.compute(z_s.view(), z_t.view(), &LABELS).total])[0]
        }),
    }
}

/// A whole MLP of shape `sizes` with hidden dropout `p` and input dropout `p_in`, its forward
/// pass in `mode` (masks restarted before every forward), nonzero biases, a batch of 5,
/// `L = Σ logits ⊙ r`, with respect to every parameter.
fn mlp_problem<A: Scalar>(seed: u64, sizes: &[usize], p: f64, p_in: f64, mode: Mode) -> Problem {
    let mut mlp = Mlp::<A>::new(sizes, p, seed).with_input_dropout(p_in);
    let mut layer = 0;
    mlp.visit_parameters(|slot, b, _| {
        if slot % 2 == 1 {
            let noise = draw::<A>((1, b.len()), seed, 18 + layer, 0.3);
            b.copy_from_slice(noise.as_slice().expect("standard layout"));
            layer += 1;
        }
    });
    let x = draw::<A>((5, sizes[0]), seed, 30, 1.0);
    let r = draw::<A>((5, sizes[sizes.len() - 1]), seed, 31, 1.0);
    mlp.reseed_dropout(seed);
    mlp.forward(x.view(), mode);
    mlp.zero_grad();
    mlp.backward(r.view());
    let (mut theta, mut analytic) = (Vec::new(), Vec::new());
    mlp.visit_parameters(|_, p, g| {
        theta.extend(widen(p.iter().copied()));
        analytic.extend(widen(g.iter().copied()));
    });
    Problem {
        x: theta,
        analytic,
        loss: Box::new(move |v| {
            let mut at = 0;
            mlp.visit_parameters(|_, p, _| {
                p.iter_mut().zip(&v[at..]).for_each(|(p, &v)| *p = A::of(v));
                at += p.len();
            });
            mlp.reseed_dropout(seed); // frozen masks
            let logits = mlp.forward(x.view(), mode).to_owned();
            fake_loss(logits.view(), &r)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relu_problem_keeps_every_input_a_thousandth_from_the_kink() {
        // Central differences straddling 0 would see the kink, not the derivative.
        for seed in 0..200 {
            let x = relu_problem::<f64>(seed).x;
            assert!(x.iter().all(|v| v.abs() >= 1e-3), "seed {seed}: {x:?}");
            assert!(x.iter().any(|&v| v > 0.0) && x.iter().any(|&v| v < 0.0));
        }
    }

    #[test]
    fn the_mlp_problem_has_its_own_nonzero_biases_in_every_layer() {
        // θ in slot order: W₀ (4·3), b₀ (3), W₁ (3·2), b₁ (2). Zero biases would leave the
        // ReLU masks and the bias gradients checked only at the initialisation's special point.
        let problem = mlp_problem::<f64>(7, &[4, 3, 2], 0.0, 0.0, Mode::Train);
        assert_eq!(problem.x.len(), 23);
        let (b0, b1) = (&problem.x[12..15], &problem.x[21..23]);
        assert!(b0.iter().chain(b1).all(|&b| b != 0.0), "{b0:?} {b1:?}");
        assert_ne!(b1, &b0[..2], "each layer draws its own biases");
    }
}
