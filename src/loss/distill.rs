//! The distillation loss: hard labels and the teacher's soft targets, weighed by `alpha`.

use std::fmt;

use ndarray::{Array1, Array2, ArrayView2, Zip};

use super::assert_labels;
use super::cross_entropy::cross_entropy;
use super::kl::{kl_divergence, kl_term};
use super::softmax::log_softmax_row;
use crate::{Error, Result, Scalar};

/// How the soft (KL) term is scaled: the notebook's `1` or the paper's `T²`.
///
/// Hinton et al. (2015, §2): "the magnitudes of the gradients produced by the soft targets scale
/// as 1/T², it is important to multiply them by T² when using both hard and soft targets".
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum SoftScale {
    /// `s = 1`: the seed notebook (and Keras' distillation example as written), no rescaling.
    One,
    /// `s = T²`: the paper, which keeps the soft gradient's size independent of `T`.
    TSquared,
}

impl SoftScale {
    /// The factor `s` at temperature `t`.
    ///
    /// ```text
    /// One → 1      TSquared → T²
    /// ```
    pub fn factor(self, t: f64) -> f64 {
        match self {
            SoftScale::One => 1.0,
            SoftScale::TSquared => t * t,
        }
    }
}

impl fmt::Display for SoftScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SoftScale::One => "one",
            SoftScale::TSquared => "t-squared",
        })
    }
}

/// The distillation loss of Hinton, Vinyals & Dean (2015), `alpha` weighing the HARD loss.
///
/// ```text
/// q   = softmax(z_s)   p_s = softmax(z_s/T)   p_t = softmax(z_t/T)
/// L   = α·CE(y, q) + (1−α)·s·KL(p_t ‖ p_s),   s = 1 (SoftScale::One) or T² (SoftScale::TSquared)
/// ```
/// The convention is the seed notebook's, Keras' and torchdistill's: `alpha = 1` is plain
/// training on the labels, `alpha = 0` pure soft-target training.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DistillLoss {
    /// Weight `α ∈ [0, 1]` of the hard-label cross-entropy. Default `0.1` (the notebook).
    pub alpha: f64,
    /// Temperature `T > 0` of both softmaxes in the soft term. Default `10` (the notebook).
    pub temperature: f64,
    /// Scaling `s` of the soft term. Default [`SoftScale::One`] (the notebook).
    pub soft_scale: SoftScale,
}

impl Default for DistillLoss {
    fn default() -> Self {
        DistillLoss {
            alpha: 0.1,
            temperature: 10.0,
            soft_scale: SoftScale::One,
        }
    }
}

/// Every term of one evaluation of [`DistillLoss::compute`], and the gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillTerms<A> {
    /// `CE(y, softmax(z_s))` at `T = 1`, mean over the batch.
    pub student: A,
    /// `KL(p_t ‖ p_s)` at temperature `T`, mean over the batch, NOT multiplied by `s` or `1−α`.
    pub distill: A,
    /// `α·student + (1−α)·s·distill`.
    pub total: A,
    /// `dL/dz_s = [α·(q − onehot(y)) + (1−α)·(s/T)·(p_s − p_t)] / B`, shape `(B, N)`.
    pub dz_s: Array2<A>,
}

/// `dL/dz_s` split into the part from the hard labels and the part from the soft targets.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientParts<A> {
    /// `α·(q − onehot(y))/B`, shape `(B, N)`.
    pub hard: Array2<A>,
    /// `(1−α)·(s/T)·(p_s − p_t)/B`, shape `(B, N)`.
    pub soft: Array2<A>,
}

