//! Typed settings of a training run, with the notebook's defaults and one `validate` each.
//!
//! The CLI parses flags into these structs and calls `validate()` before any work starts, so a
//! bad value (a batch of 0, a temperature of 0, an alpha of 1.5) is refused with a message that
//! names the flag, never discovered mid-training.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a model is fitted: the notebook's `model.fit(...)` arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Maximum number of epochs. Default 50.
    pub epochs: usize,
    /// Examples per gradient step. Default 64.
    pub batch_size: usize,
    /// Fraction of the training set held out, taken from its END, unshuffled (Keras'
    /// `validation_split`). Default 0.1. With 0 there is no validation and no early stopping.
    pub validation_split: f64,
    /// Epochs without a strictly lower validation loss before stopping (Keras' `patience`,
    /// `min_delta = 0`); the best epoch's weights are restored. Default 10.
    pub patience: usize,
    /// Adam's learning rate. Default 1e-3 (Keras).
    pub learning_rate: f64,
    /// Seed of the weight initialisation, dropout masks and shuffles. Default 42.
    pub seed: u64,
    /// Train on only the first N examples of the training file (before the split). Default: all.
    pub train_limit: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 50,
            batch_size: 64,
            validation_split: 0.1,
            patience: 10,
            learning_rate: 1e-3,
            seed: 42,
            train_limit: None,
        }
    }
}

impl TrainConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return invalid("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return invalid("batch-size", "must be at least 1");
        }
        if !(0.0..1.0).contains(&self.validation_split) {
            return invalid(
                "validation-split",
                format!("must be in [0, 1), got {}", self.validation_split),
            );
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return invalid(
                "learning-rate",
                format!("must be finite and > 0, got {}", self.learning_rate),
            );
        }
        if self.train_limit == Some(0) {
            return invalid("train-limit", "must be at least 1");
        }
        Ok(())
    }
}

/// The shape of a multilayer perceptron: hidden ReLU layers, each followed by dropout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Widths of the hidden layers. The notebook's teacher: `[1200, 1200]`; its student: `[300]`.
    pub hidden: Vec<usize>,
    /// Dropout rate after each hidden ReLU. Teacher 0.5, student 0.
    pub dropout: f64,
}

/// The flags that set a model's shape, as the command line spells them without dashes: the
/// field an [`Error::InvalidConfig`] names, so the message points at the flag the user typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFlags {
    /// The hidden widths: `hidden` (`distill teacher`, `distill student`) or `teacher-hidden`,
    /// `student-hidden` (`distill run`).
    pub hidden: &'static str,
    /// The dropout rate: `dropout`, `teacher-dropout` or `student-dropout`.
    pub dropout: &'static str,
}

impl ModelFlags {
    /// `--hidden`, `--dropout`: the one model of `distill teacher` or `distill student`.
    pub const OWN: ModelFlags = ModelFlags {
        hidden: "hidden",
        dropout: "dropout",
    };
    /// `--teacher-hidden`, `--teacher-dropout` of `distill run`.
    pub const TEACHER: ModelFlags = ModelFlags {
        hidden: "teacher-hidden",
        dropout: "teacher-dropout",
    };
    /// `--student-hidden`, `--student-dropout` of `distill run`.
    pub const STUDENT: ModelFlags = ModelFlags {
        hidden: "student-hidden",
        dropout: "student-dropout",
    };
}

impl ModelConfig {
    /// The notebook's teacher: 784-1200-1200-10, dropout 0.5.
    pub fn teacher() -> Self {
        ModelConfig {
            hidden: vec![1200, 1200],
            dropout: 0.5,
        }
    }

    /// The notebook's student: 784-300-10, no dropout.
    pub fn student() -> Self {
        ModelConfig {
            hidden: vec![300],
            dropout: 0.0,
        }
    }

    /// `[input, hidden.., classes]`.
    pub fn sizes(&self, input: usize, classes: usize) -> Vec<usize> {
        std::iter::once(input)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(classes))
            .collect()
    }

    /// Checks the layer widths and the dropout rate, naming the flags `--hidden`, `--dropout`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for no hidden layer, a zero width, or a rate outside [0, 1).
    pub fn validate(&self) -> Result<()> {
        self.validate_as(ModelFlags::OWN)
    }

    /// [`validate`](Self::validate), naming the flags `flags` (e.g. `--student-hidden`).
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn validate_as(&self, flags: ModelFlags) -> Result<()> {
        if self.hidden.is_empty() {
            return invalid(
                flags.hidden,
                format!(
                    "needs at least one hidden layer, e.g. --{} 300",
                    flags.hidden
                ),
            );
        }
        if self.hidden.contains(&0) {
            return invalid(
                flags.hidden,
                format!("a layer of width 0 in {:?}", self.hidden),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return invalid(
                flags.dropout,
                format!("must be in [0, 1), got {}", self.dropout),
            );
        }
        Ok(())
    }
}

