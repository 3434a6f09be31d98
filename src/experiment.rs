//! The notebook's building blocks on prepared data: train the teacher, distil a student, train
//! a student from scratch, evaluate any of them, save and load checkpoints.
//!
//! The CLI's `teacher`, `student` and `eval` commands call these one at a time; the pipeline
//! (`distill run`) calls them all in order.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::checkpoint::{self, Checkpoint};
use crate::config::{ModelConfig, TrainConfig};
use crate::data::{validation_split_at, DataSource, Split, CLASSES};
use crate::error::{Error, Result};
use crate::loss::DistillLoss;
use crate::metrics::{one_vs_rest_auc, per_class_errors};
use crate::nn::Mlp;
use crate::report::ModelReport;
use crate::train::{
    evaluate, fit, CrossEntropy, Distillation, Evaluation, FitOutcome, Objective, Progress,
    StateStore, TeacherLogits,
};

/// MNIST loaded, limited and split as a run asks.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Where the data came from.
    pub source: DataSource,
    /// The training part: the first `(1 − split)` of the (limited) training file.
    pub train: Split,
    /// The validation part: its last `split` fraction, unshuffled.
    pub validation: Split,
    /// The test file.
    pub test: Split,
}

impl Prepared {
    /// Loads `dir`, keeps the first `train_limit` training examples, splits off validation.
    ///
    /// # Errors
    /// Any data error, or [`Error::InvalidConfig`] when the split leaves either side empty.
    pub fn load(dir: &Path, config: &TrainConfig) -> Result<Self> {
        Prepared::load_from(&DataSource::Dir(dir.to_path_buf()), config)
    }

    /// [`Prepared::load`] from any [`DataSource`] (the embedded MNIST, or a folder).
    ///
    /// # Errors
    /// As [`Prepared::load`].
    pub fn load_from(source: &DataSource, config: &TrainConfig) -> Result<Self> {
        config.validate()?;
        let mnist = source.load()?;
        let limited = match config.train_limit {
            Some(n) => mnist.train.take_first(n),
            None => mnist.train,
        };
        validation_split_at(limited.len(), config.validation_split)?; // refuses an empty side
        let (train, validation) = limited.split_last(config.validation_split);
        Ok(Prepared {
            source: source.clone(),
            train,
            validation,
            test: mnist.test,
        })
    }

    /// Pixels per image.
    pub fn input_size(&self) -> usize {
        self.train.input_size()
    }
}

/// A trained model with what its fit did.
#[derive(Debug)]
pub struct Trained {
    /// The model, holding its best epoch's weights.
    pub model: Mlp<f32>,
    /// History, epochs, timing (all empty or zero for a model loaded, not trained).
    pub outcome: FitOutcome,
    /// For a distilled student: the one-off seconds of the teacher-logit cache.
    pub teacher_logits_seconds: Option<f64>,
}

impl Trained {
    /// A model loaded from a checkpoint: no epochs, no history.
    pub fn loaded(model: Mlp<f32>) -> Self {
        Trained {
            model,
            outcome: FitOutcome::default(),
            teacher_logits_seconds: None,
        }
    }
}

/// Seed of a student's initial weights: the distilled and the scratch student start from the
/// same weights, so the loss is the only difference between them.
pub fn student_seed(seed: u64) -> u64 {
    seed.wrapping_add(1)
}

/// Trains a model with plain cross-entropy (the teacher, or the student from scratch).
///
/// With a `store`, the training is resumable under the name `label` (see
/// [`crate::train::state`]): a finished state is returned as is, one in progress continues.
///
/// # Errors
/// Invalid configs (including a model too large for the data), a non-finite loss, and with a
/// store the errors of reading and writing states, or [`Error::Interrupted`].
pub fn train_plain(
    data: &Prepared,
    model: &ModelConfig,
    config: &TrainConfig,
    seed: u64,
    label: &str,
    progress: Progress,
    store: Option<&StateStore>,
) -> Result<Trained> {
    model.validate_for(data.input_size(), CLASSES)?;
    fit_new(
        data,
        model,
        seed,
        &mut CrossEntropy,
        config,
        label,
        progress,
        store,
    )
}

/// Distils a student from the frozen `teacher`, whose logits are computed once and cached.
///
/// Returns the student and the cache (its `seconds`, the one-off cost of the teacher pass, is
/// also in the student's `teacher_logits_seconds`).
///
/// `label` names it in progress lines and, with a `store`, its state file, as [`train_plain`].
///
/// # Errors
/// Invalid configs, a non-finite loss, and with a store as [`train_plain`].
#[allow(clippy::too_many_arguments)] // train_plain's inputs plus the teacher and the loss
pub fn train_distilled(
    data: &Prepared,
    teacher: &Mlp<f32>,
    student: &ModelConfig,
    loss: &DistillLoss,
    config: &TrainConfig,
    label: &str,
    progress: Progress,
    store: Option<&StateStore>,
) -> Result<(Trained, TeacherLogits)> {
    student.validate_for(data.input_size(), CLASSES)?;
    loss.validate()?;
    let cache = TeacherLogits::compute(teacher, &data.train, &data.validation);
    progress.line(&format!("teacher logits cached in {:.2}s", cache.seconds));
    let mut objective = Distillation::new(*loss, &cache);
    let seed = student_seed(config.seed);
    let mut trained = fit_new(
        data,
        student,
        seed,
        &mut objective,
        config,
        label,
        progress,
        store,
    )?;
    trained.teacher_logits_seconds = Some(cache.seconds);
    Ok((trained, cache))
}

