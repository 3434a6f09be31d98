//! `distill explain`: one distillation step on a few test images, in the order of docs/math.md.
//!
//! ```text
//! z_t = teacher(x)   z_s = student(x)                         (f32 models, eval mode)
//! p_t = softmax(z_t/T)   p_s = softmax(z_s/T)   q = softmax(z_s)      (in f64 from here on)
//! CE = −(1/B) Σ_b log q_b[y_b]     KL = (1/B) Σ_b Σ_j p_t (log p_t − log p_s)
//! L  = α·CE + (1−α)·s·KL                                      DistillLoss::compute
//! ∂L/∂z_s = α(q − onehot(y))/B  +  (1−α)(s/T)(p_s − p_t)/B     DistillLoss::gradient_parts
//! sweep:  ‖soft part‖ at T ∈ {1, 2, 5, 10, 20} with s = 1 and s = T²
//! eq. 4:  T²·∂KL/∂z_s  vs  (z_s − z_t)/(N·B)   for zero-mean logits, relative error ≤ ~m/T
//! ```
//! Every number comes from `crate::loss` (softmax, kl_divergence, DistillLoss) on the models'
//! logits: nothing here computes a softmax, a KL or a gradient of its own.

use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

use super::{gather, validate_indices};
use crate::config::{ModelConfig, TrainConfig};
use crate::data::{Split, CLASSES};
use crate::error::Result;
use crate::experiment::{load_model, student_seed};
use crate::loss::{kl_divergence, softmax, DistillLoss, SoftScale};
use crate::nn::Mlp;

/// Temperatures of the soft-gradient sweep (`T²` argument of Hinton et al. §2).
pub const SWEEP_TEMPERATURES: [f64; 5] = [1.0, 2.0, 5.0, 10.0, 20.0];

/// Temperatures at which eq. 4's logit-matching limit is compared.
pub const LIMIT_TEMPERATURES: [f64; 4] = [10.0, 100.0, 1000.0, 10000.0];

/// Significant digits the gradient norms are printed with (`{:.3e}`: 4 digits).
pub const NORM_DIGITS: usize = 4;

/// Where a model comes from: a checkpoint, or a fresh initialisation (said so in the output).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A trained checkpoint.
    Checkpoint(PathBuf),
    /// `Mlp::new(shape, dropout, seed)`: untrained.
    Fresh {
        /// The model's shape (hidden widths and dropout).
        config: ModelConfig,
        /// The initialisation seed.
        seed: u64,
    },
}

impl ModelSource {
    /// `path` if given, else a fresh model of `config` from the notebook's seed (42 for the
    /// teacher; the student's seed, 43, for the student, as training would use).
    pub fn teacher(path: Option<&Path>) -> Self {
        path.map_or_else(
            || ModelSource::Fresh {
                config: ModelConfig::teacher(),
                seed: TrainConfig::default().seed,
            },
            |p| ModelSource::Checkpoint(p.to_path_buf()),
        )
    }

    /// As [`ModelSource::teacher`], for the student.
    pub fn student(path: Option<&Path>) -> Self {
        path.map_or_else(
            || ModelSource::Fresh {
                config: ModelConfig::student(),
                seed: student_seed(TrainConfig::default().seed),
            },
            |p| ModelSource::Checkpoint(p.to_path_buf()),
        )
    }

    /// The model, taking `input_size` pixels and giving [`CLASSES`] logits.
    ///
    /// # Errors
    /// As [`load_model`]: a damaged checkpoint, or one of the wrong shape.
    pub fn load(&self, input_size: usize) -> Result<Mlp<f32>> {
        match self {
            ModelSource::Checkpoint(path) => load_model(path, input_size),
            ModelSource::Fresh { config, seed } => {
                config.validate_for(input_size, CLASSES)?;
                let sizes = config.sizes(input_size, CLASSES);
                Ok(Mlp::new(&sizes, config.dropout, *seed))
            }
        }
    }

    /// One line for the output: the path, or "freshly initialised ...".
    pub fn describe(&self) -> String {
        match self {
            ModelSource::Checkpoint(path) => path.display().to_string(),
            ModelSource::Fresh { config, seed } => format!(
                "freshly initialised (untrained), hidden {:?}, seed {seed}",
                config.hidden
            ),
        }
    }
}

