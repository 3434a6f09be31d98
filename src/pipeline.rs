//! The whole notebook as one function: teacher → distilled student → scratch student →
//! test evaluation → ROC for digit 8 → plots → report.
//!
//! The CLI (`distill run`, and `cargo run --release` with no subcommand) and the end-to-end
//! test both call [`run`]. Everything lands in one output folder:
//! `teacher.safetensors`, `distilled.safetensors`, `scratch.safetensors`, `report.json`,
//! `report.md`, `sample.png`, `loss_curves.png`, `roc_class8.png`, `logits_teacher.png`,
//! `logits_distilled.png`, and beside them the training states `teacher.state`,
//! `distilled.state`, `scratch.state` that let an interrupted run continue (`--resume`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{ModelConfig, ModelFlags, TrainConfig};
use crate::data::{DataSource, CLASSES};
use crate::error::Result;
use crate::experiment::{
    load_model, model_report, save_model_once, student_seed, train_distilled, train_plain,
    versions, Prepared, Trained,
};
use crate::loss::DistillLoss;
use crate::metrics::{class_roc_curve, RocCurve};
use crate::nn::Mlp;
use crate::output;
use crate::report::{self, Phase, Report, Series, ROC_DIGIT};
use crate::train::{Evaluation, Progress, StateStore, Stop};

/// Everything a run needs. `Default` is the notebook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunConfig {
    /// The data set: the embedded MNIST, or a folder of the four IDX files.
    pub data_dir: DataSource,
    /// Output folder; `None` = a new folder under `runs/`. An existing non-empty folder is refused
    /// (unless resuming). Not part of the serialised config, so that checkpoints of the same
    /// settings written to different folders are byte-identical.
    #[serde(skip)]
    pub out_dir: Option<PathBuf>,
    /// Continue the interrupted run in `out_dir` (which must then be given): finished models
    /// are kept, the unfinished one continues from its state. Not serialised either: a resumed
    /// run writes the bytes of an uninterrupted one.
    #[serde(skip)]
    pub resume: bool,
    /// Fit settings shared by the three trainings; its regularisation (input dropout, max-norm,
    /// jitter) applies to the teacher only.
    pub train: TrainConfig,
    /// The teacher's shape (784-1200-1200-10, dropout 0.5).
    pub teacher: ModelConfig,
    /// The students' shape (784-300-10, no dropout).
    pub student: ModelConfig,
    /// The distillation loss (α 0.1, T 10, soft term scaled by 1).
    pub distill: DistillLoss,
    /// Reuse this trained teacher instead of training one.
    pub teacher_checkpoint: Option<PathBuf>,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Where everything was written.
    pub out_dir: PathBuf,
    /// What `report.json` holds.
    pub report: Report,
}

/// Runs the notebook end to end, writing each training's state beside the outputs (see
/// [`crate::train::state`]); `stop` stops it cleanly after the current batch.
///
/// # Errors
/// Invalid settings (before any work), data errors, an output folder that is not empty (or,
/// resuming, missing), a folder locked by another process, a non-finite loss, a bad teacher
/// checkpoint, a failed write, a state that does not fit the settings, or
/// [`Error::Interrupted`](crate::Error::Interrupted) when `stop` was requested.
pub fn run(config: &RunConfig, progress: Progress, stop: &Stop) -> Result<RunOutcome> {
    config.train.validate()?;
    config.teacher.validate_as(ModelFlags::TEACHER)?;
    config.student.validate_as(ModelFlags::STUDENT)?;
    config.distill.validate()?;
    let data = Prepared::load_from(&config.data_dir, &config.train)?;
    let input = data.input_size();
    config
        .teacher
        .validate_for_as(input, CLASSES, ModelFlags::TEACHER)?;
    config
        .student
        .validate_for_as(input, CLASSES, ModelFlags::STUDENT)?;
    let teacher_path = config.teacher_checkpoint.as_deref();
    let reused_teacher = teacher_path
        .map(|p| load_model(p, data.input_size()))
        .transpose()?;
    let out = match (&config.out_dir, config.resume) {
        (Some(dir), true) => output::resume_dir(dir)?,
        (requested, _) => output::fresh_dir(requested.as_deref())?,
    };
    progress.line(&format!("writing to {}", out.path().display()));
    let store = StateStore::new(out.path(), config, stop.clone());
    let save = |name: &str, model: &Mlp<f32>| {
        save_model_once(&out.join(name), model, config, config.resume)
    };

    let teacher = match reused_teacher {
        Some(model) => Trained::loaded(model),
        None => train_plain(
            &data,
            &config.teacher,
            &config.train,
            config.train.seed,
            "teacher",
            progress,
            Some(&store),
        )?,
    };
    save("teacher.safetensors", &teacher.model)?;

    let student_train = config.train.unregularised();
    let (distilled, _) = train_distilled(
        &data,
        &teacher.model,
        &config.student,
        &config.distill,
        &student_train,
        progress,
        Some(&store),
    )?;
    save("distilled.safetensors", &distilled.model)?;

    let scratch = train_plain(
        &data,
        &config.student,
        &student_train,
        student_seed(config.train.seed),
        "scratch",
        progress,
        Some(&store),
    )?;
    save("scratch.safetensors", &scratch.model)?;

    let mut models = BTreeMap::new();
    let mut curves = Vec::new();
    let mut evaluations = BTreeMap::new();
    for (name, trained) in [
        ("teacher", &teacher),
        ("distilled", &distilled),
        ("scratch", &scratch),
    ] {
        let (entry, evaluation) = model_report(trained, &data.test)?;
        curves.push((
            name,
            class_roc_curve(
                evaluation.probabilities.view(),
                data.test.labels(),
                ROC_DIGIT,
            )?,
            entry.auc[ROC_DIGIT],
        ));
        evaluations.insert(name, evaluation);
        models.insert(name.to_string(), entry);
    }

    draw_plots(out.path(), &data, &distilled, &curves, &evaluations)?;
    let report = Report {
        config: serde_json::to_value(config).expect("configs serialise"),
        data: data_summary(&data),
        models,
        versions: versions(),
    };
    report::write_report_json(&out.join("report.json"), &report)?;
    report::write_report_md(&out.join("report.md"), &report, &PLOTS)?;
    Ok(RunOutcome {
        out_dir: out.path().to_path_buf(),
        report,
    })
}

