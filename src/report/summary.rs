//! The results of a run as data: the structs behind `report.json`, and reading and writing it.
//!
//! ```text
//! { "config":   { every setting, the seed, the data folder, … },
//!   "data":     { counts of the splits, … },
//!   "models":   { "teacher" | "distilled" | "scratch": ModelReport },
//!   "versions": { "distill": "0.1.0", … } }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// Everything `report.json` holds. The key names are part of the output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Every setting of the run (the caller's config, serialised).
    pub config: serde_json::Value,
    /// Facts about the data: counts of the train, validation and test splits, the folder, …
    pub data: serde_json::Value,
    /// One entry per model, keyed `"teacher"`, `"distilled"`, `"scratch"`.
    pub models: BTreeMap<String, ModelReport>,
    /// Versions of the program and what it was built with.
    pub versions: BTreeMap<String, String>,
}

/// The test-set results and training record of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Fraction of test examples classified correctly, in `[0, 1]`.
    pub test_accuracy: f64,
    /// Number of misclassified test examples.
    pub test_errors: usize,
    /// Misclassified test examples of each true class 0..9 (they sum to `test_errors`).
    #[serde(default)]
    pub per_class_errors: Vec<usize>,
    /// Mean cross-entropy on the test set at `T = 1`.
    pub test_loss: f64,
    /// One-vs-rest AUC of digits 0..9 on `softmax(z)` at `T = 1`.
    pub auc: Vec<f64>,
    /// Epochs trained (fewer than asked when early stopping fired).
    pub epochs_run: usize,
    /// The epoch (from 1) whose weights were kept.
    pub best_epoch: usize,
    /// Wall-clock training time in seconds.
    pub train_seconds: f64,
    /// Number of trainable parameters.
    pub parameters: usize,
    /// Per-epoch series (`"loss"`, `"val_loss"`, `"val_accuracy"`, …), one value per epoch.
    pub history: BTreeMap<String, Vec<f64>>,
    /// For a distilled student: seconds spent once computing the teacher's logits for the
    /// training and validation sets (not part of `train_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_logits_seconds: Option<f64>,
}

/// The digit whose ROC the notebook draws, and whose AUC the summary tables show.
pub const ROC_DIGIT: usize = 8;

impl ModelReport {
    /// The AUC of digit [`ROC_DIGIT`], if the report has one.
    pub fn auc_digit8(&self) -> Option<f64> {
        self.auc.get(ROC_DIGIT).copied()
    }
}

impl Report {
    /// The models in reading order: teacher, distilled, scratch, then any others by name.
    pub fn models_in_order(&self) -> Vec<(&str, &ModelReport)> {
        const ORDER: [&str; 3] = ["teacher", "distilled", "scratch"];
        let rank = |name: &str| ORDER.iter().position(|&o| o == name).unwrap_or(ORDER.len());
        let mut models: Vec<(&str, &ModelReport)> =
            self.models.iter().map(|(n, m)| (n.as_str(), m)).collect();
        models.sort_by_key(|&(name, _)| (rank(name), name));
        models
    }
}

/// Writes `report` to `path` as pretty-printed JSON, atomically.
///
/// Non-finite numbers have no JSON form: serde_json writes them as `null`, which
/// [`read_report_json`] then rejects. A finished run has none (training stops on a
/// non-finite loss and ROC refuses undefined inputs).
///
/// # Errors
/// [`Error::Report`] if serialisation fails, [`Error::Io`] if the file cannot be written.
pub fn write_report_json(path: &Path, report: &Report) -> Result<()> {
    write_json(path, report)
}

/// Writes any serialisable `value` to `path` as pretty-printed JSON with a final newline,
/// atomically (a run's `report.json`, a single training's `<model>.json`).
///
/// # Errors
/// [`Error::Report`] if serialisation fails, [`Error::Io`] if the file cannot be written.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut json = serde_json::to_string_pretty(value).map_err(|e| Error::Report {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    json.push('\n');
    write_atomic(path, json.as_bytes())
}

/// Reads a `report.json` written by [`write_report_json`].
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, [`Error::Report`] if it is not a report.
pub fn read_report_json(path: &Path) -> Result<Report> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Report {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