/// One test image's step.
#[derive(Debug, Clone, Serialize)]
pub struct ImageStep {
    /// Index in the test set.
    pub index: usize,
    /// True label `y`.
    pub label: u8,
    /// Teacher logits `z_t`.
    pub z_t: Vec<f64>,
    /// Student logits `z_s`.
    pub z_s: Vec<f64>,
    /// `softmax(z_t/T)`.
    pub p_t: Vec<f64>,
    /// `softmax(z_s/T)`.
    pub p_s: Vec<f64>,
    /// `softmax(z_s)`.
    pub q: Vec<f64>,
    /// `α(q − onehot(y))/B`.
    pub grad_hard: Vec<f64>,
    /// `(1−α)(s/T)(p_s − p_t)/B`.
    pub grad_soft: Vec<f64>,
    /// `∂L/∂z_s` as `DistillLoss::compute` returns it.
    pub grad: Vec<f64>,
}

/// The soft-gradient norm at one temperature, without and with `T²`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SweepRow {
    /// `T`.
    pub temperature: f64,
    /// `‖α(q − onehot(y))/B‖` (does not depend on `T`).
    pub hard_norm: f64,
    /// `‖(1−α)(1/T)(p_s − p_t)/B‖`: `s = 1`, falls as `1/T²` at high `T`.
    pub soft_norm_one: f64,
    /// `‖(1−α)·T·(p_s − p_t)/B‖`: `s = T²`, flat at high `T`.
    pub soft_norm_t_squared: f64,
}

/// Eq. 4 at one temperature.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LimitRow {
    /// `T`.
    pub temperature: f64,
    /// `‖T²·∂KL/∂z_s − (z_s − z_t)/(N·B)‖ / ‖(z_s − z_t)/(N·B)‖`, zero-mean logits.
    pub relative_error: f64,
    /// The first-order bound `m/T`, `m` the largest `|logit|` after centring.
    pub bound: f64,
}

/// Everything `distill explain` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// Where the teacher came from.
    pub teacher: String,
    /// Where the student came from.
    pub student: String,
    /// `α`, `T`, `s`.
    pub loss: DistillLoss,
    /// Per image: logits, probabilities, gradient parts.
    pub images: Vec<ImageStep>,
    /// `CE(y, q)`, mean over the images.
    pub cross_entropy: f64,
    /// `KL(p_t ‖ p_s)`, mean over the images.
    pub kl: f64,
    /// `L = α·CE + (1−α)·s·KL`.
    pub total: f64,
    /// The soft-gradient norm at [`SWEEP_TEMPERATURES`].
    pub sweep: Vec<SweepRow>,
    /// `m`: the largest `|logit|` of either model after centring each row.
    pub max_centred_logit: f64,
    /// Eq. 4 at [`LIMIT_TEMPERATURES`].
    pub logit_matching: Vec<LimitRow>,
    /// The highest of the limit temperatures.
    pub limit_temperature: f64,
    /// At the highest limit temperature, first image: `T²·∂KL/∂z_s`.
    pub limit_gradient: Vec<f64>,
    /// At the highest limit temperature, first image: `(z_s − z_t)/(N·B)`.
    pub limit_logit_difference: Vec<f64>,
}

/// [`explain_at`] with the issue's temperatures ([`SWEEP_TEMPERATURES`], [`LIMIT_TEMPERATURES`]).
///
/// # Errors
/// [`crate::Error::InvalidConfig`] for an index outside the test set or an invalid `loss`.
pub fn explain(
    teacher: (&Mlp<f32>, &ModelSource),
    student: (&Mlp<f32>, &ModelSource),
    test: &Split,
    indices: &[usize],
    loss: DistillLoss,
) -> Result<Explanation> {
    explain_at(
        teacher,
        student,
        test,
        indices,
        loss,
        &SWEEP_TEMPERATURES,
        &LIMIT_TEMPERATURES,
    )
}