/// The plots of a run, with the titles `report.md` gives them.
const PLOTS: [(&str, &str); 5] = [
    ("Test digits", "sample.png"),
    ("Distillation losses", "loss_curves.png"),
    ("ROC for digit 8", "roc_class8.png"),
    ("Teacher logits", "logits_teacher.png"),
    ("Distilled student logits", "logits_distilled.png"),
];

fn draw_plots(
    out: &Path,
    data: &Prepared,
    distilled: &Trained,
    curves: &[(&str, RocCurve, f64)],
    evaluations: &BTreeMap<&str, Evaluation>,
) -> Result<()> {
    let (rows, cols) = data.test.image_shape();
    report::plot_samples(
        &out.join("sample.png"),
        data.test.pixels(),
        rows,
        cols,
        data.test.labels(),
        25,
    )?;

    let history = &distilled.outcome.history;
    let series: Vec<Series> = [
        ("student_loss", "student loss: CE(y, q)", Phase::Train),
        (
            "distill_loss",
            "distillation loss: KL(p_t || p_s)",
            Phase::Train,
        ),
        ("total_loss", "total loss", Phase::Train),
        (
            "val_student_loss",
            "validation student loss",
            Phase::Validation,
        ),
        (
            "val_distill_loss",
            "validation distillation loss",
            Phase::Validation,
        ),
        ("val_total_loss", "validation total loss", Phase::Validation),
    ]
    .into_iter()
    .filter_map(|(key, name, phase)| {
        history.get(key).map(|values| Series {
            name,
            values,
            phase,
        })
    })
    .collect();
    report::plot_loss_curves(
        &out.join("loss_curves.png"),
        "Distillation: loss per epoch",
        &series,
    )?;

    let legend: Vec<(&str, &RocCurve, f64)> = curves
        .iter()
        .map(|(name, curve, auc)| (*name, curve, *auc))
        .collect();
    report::plot_roc(
        &out.join("roc_class8.png"),
        "ROC, digit 8 vs rest (test set)",
        &legend,
    )?;

    for (name, file, title) in [
        (
            "teacher",
            "logits_teacher.png",
            "Teacher: logit 0 vs logit 1 (test set)",
        ),
        (
            "distilled",
            "logits_distilled.png",
            "Distilled student: logit 0 vs logit 1 (test set)",
        ),
    ] {
        let z = &evaluations[name].logits;
        let (x, y): (Vec<f32>, Vec<f32>) = z.rows().into_iter().map(|r| (r[0], r[1])).unzip();
        report::plot_logit_scatter(&out.join(file), title, &x, &y, data.test.labels())?;
    }
    Ok(())
}

fn data_summary(data: &Prepared) -> serde_json::Value {
    let per_class = |labels: &[u8]| {
        let mut counts = [0usize; CLASSES];
        labels.iter().for_each(|&y| counts[usize::from(y)] += 1);
        counts
    };
    serde_json::json!({
        "dir": data.source,
        "train": data.train.len(),
        "validation": data.validation.len(),
        "test": data.test.len(),
        "image_shape": data.test.image_shape(),
        "train_per_class": per_class(data.train.labels()),
        "test_per_class": per_class(data.test.labels()),
    })
}
