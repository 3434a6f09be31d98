//! `distill soft-targets`: what a model's probabilities look like at several temperatures.
//!
//! ```text
//! p_T = softmax(z/T)        H(p_T) = −Σ_j p_T,j · log p_T,j   (nats; from log_softmax, so
//!                                                           an underflowed p_j adds exactly 0)
//! ```
//! At `T = 1` a trained model puts nearly all of the mass on one class; raising `T` lifts the
//! small probabilities, the "dark knowledge" of Hinton et al. (2015): which wrong classes the
//! model finds plausible for this image.

use std::fmt;
use std::path::Path;

use ndarray::Zip;
use serde::Serialize;

use super::{by_temperature, gather, temperature_key, validate_indices, validate_temperatures};
use crate::data::Split;
use crate::error::Result;
use crate::loss::{log_softmax, softmax};
use crate::metrics::predictions;
use crate::nn::Mlp;
use crate::report::plots::{plot_soft_targets, SoftTargetPanel};
use crate::train::logits;

/// The temperatures shown when none are given.
pub const DEFAULT_TEMPERATURES: [f64; 5] = [1.0, 2.0, 5.0, 10.0, 20.0];

/// The default selection: the first this many test images the model gets wrong, then the first
/// this many it gets right.
pub const DEFAULT_PER_KIND: usize = 3;

/// One image's probabilities at every temperature.
#[derive(Debug, Clone, Serialize)]
pub struct ImageTargets {
    /// Index in the test set.
    pub index: usize,
    /// True label.
    pub label: u8,
    /// The model's arg-max class.
    pub predicted: u8,
    /// `softmax(z/T)` per temperature: a JSON object `{"T": [N numbers], ...}`.
    #[serde(serialize_with = "by_temperature")]
    pub probabilities: Vec<(f64, Vec<f64>)>,
    /// `H(softmax(z/T))` in nats per temperature: `{"T": H, ...}`.
    #[serde(serialize_with = "by_temperature")]
    pub entropy: Vec<(f64, f64)>,
}

/// The soft targets of the chosen images.
#[derive(Debug, Clone, Serialize)]
pub struct SoftTargets {
    /// The temperatures, in the order given.
    pub temperatures: Vec<f64>,
    /// One entry per image.
    pub images: Vec<ImageTargets>,
}

/// The first [`DEFAULT_PER_KIND`] test images `model` gets wrong, then the first it gets right.
///
/// ```text
/// ŷ_n = argmax_j z_n,j over the whole test set (eval mode)
/// ```
pub fn default_selection(model: &Mlp<f32>, test: &Split) -> Vec<usize> {
    let predicted = predictions(logits(model, test).view());
    let pick = |wrong: bool| {
        predicted
            .iter()
            .zip(test.labels())
            .enumerate()
            .filter(move |(_, (p, y))| (p != y) == wrong)
            .map(|(i, _)| i)
            .take(DEFAULT_PER_KIND)
    };
    pick(true).chain(pick(false)).collect()
}

/// `softmax(z/T)` and its entropy for the test images `indices` at each temperature.
///
/// ```text
/// shapes  z: (B, N)   probabilities[b][k]: (N)      B = indices.len(), k over temperatures
/// ```
///
/// # Errors
/// [`crate::Error::InvalidConfig`] naming `index` (outside the test set, or none) or
/// `temperature` (none, or one not positive and finite).
pub fn soft_targets(
    model: &Mlp<f32>,
    test: &Split,
    indices: &[usize],
    temperatures: &[f64],
) -> Result<SoftTargets> {
    validate_indices(indices, test)?;
    validate_temperatures(temperatures)?;
    let (x, labels) = gather(test, indices);
    let z = model.predict(x.view()).mapv(f64::from);
    let predicted = predictions(z.view());
    let per_t: Vec<_> = temperatures
        .iter()
        .map(|&t| (softmax(z.view(), t), log_softmax(z.view(), t)))
        .collect();
    let images = indices
        .iter()
        .enumerate()
        .map(|(b, &index)| {
            let probabilities = temperatures
                .iter()
                .zip(&per_t)
                .map(|(&t, (p, _))| (t, p.row(b).to_vec()))
                .collect();
            let entropy = temperatures
                .iter()
                .zip(&per_t)
                .map(|(&t, (p, log_p))| {
                    let h = Zip::from(p.row(b))
                        .and(log_p.row(b))
                        .fold(0.0, |h, &p, &lp| h - p * lp); // −Σ p log p
                    (t, h)
                })
                .collect();
            ImageTargets {
                index,
                label: labels[b],
                predicted: predicted[b],
                probabilities,
                entropy,
            }
        })
        .collect();
    Ok(SoftTargets {
        temperatures: temperatures.to_vec(),
        images,
    })
}

impl SoftTargets {
    /// Writes `soft_targets.png`-style figure to `path`: each image beside one bar chart per T.
    ///
    /// # Errors
    /// [`crate::Error::Plot`] when the image cannot be drawn or written.
    ///
    /// # Panics
    /// If an image index is outside `test` (the indices were validated against it).
    pub fn plot(&self, test: &Split, path: &Path) -> Result<()> {
        let (rows, cols) = test.image_shape();
        let pixels = test.pixels();
        let panels: Vec<SoftTargetPanel> = self
            .images
            .iter()
            .map(|img| SoftTargetPanel {
                pixels: pixels.row(img.index),
                rows,
                cols,
                index: img.index,
                label: img.label,
                predicted: img.predicted,
                probabilities: img
                    .probabilities
                    .iter()
                    .map(|(_, p)| p.as_slice())
                    .collect(),
                entropy: img.entropy.iter().map(|(_, h)| *h).collect(),
            })
            .collect();
        plot_soft_targets(path, &self.temperatures, &panels)
    }
}

impl fmt::Display for SoftTargets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "soft targets p_T = softmax(z/T); H = −Σ_j p_j log p_j in nats (uniform over 10: {:.3})",
            10f64.ln()
        )?;
        for img in &self.images {
            let verdict = if img.label == img.predicted {
                "right"
            } else {
                "WRONG"
            };
            let classes = img.probabilities.first().map_or(0, |(_, p)| p.len());
            writeln!(
                f,
                "\ntest image {}: label {}, predicted {} ({verdict})",
                img.index, img.label, img.predicted
            )?;
            writeln!(
                f,
                "  {:>6}{}  {:>7}",
                "T",
                (0..classes).map(|j| format!("{j:>9}")).collect::<String>(),
                "H"
            )?;
            for ((t, p), (_, h)) in img.probabilities.iter().zip(&img.entropy) {
                let cells: String = p
                    .iter()
                    .map(|&v| {
                        if v >= 1e-4 || v == 0.0 {
                            format!("{v:>9.4}")
                        } else {
                            format!("{v:>9.0e}")
                        }
                    })
                    .collect();
                writeln!(f, "  {:>6}{cells}  {h:>7.4}", temperature_key(*t))?;
            }
        }
        Ok(())
    }
}