/// One distillation step of `student` towards `teacher` on the test images `indices`, with the
/// soft-gradient sweep at `sweep` and eq. 4 at `limit` (see the module docs).
///
/// ```text
/// shapes  x: (B, D)   z_t, z_s, p_t, p_s, q, gradients: (B, N)     B = indices.len()
/// ```
///
/// # Errors
/// [`crate::Error::InvalidConfig`] for an index outside the test set, an invalid `loss`, or a
/// non-positive temperature in `sweep` or `limit`.
pub fn explain_at(
    (teacher, teacher_source): (&Mlp<f32>, &ModelSource),
    (student, student_source): (&Mlp<f32>, &ModelSource),
    test: &Split,
    indices: &[usize],
    loss: DistillLoss,
    sweep: &[f64],
    limit: &[f64],
) -> Result<Explanation> {
    validate_indices(indices, test)?;
    loss.validate()?;
    super::validate_temperatures(sweep)?;
    super::validate_temperatures(limit)?;
    let (x, labels) = gather(test, indices);
    let z_t = teacher.predict(x.view()).mapv(f64::from);
    let z_s = student.predict(x.view()).mapv(f64::from);

    let t = loss.temperature;
    let (p_t, p_s, q) = (
        softmax(z_t.view(), t),
        softmax(z_s.view(), t),
        softmax(z_s.view(), 1.0),
    );
    let terms = loss.compute(z_s.view(), z_t.view(), &labels);
    let parts = loss.gradient_parts(z_s.view(), z_t.view(), &labels);
    let row = |a: &Array2<f64>, b: usize| a.row(b).to_vec();
    let images = indices
        .iter()
        .zip(&labels)
        .enumerate()
        .map(|(b, (&index, &label))| ImageStep {
            index,
            label,
            z_t: row(&z_t, b),
            z_s: row(&z_s, b),
            p_t: row(&p_t, b),
            p_s: row(&p_s, b),
            q: row(&q, b),
            grad_hard: row(&parts.hard, b),
            grad_soft: row(&parts.soft, b),
            grad: row(&terms.dz_s, b),
        })
        .collect();

    let sweep = sweep
        .iter()
        .map(|&temperature| {
            let at = |soft_scale| DistillLoss {
                temperature,
                soft_scale,
                ..loss
            };
            let one = at(SoftScale::One).gradient_parts(z_s.view(), z_t.view(), &labels);
            let paper = at(SoftScale::TSquared).gradient_parts(z_s.view(), z_t.view(), &labels);
            SweepRow {
                temperature,
                hard_norm: norm(one.hard.view()),
                soft_norm_one: norm(one.soft.view()),
                soft_norm_t_squared: norm(paper.soft.view()),
            }
        })
        .collect();

    let logit_matching = limit
        .iter()
        .map(|&t| logit_matching(z_t.view(), z_s.view(), t))
        .collect();
    let highest = limit.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (centred_t, centred_s) = (centre(z_t.view()), centre(z_s.view()));
    let first = |a: Array2<f64>| a.row(0).to_vec();

    Ok(Explanation {
        teacher: teacher_source.describe(),
        student: student_source.describe(),
        loss,
        images,
        cross_entropy: terms.student,
        kl: terms.distill,
        total: terms.total,
        sweep,
        max_centred_logit: max_abs(centred_t.view(), centred_s.view()),
        logit_matching,
        limit_temperature: highest,
        limit_gradient: first(scaled_kl_gradient(
            centred_t.view(),
            centred_s.view(),
            highest,
        )),
        limit_logit_difference: first(logit_difference(centred_t.view(), centred_s.view())),
    })
}

