//! The study commands: the distillation math shown with real numbers, computed by the same
//! library functions that train (`crate::loss`, `crate::nn`, `crate::gradcheck`).
//!
//! ```text
//! explain.rs       one distillation step on test images: logits, softmax(z/T), CE, KL, L,
//!                  ∂L/∂z_s = hard + soft, the 1/T² fall of the soft part, eq. 4's limit
//! soft_targets.rs  a model's probabilities at several T for chosen test images, and entropy
//! similarity.rs    mean soft targets p_T(j | class i) over the test set, most-confused pairs
//! gradcheck.rs     every layer and loss against central differences, as a table
//! ```
//! Each returns a typed, serialisable result (the CLI's `--json`) with a text rendering
//! (`Display`); the CLI only parses flags and prints.

pub mod explain;
pub mod gradcheck;
pub mod similarity;
pub mod soft_targets;

use ndarray::Array2;
use serde::ser::SerializeMap;

pub use explain::{explain, Explanation, ModelSource};
pub use gradcheck::{cases, run_checks, Case, Check, Dtype, GradcheckTable, Problem};
pub use similarity::{similarity, Similarity};
pub use soft_targets::{soft_targets, SoftTargets};

use crate::data::Split;
use crate::error::{Error, Result};

/// Checks a list of temperatures: at least one, each positive and finite.
///
/// # Errors
/// [`Error::InvalidConfig`] naming `temperature`.
pub fn validate_temperatures(temperatures: &[f64]) -> Result<()> {
    if temperatures.is_empty() {
        return Err(Error::InvalidConfig {
            field: "temperature",
            reason: "give at least one temperature".into(),
        });
    }
    match temperatures.iter().find(|t| !(**t > 0.0 && t.is_finite())) {
        Some(t) => Err(Error::InvalidConfig {
            field: "temperature",
            reason: format!("must be positive and finite, got {t}"),
        }),
        None => Ok(()),
    }
}

/// Checks that every index names an image of the test set (and that there is at least one).
///
/// # Errors
/// [`Error::InvalidConfig`] naming `index`.
pub fn validate_indices(indices: &[usize], test: &Split) -> Result<()> {
    if indices.is_empty() {
        return Err(Error::InvalidConfig {
            field: "index",
            reason: "give at least one test image".into(),
        });
    }
    match indices.iter().find(|&&i| i >= test.len()) {
        Some(i) => Err(Error::InvalidConfig {
            field: "index",
            reason: format!(
                "test image {i} is outside the test set (indices 0..={})",
                test.len().saturating_sub(1)
            ),
        }),
        None => Ok(()),
    }
}

/// The test images at `indices` as floats in `[0, 1]`, and their labels.
///
/// ```text
/// shapes  x: (B, D)   labels: (B)       B = indices.len()
/// ```
fn gather(test: &Split, indices: &[usize]) -> (Array2<f32>, Vec<u8>) {
    let mut x = Array2::zeros((indices.len(), test.input_size()));
    let mut labels = Vec::with_capacity(indices.len());
    test.gather_into(indices, x.view_mut(), &mut labels);
    (x, labels)
}

/// The name a temperature goes by in JSON keys and tables: `1`, `0.5`, `10`.
pub fn temperature_key(t: f64) -> String {
    format!("{t}")
}

/// Serialises `(temperature, value)` pairs as a JSON object keyed by [`temperature_key`], in
/// the order given (not sorted: `"10"` would come before `"2"`).
fn by_temperature<S: serde::Serializer, V: serde::Serialize>(
    pairs: &[(f64, V)],
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (t, v) in pairs {
        map.serialize_entry(&temperature_key(*t), v)?;
    }
    map.end()
}