impl DistillLoss {
    /// Checks `0 ≤ alpha ≤ 1` and `temperature` positive and finite.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the field (`alpha` or `temperature`).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::InvalidConfig {
                field: "alpha",
                reason: format!("must lie in [0, 1], got {}", self.alpha),
            });
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(Error::InvalidConfig {
                field: "temperature",
                reason: format!("must be positive and finite, got {}", self.temperature),
            });
        }
        Ok(())
    }

    /// The loss, each of its terms, and `dL/dz_s`, in one pass over the batch.
    ///
    /// ```text
    /// q   = softmax(z_s)   p_s = softmax(z_s/T)   p_t = softmax(z_t/T)
    /// student = −(1/B) Σ_b log q_{b,y_b}
    /// distill =  (1/B) Σ_b Σ_j p_t,bj (log p_t,bj − log p_s,bj)      sum over classes, mean over the batch
    /// total   = α·student + (1−α)·s·distill
    /// dz_s    = [α·(q − onehot(y)) + (1−α)·(s/T)·(p_s − p_t)] / B
    /// shapes  z_s: (B, N)   z_t: (B, N)   labels: (B)   dz_s: (B, N)
    /// ```
    /// The teacher's logits are constants (no gradient to `z_t`). See `docs/math.md`, "The
    /// combined loss", for the derivation and for what `s` does to the balance of the terms.
    ///
    /// # Panics
    /// If the config is invalid (see [`DistillLoss::validate`]), the shapes differ, `B == 0`,
    /// `labels.len() != B`, or a label is `≥ N`.
    #[track_caller]
    pub fn compute<A: Scalar>(
        &self,
        z_s: ArrayView2<A>,
        z_t: ArrayView2<A>,
        labels: &[u8],
    ) -> DistillTerms<A> {
        if let Err(e) = self.validate() {
            panic!("DistillLoss::compute on an invalid config: {e}");
        }
        assert_eq!(z_s.dim(), z_t.dim(), "compute: z_s and z_t shapes differ");
        let (batch, classes) = z_s.dim();
        assert_labels(batch, classes, labels);

        let t = A::of(self.temperature);
        let s = self.soft_scale.factor(self.temperature);
        let b = batch as f64;
        let hard = A::of(self.alpha / b); // α/B
        let soft = A::of((1.0 - self.alpha) * s / (self.temperature * b)); // (1−α)·s/(T·B)

        let mut log_p_s = Array1::zeros(classes); // per-row buffers, reused
        let mut log_p_t = Array1::zeros(classes);
        let mut dz_s = Array2::zeros((batch, classes));
        let (mut student, mut distill) = (A::zero(), A::zero());
        Zip::from(z_s.rows())
            .and(z_t.rows())
            .and(dz_s.rows_mut())
            .and(labels)
            .for_each(|z_s, z_t, mut dz, &y| {
                let y = usize::from(y);
                log_softmax_row(z_s, A::one(), dz.view_mut()); // dz holds log q for now
                log_softmax_row(z_s, t, log_p_s.view_mut());
                log_softmax_row(z_t, t, log_p_t.view_mut());
                student -= dz[y]; // −log q_y
                for (j, ((d, &ls), &lt)) in dz.iter_mut().zip(&log_p_s).zip(&log_p_t).enumerate() {
                    let (term, p_t) = kl_term(lt, ls);
                    distill += term; // Σ_j p_t (log p_t − log p_s)
                    let onehot = if j == y { A::one() } else { A::zero() };
                    // α(q − onehot)/B + (1−α)(s/T)(p_s − p_t)/B
                    *d = hard * (d.exp() - onehot) + soft * (ls.exp() - p_t);
                }
            });
        let student = student / A::of(b);
        let distill = distill / A::of(b);
        let total = A::of(self.alpha) * student + A::of((1.0 - self.alpha) * s) * distill;
        DistillTerms {
            student,
            distill,
            total,
            dz_s,
        }
    }

    /// The two parts of `dL/dz_s` separately, from the losses they come from.
    ///
    /// ```text
    /// hard = α·dCE/dz_s            = α·(q − onehot(y))/B            (cross_entropy)
    /// soft = (1−α)·s·dKL/dz_s      = (1−α)·(s/T)·(p_s − p_t)/B      (kl_divergence)
    /// hard + soft = dz_s of compute (up to rounding: compute sums them per element in one pass)
    /// shapes  z_s: (B, N)   z_t: (B, N)   labels: (B)   hard, soft: (B, N)
    /// ```
    /// For showing the balance of the two terms (`distill explain`); training uses [`compute`].
    ///
    /// [`compute`]: DistillLoss::compute
    ///
    /// # Panics
    /// As [`DistillLoss::compute`].
    #[track_caller]
    pub fn gradient_parts<A: Scalar>(
        &self,
        z_s: ArrayView2<A>,
        z_t: ArrayView2<A>,
        labels: &[u8],
    ) -> GradientParts<A> {
        if let Err(e) = self.validate() {
            panic!("DistillLoss::gradient_parts on an invalid config: {e}");
        }
        let s = self.soft_scale.factor(self.temperature);
        let hard = cross_entropy(z_s, labels).dz * A::of(self.alpha); // α(q − onehot)/B
        let t = A::of(self.temperature);
        let soft = kl_divergence(z_t, z_s, t).dz * A::of((1.0 - self.alpha) * s); // (1−α)s(p_s − p_t)/(T·B)
        GradientParts { hard, soft }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{cross_entropy, kl_divergence};
    use clap::ValueEnum;
    use ndarray::array;

    fn logits() -> (Array2<f64>, Array2<f64>, [u8; 2]) {
        let z_s = array![[0.5, -1.0, 2.0, 0.1], [1.5, 0.2, -0.7, 3.0]];
        let z_t = array![[1.0, -2.0, 4.0, 0.0], [0.3, 0.1, -1.0, 5.0]];
        (z_s, z_t, [2, 3])
    }

    #[test]
    fn terms_match_the_separate_losses() {
        let (z_s, z_t, y) = logits();
        for soft_scale in [SoftScale::One, SoftScale::TSquared] {
            for alpha in [0.0, 0.3, 1.0] {
                let loss = DistillLoss {
                    alpha,
                    temperature: 3.0,
                    soft_scale,
                };
                let terms = loss.compute(z_s.view(), z_t.view(), &y);
                let ce = cross_entropy(z_s.view(), &y);
                let kl = kl_divergence(z_t.view(), z_s.view(), 3.0);
                let s = soft_scale.factor(3.0);
                assert!((terms.student - ce.loss).abs() < 1e-14);
                assert!((terms.distill - kl.loss).abs() < 1e-14);
                let total = alpha * ce.loss + (1.0 - alpha) * s * kl.loss;
                assert!((terms.total - total).abs() < 1e-13);
                let dz = &ce.dz * alpha + &kl.dz * ((1.0 - alpha) * s);
                for (a, b) in terms.dz_s.iter().zip(&dz) {
                    assert!((a - b).abs() < 1e-15, "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn gradient_parts_add_up_to_compute() {
        let (z_s, z_t, y) = logits();
        for soft_scale in [SoftScale::One, SoftScale::TSquared] {
            for alpha in [0.0, 0.3, 1.0] {
                let loss = DistillLoss {
                    alpha,
                    temperature: 3.0,
                    soft_scale,
                };
                let parts = loss.gradient_parts(z_s.view(), z_t.view(), &y);
                let dz = loss.compute(z_s.view(), z_t.view(), &y).dz_s;
                for ((h, s), d) in parts.hard.iter().zip(&parts.soft).zip(&dz) {
                    assert!((h + s - d).abs() < 1e-15, "{h} + {s} vs {d}");
                }
                if alpha == 1.0 {
                    assert!(parts.soft.iter().all(|&s| s == 0.0));
                }
                if alpha == 0.0 {
                    assert!(parts.hard.iter().all(|&h| h == 0.0));
                }
            }
        }
    }

    #[test]
    fn validate_rejects_bad_settings() {
        let ok = DistillLoss::default();
        assert!(ok.validate().is_ok());
        for (alpha, temperature, field) in [
            (-0.1, 10.0, "alpha"),
            (1.1, 10.0, "alpha"),
            (f64::NAN, 10.0, "alpha"),
            (0.5, 0.0, "temperature"),
            (0.5, -1.0, "temperature"),
            (0.5, f64::NAN, "temperature"),
            (0.5, f64::INFINITY, "temperature"),
        ] {
            let bad = DistillLoss {
                alpha,
                temperature,
                ..ok
            };
            match bad.validate() {
                Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{alpha} {temperature}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    #[should_panic(expected = "invalid config")]
    fn compute_panics_on_invalid_config() {
        let (z_s, z_t, y) = logits();
        let bad = DistillLoss {
            alpha: 2.0,
            ..DistillLoss::default()
        };
        bad.compute(z_s.view(), z_t.view(), &y);
    }

    #[test]
    fn soft_scale_names_agree_across_clap_serde_and_display() {
        for (scale, name) in [(SoftScale::One, "one"), (SoftScale::TSquared, "t-squared")] {
            assert_eq!(scale.to_string(), name);
            assert_eq!(
                serde_json::to_string(&scale).unwrap(),
                format!("\"{name}\"")
            );
            let back: SoftScale = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(back, scale);
            assert_eq!(SoftScale::from_str(name, false).unwrap(), scale);
            assert_eq!(scale.to_possible_value().unwrap().get_name(), name);
        }
    }
}