/// Eq. 4 at temperature `t`: how far `T²·∂KL/∂z_s` is from logit matching.
///
/// ```text
/// z ← z − mean_j z (each row; softmax and every gradient are unchanged)
/// relative error = ‖T²·∂KL/∂z_s − (z_s − z_t)/(N·B)‖ / ‖(z_s − z_t)/(N·B)‖
/// bound          = m/T,   m = max |z| over both centred logit arrays
/// ```
/// The relative error is `O(1/T)` (docs/math.md §8 expands `p = softmax(z/T)` to second
/// order); the first-order term is at most `max|z_s + z_t|/(2T) ≤ m/T`, so for `T ≥ 10·m` the
/// error stays below `2·m/T` (tested on random logits of every scale).
///
/// # Panics
/// If the shapes differ, `B == 0`, or `t` is not positive and finite.
pub fn logit_matching(z_t: ArrayView2<f64>, z_s: ArrayView2<f64>, t: f64) -> LimitRow {
    let (z_t, z_s) = (centre(z_t), centre(z_s));
    let limit = logit_difference(z_t.view(), z_s.view());
    let gap = scaled_kl_gradient(z_t.view(), z_s.view(), t) - &limit;
    LimitRow {
        temperature: t,
        relative_error: norm(gap.view()) / norm(limit.view()),
        bound: max_abs(z_t.view(), z_s.view()) / t,
    }
}

/// `T²·∂KL(p_t ‖ p_s)/∂z_s = T·(p_s − p_t)/B`, from [`kl_divergence`].
fn scaled_kl_gradient(z_t: ArrayView2<f64>, z_s: ArrayView2<f64>, t: f64) -> Array2<f64> {
    kl_divergence(z_t, z_s, t).dz * (t * t)
}

/// Eq. 4's limit `(z_s − z_t)/(N·B)`.
fn logit_difference(z_t: ArrayView2<f64>, z_s: ArrayView2<f64>) -> Array2<f64> {
    let (batch, classes) = z_s.dim();
    (&z_s - &z_t) / (classes * batch) as f64
}

/// `max |v|` over both arrays.
fn max_abs(a: ArrayView2<f64>, b: ArrayView2<f64>) -> f64 {
    a.iter()
        .chain(b.iter())
        .fold(0.0_f64, |m, v| m.max(v.abs()))
}