/// A new model of shape `model` (weights from `seed`), fitted to `objective`. The caller has
/// validated `model` for the data.
#[allow(clippy::too_many_arguments)] // fit's inputs plus the model's shape and seed
fn fit_new(
    data: &Prepared,
    model: &ModelConfig,
    seed: u64,
    objective: &mut dyn Objective,
    config: &TrainConfig,
    label: &str,
    progress: Progress,
    store: Option<&StateStore>,
) -> Result<Trained> {
    let sizes = model.sizes(data.input_size(), CLASSES);
    let mut mlp = Mlp::new(&sizes, model.dropout, seed)
        .with_input_dropout(config.regularisation.input_dropout);
    let outcome = fit(
        &mut mlp,
        &data.train,
        &data.validation,
        objective,
        config,
        label,
        progress,
        store,
    )?;
    Ok(Trained {
        model: mlp,
        outcome,
        teacher_logits_seconds: None,
    })
}

/// Test-set results of `model` with the ten one-vs-rest AUCs on softmax(z) at T = 1.
///
/// # Errors
/// [`Error::Roc`] when a class has no positive or no negative example in the test set.
pub fn test_report(model: &Mlp<f32>, test: &Split) -> Result<(Evaluation, Vec<f64>)> {
    let evaluation = evaluate(model, test);
    let auc = one_vs_rest_auc(evaluation.probabilities.view(), test.labels())?;
    Ok((evaluation, auc))
}

/// The report entry of a trained model.
///
/// # Errors
/// As [`test_report`].
pub fn model_report(trained: &Trained, test: &Split) -> Result<(ModelReport, Evaluation)> {
    let (evaluation, auc) = test_report(&trained.model, test)?;
    let report = ModelReport {
        test_accuracy: evaluation.accuracy,
        test_errors: evaluation.errors,
        per_class_errors: per_class_errors(evaluation.confusion.view()),
        test_loss: evaluation.loss,
        auc,
        epochs_run: trained.outcome.epochs_run,
        best_epoch: trained.outcome.best_epoch,
        train_seconds: trained.outcome.train_seconds,
        parameters: trained.model.parameter_count(),
        history: trained.outcome.history.clone(),
        teacher_logits_seconds: trained.teacher_logits_seconds,
    };
    Ok((report, evaluation))
}

/// Saves `model` as safetensors with its architecture and `config` (any serialisable settings)
/// in the metadata. Refuses to overwrite an existing file.
///
/// # Errors
/// [`Error::OutputExists`] when `path` exists; I/O errors.
pub fn save_model(path: &Path, model: &Mlp<f32>, config: &impl Serialize) -> Result<()> {
    if path.exists() {
        return Err(Error::OutputExists {
            path: path.to_path_buf(),
        });
    }
    let layers: Vec<_> = model
        .layers()
        .iter()
        .map(|d| (d.weight.view(), d.bias.view()))
        .collect();
    let metadata = checkpoint::mlp_metadata(&model.sizes(), model.dropout(), &json(config));
    checkpoint::save(path, &layers, &metadata)
}

/// [`save_model`], except that when `resuming`, a checkpoint already at `path` is kept: the
/// interrupted run wrote it from the same finished training state.
///
/// # Errors
/// As [`save_model`].
pub fn save_model_once(
    path: &Path,
    model: &Mlp<f32>,
    config: &impl Serialize,
    resuming: bool,
) -> Result<()> {
    if resuming && path.is_file() {
        return Ok(());
    }
    save_model(path, model, config)
}

/// Loads a checkpoint as an eval-ready model that takes `input_size` pixels and gives
/// [`CLASSES`] logits.
///
/// # Errors
/// Any checkpoint error, or a checkpoint whose input size differs from the data's or whose
/// output is not one logit per class.
pub fn load_model(path: &Path, input_size: usize) -> Result<Mlp<f32>> {
    let ckpt: Checkpoint = checkpoint::load(path)?;
    ckpt.check_input_size(path, input_size)?;
    ckpt.check_output_size(path, CLASSES)?;
    let dropout = ckpt
        .metadata
        .get("dropout")
        .and_then(|d| d.parse().ok())
        .filter(|d: &f64| (0.0..1.0).contains(d))
        .unwrap_or(0.0);
    Ok(Mlp::from_layers(ckpt.layers, dropout, 0))
}

/// The program's version and what it runs on, for the `versions` key of a report.
pub fn versions() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("distill".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("arch".to_string(), std::env::consts::ARCH.to_string()),
        ("os".to_string(), std::env::consts::OS.to_string()),
        (
            "threads".to_string(),
            rayon::current_num_threads().to_string(),
        ),
    ])
}

/// Serialises settings that are plain data.
pub fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("configs are plain data and always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_run_seed_gives_its_students_their_own_start_apart_from_the_teachers() {
        let seeds = [0, 1, 2, 42, u64::MAX];
        let students: Vec<u64> = seeds.iter().map(|&s| student_seed(s)).collect();
        for (i, (&s, &t)) in seeds.iter().zip(&students).enumerate() {
            assert_ne!(t, s, "the teacher of seed {s} starts from seed {s}");
            assert!(
                !students[..i].contains(&t),
                "seeds share a student start: {students:?}"
            );
        }
    }
}
