//! The settings of `distill paper`: what the user chooses (`PaperConfig`) and the recipe every
//! model is trained with (`Recipe`), full or `--quick`.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::{LrSchedule, ModelConfig, Regularisation, TrainConfig};
use crate::data::{DataSource, TransferSet};
use crate::error::Result;
use crate::loss::{DistillLoss, SoftScale};

/// What `distill paper` is asked to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperConfig {
    /// The data set: the embedded MNIST, or a folder of the four IDX files.
    pub data_dir: DataSource,
    /// Output folder; `None` = a new folder under `runs/`. Not serialised (see `RunConfig`).
    #[serde(skip)]
    pub out_dir: Option<PathBuf>,
    /// Continue the interrupted run in `out_dir` (which must then be given). Not serialised:
    /// a resumed run writes the bytes of an uninterrupted one.
    #[serde(skip)]
    pub resume: bool,
    /// Small data and few epochs: the same steps in well under a minute (for tests).
    pub quick: bool,
    /// Seed of every model's weights, dropout masks, shuffles and jitter.
    pub seed: u64,
    /// Reuse this trained teacher instead of training one.
    pub teacher_checkpoint: Option<PathBuf>,
}

/// How each model of the paper's §3 is trained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recipe {
    /// 784-1200-1200-10, dropout 0.5.
    pub teacher: ModelConfig,
    /// The teacher's fit: Adam with a cosine schedule, input dropout 0.2, max-norm 3.5,
    /// jitter 2, the last 10 % of the training images held out for validation.
    pub teacher_train: TrainConfig,
    /// 784-800-800-10, no dropout.
    pub student: ModelConfig,
    /// Every student's fit: the same split, no regulariser, early stopping.
    pub student_train: TrainConfig,
    /// The distillation loss: T = 20, soft term scaled by T², α = 0.1 on the hard labels.
    pub distill: DistillLoss,
    /// The transfer set without 3s.
    pub omit3: TransferSet,
    /// The transfer set of 7s and 8s only.
    pub only78: TransferSet,
    /// The bias shifts tried: `k/10` for k = −150..=150.
    pub shifts: Vec<f64>,
}

/// The paper's own shifts (chosen on the test set in the paper), reported for comparison.
pub const PAPER_SHIFT_OMIT3: f64 = 3.5;
/// The paper's shift of the biases of 7 and 8.
pub const PAPER_SHIFT_ONLY78: f64 = -7.6;

/// Training examples of a `--quick` run (before the validation split).
pub const QUICK_TRAIN_LIMIT: usize = 3000;

impl Recipe {
    /// The recipe of a full run, or of a `--quick` one (the first [`QUICK_TRAIN_LIMIT`]
    /// training images and 2 epochs per model, everything else the same).
    pub fn new(seed: u64, quick: bool) -> Recipe {
        let split = TrainConfig {
            batch_size: 128,
            validation_split: 0.1,
            learning_rate: 1e-3,
            lr_schedule: LrSchedule::Cosine,
            seed,
            ..TrainConfig::default()
        };
        // Full: the teacher's 200 epochs (~32 min on the 2-core Zen 3 VM) and four students of at
        // most 30 (~7 min) fit the hour; 64 teacher epochs left its validation error falling.
        let (teacher_epochs, student_epochs) = if quick { (2, 2) } else { (200, 30) };
        let train_limit = quick.then_some(QUICK_TRAIN_LIMIT);
        Recipe {
            teacher: ModelConfig {
                hidden: vec![1200, 1200],
                dropout: 0.5,
            },
            teacher_train: TrainConfig {
                epochs: teacher_epochs,
                patience: teacher_epochs, // no early stop; the best validation loss is kept
                train_limit,
                regularisation: Regularisation {
                    input_dropout: 0.2,
                    max_norm: Some(3.5),
                    jitter: 2,
                },
                ..split.clone()
            },
            student: ModelConfig {
                hidden: vec![800, 800],
                dropout: 0.0,
            },
            student_train: TrainConfig {
                epochs: student_epochs,
                patience: 10,
                train_limit,
                ..split
            },
            distill: DistillLoss {
                alpha: 0.1,
                temperature: 20.0,
                soft_scale: SoftScale::TSquared,
            },
            omit3: TransferSet {
                omit: vec![3],
                only: vec![],
            },
            only78: TransferSet {
                omit: vec![],
                only: vec![7, 8],
            },
            shifts: (-150..=150).map(|k| f64::from(k) / 10.0).collect(),
        }
    }

    /// Validates every part (before any data is loaded or any model trained).
    ///
    /// # Errors
    /// The first invalid setting, named as its flag.
    pub fn validate(&self) -> Result<()> {
        self.teacher.validate()?;
        self.teacher_train.validate()?;
        self.student.validate()?;
        self.student_train.validate()?;
        self.distill.validate()?;
        self.omit3.validate()?;
        self.only78.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_recipes_are_valid_and_differ_only_in_size() {
        let (full, quick) = (Recipe::new(42, false), Recipe::new(42, true));
        full.validate().unwrap();
        quick.validate().unwrap();
        assert_eq!(full.teacher.sizes(784, 10), vec![784, 1200, 1200, 10]);
        assert_eq!(full.student.sizes(784, 10), vec![784, 800, 800, 10]);
        assert_eq!(
            full.teacher_train.train_limit, None,
            "the teacher sees every image"
        );
        let resized = Recipe {
            teacher_train: TrainConfig {
                epochs: full.teacher_train.epochs,
                patience: full.teacher_train.patience,
                train_limit: None,
                ..quick.teacher_train.clone()
            },
            student_train: TrainConfig {
                epochs: full.student_train.epochs,
                train_limit: None,
                ..quick.student_train.clone()
            },
            ..quick
        };
        assert_eq!(resized, full);
    }

    #[test]
    fn the_paper_shifts_are_on_the_grid() {
        let r = Recipe::new(1, false);
        for paper in [PAPER_SHIFT_OMIT3, PAPER_SHIFT_ONLY78] {
            assert!(r.shifts.iter().any(|&d| (d - paper).abs() < 1e-12));
        }
        assert!(r.shifts.windows(2).all(|w| w[0] < w[1]));
    }
}