/// The Frobenius norm `‖a‖ = √(Σ a²)`.
fn norm(a: ArrayView2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Each row minus its mean: `z − mean_j z` (softmax, and so every gradient, is unchanged).
fn centre(z: ArrayView2<f64>) -> Array2<f64> {
    let mean = z.mean_axis(Axis(1)).expect("logits have classes");
    &z - &mean.insert_axis(Axis(1))
}

// ----- text ----------------------------------------------------------------------------------

/// A labelled row of ten numbers, then its formula.
fn vector(f: &mut fmt::Formatter<'_>, name: &str, v: &[f64], formula: &str) -> fmt::Result {
    write!(f, "  {name:<8}")?;
    for x in v {
        if x.abs() >= 1e-3 && x.abs() < 1e3 || *x == 0.0 {
            write!(f, " {x:>9.4}")?;
        } else {
            write!(f, " {x:>9.2e}")?;
        }
    }
    writeln!(f, "   {formula}")
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DistillLoss {
            alpha,
            temperature: t,
            soft_scale,
        } = self.loss;
        let s = soft_scale.factor(t);
        let b = self.images.len();
        writeln!(
            f,
            "one distillation step: α = {alpha}, T = {t}, s = {s} (--soft-scale {soft_scale}), B = {b}"
        )?;
        writeln!(f, "teacher  {}", self.teacher)?;
        writeln!(f, "student  {}", self.student)?;
        for img in &self.images {
            writeln!(
                f,
                "\ntest image {} (label y = {})     class:{}",
                img.index,
                img.label,
                (0..img.z_t.len())
                    .map(|j| format!("{j:>10}"))
                    .collect::<String>()
            )?;
            vector(f, "z_t", &img.z_t, "teacher logits")?;
            vector(f, "z_s", &img.z_s, "student logits")?;
            vector(f, "p_t", &img.p_t, "softmax(z_t/T): the soft targets")?;
            vector(f, "p_s", &img.p_s, "softmax(z_s/T)")?;
            vector(f, "q", &img.q, "softmax(z_s): the student's prediction")?;
            writeln!(f, "  ∂L/∂z_s")?;
            vector(f, "hard", &img.grad_hard, "α(q − onehot(y))/B")?;
            vector(f, "soft", &img.grad_soft, "(1−α)(s/T)(p_s − p_t)/B")?;
            vector(
                f,
                "total",
                &img.grad,
                "DistillLoss::compute (= hard + soft)",
            )?;
        }
        writeln!(f, "\nlosses (mean over the {b} image(s))")?;
        writeln!(
            f,
            "  CE(y, q)       = {:<12.6}  −(1/B) Σ_b log q_b[y_b]",
            self.cross_entropy
        )?;
        writeln!(
            f,
            "  KL(p_t ‖ p_s)  = {:<12.6}  (1/B) Σ_b Σ_j p_t (log p_t − log p_s)",
            self.kl
        )?;
        writeln!(
            f,
            "  L              = {:<12.6}  α·CE + (1−α)·s·KL = {alpha}·CE + {}·KL",
            self.total,
            (1.0 - alpha) * s
        )?;

        let digits = NORM_DIGITS - 1;
        writeln!(
            f,
            "\nthe soft gradient against T (α = {alpha}): its size falls as 1/T², T² puts it back"
        )?;
        writeln!(
            f,
            "  {:>6}  {:>12}  {:>22}  {:>22}  {:>18}",
            "T", "‖hard‖", "‖soft‖ s=1", "‖soft‖ s=T² (=T²·‖·‖)", "T²·‖soft‖ / ‖hard‖"
        )?;
        for r in &self.sweep {
            writeln!(
                f,
                "  {:>6}  {:>12.digits$e}  {:>22.digits$e}  {:>22.digits$e}  {:>18.3e}",
                r.temperature,
                r.hard_norm,
                r.soft_norm_one,
                r.soft_norm_t_squared,
                r.soft_norm_t_squared / r.hard_norm
            )?;
        }
        writeln!(
            f,
            "  ‖soft‖ s=1 ≈ ‖z_s − z_t‖·(1−α)/(N·B·T²) once T ≫ |logits|: a 1/T² fall; ×T² it is flat"
        )?;

        writeln!(
            f,
            "\neq. 4, high-T limit: T²·∂KL/∂z_s → (z_s − z_t)/(N·B) for zero-mean logits (rows centred; m = max |z| = {:.3})",
            self.max_centred_logit
        )?;
        writeln!(
            f,
            "  {:>8}  {:>16}  {:>16}",
            "T", "relative error", "bound m/T"
        )?;
        for r in &self.logit_matching {
            writeln!(
                f,
                "  {:>8}  {:>16.3e}  {:>16.3e}",
                r.temperature, r.relative_error, r.bound
            )?;
        }
        writeln!(
            f,
            "  relative error = ‖T²·∂KL/∂z_s − (z_s − z_t)/(N·B)‖ / ‖(z_s − z_t)/(N·B)‖ = O(1/T), first order ≤ m/T"
        )?;
        writeln!(f, "  first image at T = {}:", self.limit_temperature)?;
        vector(f, "T²·∂KL", &self.limit_gradient, "T²·(p_s − p_t)/(T·B)")?;
        vector(
            f,
            "limit",
            &self.limit_logit_difference,
            "(z_s − z_t)/(N·B)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vector` as text.
    struct Row<'a>(&'a [f64]);

    impl fmt::Display for Row<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            vector(f, "v", self.0, "formula")
        }
    }

    #[test]
    fn a_vector_prints_fixed_in_the_readable_range_and_scientific_outside_it() {
        let fixed = [0.0, 1e-3, -1e-3, 0.5, 999.99];
        let scientific = [9.99e-4, -9.99e-4, 1e3, -1e3, 1e-9, f64::INFINITY];
        let text = Row(&[fixed.as_slice(), &scientific].concat()).to_string();
        let tokens: Vec<&str> = text.split_whitespace().collect();
        assert_eq!((tokens[0], tokens[tokens.len() - 1]), ("v", "formula"));
        let (got_fixed, got_scientific) = tokens[1..tokens.len() - 1].split_at(fixed.len());
        assert_eq!(
            got_fixed,
            ["0.0000", "0.0010", "-0.0010", "0.5000", "999.9900"]
        );
        assert_eq!(
            got_scientific,
            ["9.99e-4", "-9.99e-4", "1.00e3", "-1.00e3", "1.00e-9", "inf"]
        );
    }
}