/// The most parameters a model may have: each copy (weights, gradients, Adam's two moments, the
/// best epoch's snapshot) then stays under 200 MB, and an absurd `--hidden` is refused instead of
/// attempting a huge allocation.
pub const MAX_PARAMETERS: usize = 50_000_000;

impl ModelConfig {
    /// [`validate`](Self::validate), and the size of the whole model for `input` pixels and
    /// `classes` outputs: at most [`MAX_PARAMETERS`] weights and biases, Σ_l (D_{l−1} + 1)·D_l.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] as `validate`, or for a model that is too large.
    pub fn validate_for(&self, input: usize, classes: usize) -> Result<()> {
        self.validate_for_as(input, classes, ModelFlags::OWN)
    }

    /// [`validate_for`](Self::validate_for), naming the flags `flags`.
    ///
    /// # Errors
    /// As [`validate_for`](Self::validate_for).
    pub fn validate_for_as(&self, input: usize, classes: usize, flags: ModelFlags) -> Result<()> {
        self.validate_as(flags)?;
        let sizes = self.sizes(input, classes);
        let parameters = sizes.windows(2).try_fold(0usize, |total, w| {
            w[0].checked_add(1)
                .and_then(|fan_in| fan_in.checked_mul(w[1]))
                .and_then(|layer| total.checked_add(layer))
        });
        match parameters {
            Some(p) if p <= MAX_PARAMETERS => Ok(()),
            _ => invalid(
                flags.hidden,
                format!("{sizes:?} is larger than the {MAX_PARAMETERS} parameters distill trains"),
            ),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Result<()> {
    Err(Error::InvalidConfig {
        field,
        reason: reason.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<()>) -> &'static str {
        match r {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_notebooks_and_valid() {
        let c = TrainConfig::default();
        assert_eq!((c.epochs, c.batch_size, c.patience), (50, 64, 10));
        assert_eq!((c.validation_split, c.learning_rate), (0.1, 1e-3));
        c.validate().unwrap();
        ModelConfig::teacher().validate().unwrap();
        ModelConfig::student().validate().unwrap();
        assert_eq!(
            ModelConfig::teacher().sizes(784, 10),
            vec![784, 1200, 1200, 10]
        );
    }

    #[test]
    fn bad_values_name_their_flag() {
        let bad = |f: fn(&mut TrainConfig)| {
            let mut c = TrainConfig::default();
            f(&mut c);
            field_of(c.validate())
        };
        assert_eq!(bad(|c| c.batch_size = 0), "batch-size");
        assert_eq!(bad(|c| c.epochs = 0), "epochs");
        assert_eq!(bad(|c| c.validation_split = 1.0), "validation-split");
        assert_eq!(bad(|c| c.validation_split = -0.1), "validation-split");
        assert_eq!(bad(|c| c.validation_split = f64::NAN), "validation-split");
        assert_eq!(bad(|c| c.learning_rate = 0.0), "learning-rate");
        assert_eq!(bad(|c| c.learning_rate = f64::INFINITY), "learning-rate");
        assert_eq!(bad(|c| c.train_limit = Some(0)), "train-limit");
        let model =
            |hidden: Vec<usize>, dropout| field_of(ModelConfig { hidden, dropout }.validate());
        assert_eq!(model(vec![], 0.0), "hidden");
        assert_eq!(model(vec![300, 0], 0.0), "hidden");
        assert_eq!(model(vec![300], 1.0), "dropout");
        assert_eq!(model(vec![300], f64::NAN), "dropout");
        let sized = |hidden: Vec<usize>| {
            ModelConfig {
                hidden,
                dropout: 0.0,
            }
            .validate_for(784, 10)
        };
        sized(vec![1200, 1200]).unwrap();
        assert_eq!(field_of(sized(vec![100_000])), "hidden");
        assert_eq!(field_of(sized(vec![usize::MAX / 2, 2])), "hidden"); // overflow, not a panic
        let student = |hidden: Vec<usize>, dropout| ModelConfig { hidden, dropout };
        let as_student = |c: ModelConfig| field_of(c.validate_as(ModelFlags::STUDENT));
        assert_eq!(as_student(student(vec![0], 0.0)), "student-hidden");
        assert_eq!(as_student(student(vec![300], -0.5)), "student-dropout");
        let too_big = student(vec![100_000], 0.0).validate_for_as(784, 10, ModelFlags::TEACHER);
        assert_eq!(field_of(too_big), "teacher-hidden");
    }
}
