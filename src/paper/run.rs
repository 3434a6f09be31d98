//! `distill paper`: the seven models of the paper's §3 in order, then the report.
//!
//! ```text
//! teacher        784-1200-1200-10, regularised, jitter 2          (or loaded: --teacher CKPT)
//! scratch_800    784-800-800-10 on the labels
//! distilled_800  the same student distilled at T = 20 (T² on the soft term)
//! omit3          distilled on a transfer set without 3s      → omit3_shifted (bias of 3)
//! only78         distilled on a transfer set of 7s and 8s    → only78_shifted (biases of 7, 8)
//! ```
//! Every setting, the data, the transfer sets and a reused teacher are checked before the first
//! model trains; each checkpoint is written as soon as its model is done.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::data::CLASSES;
use crate::error::Result;
use crate::experiment::{
    load_model, model_report, save_model, student_seed, train_distilled, train_plain, versions,
    Prepared, Trained,
};
use crate::nn::BiasShift;
use crate::output;
use crate::paper::recipe::{PaperConfig, Recipe, PAPER_SHIFT_OMIT3, PAPER_SHIFT_ONLY78};
use crate::paper::report::{paper_table, render_markdown, PaperReport, MODELS};
use crate::paper::shift::{search, ShiftSearch};
use crate::report::{plot_bias_shift, plot_per_class_errors, write_json, ShiftCurve};
use crate::train::{logits, Progress};

/// A finished `distill paper`.
#[derive(Debug, Clone)]
pub struct PaperOutcome {
    /// Where everything was written.
    pub out_dir: PathBuf,
    /// What `paper.json` holds.
    pub report: PaperReport,
}

/// Runs the paper's MNIST experiments end to end into one output folder: `paper.json`,
/// `paper.md`, `<model>.safetensors` for each of [`MODELS`], `per_class_errors.png` and
/// `transfer_bias.png`.
///
/// # Errors
/// Invalid settings, data or teacher checkpoint errors, an empty transfer set, an output
/// folder that is not empty (all before any training); a non-finite loss; a failed write.
pub fn run(config: &PaperConfig, progress: Progress) -> Result<PaperOutcome> {
    let recipe = Recipe::new(config.seed, config.quick);
    recipe.validate()?;
    let data = Prepared::load_from(&config.data_dir, &recipe.teacher_train)?;
    recipe.teacher.validate_for(data.input_size(), CLASSES)?;
    recipe.student.validate_for(data.input_size(), CLASSES)?;
    let reused_teacher = config
        .teacher_checkpoint
        .as_deref()
        .map(|p| load_model(p, data.input_size()))
        .transpose()?;
    let transfer = |set: &crate::data::TransferSet| -> Result<Prepared> {
        Ok(Prepared {
            train: set.apply(&data.train)?,
            ..data.clone()
        })
    };
    let (omit3_data, only78_data) = (transfer(&recipe.omit3)?, transfer(&recipe.only78)?);
    let out = output::fresh_dir(config.out_dir.as_deref())?;
    progress.line(&format!("writing to {}", out.path().display()));
    let settings = serde_json::json!({ "paper": config, "recipe": recipe });
    let save = |name: &str, trained: &Trained| {
        save_model(
            &out.join(format!("{name}.safetensors")),
            &trained.model,
            &settings,
        )
    };

    let teacher = match reused_teacher {
        Some(model) => Trained::loaded(model),
        None => train_plain(
            &data,
            &recipe.teacher,
            &recipe.teacher_train,
            config.seed,
            "teacher",
            progress,
            None,
        )?,
    };
    save("teacher", &teacher)?;

    let scratch = train_plain(
        &data,
        &recipe.student,
        &recipe.student_train,
        student_seed(config.seed),
        "scratch_800",
        progress,
        None,
    )?;
    save("scratch_800", &scratch)?;

    let distill = |data: &Prepared, what: &str| -> Result<Trained> {
        progress.line(&format!("distilling the 800-800 student on {what}"));
        let (trained, _) = train_distilled(
            data,
            &teacher.model,
            &recipe.student,
            &recipe.distill,
            &recipe.student_train,
            progress,
            None,
        )?;
        Ok(trained)
    };
    let distilled = distill(&data, "every training image")?;
    save("distilled_800", &distilled)?;
    let omit3 = distill(&omit3_data, "a transfer set without 3s")?;
    save("omit3", &omit3)?;
    let only78 = distill(&only78_data, "a transfer set of 7s and 8s only")?;
    save("only78", &only78)?;

    let shifted = |trained: &Trained, classes: &[u8], paper: f64| -> (Trained, ShiftSearch) {
        let found = search(
            classes,
            &recipe.shifts,
            (
                logits(&trained.model, &data.validation).view(),
                data.validation.labels(),
            ),
            (
                logits(&trained.model, &data.test).view(),
                data.test.labels(),
            ),
            paper,
        );
        let mut model = trained.model.clone();
        BiasShift::shared(classes, found.chosen).apply(&mut model);
        progress.line(&format!(
            "shift of {classes:?} chosen on validation: {:+.1} ({} validation errors)",
            found.chosen, found.validation_errors_at_chosen
        ));
        let twin = Trained {
            model,
            outcome: trained.outcome.clone(),
            teacher_logits_seconds: trained.teacher_logits_seconds,
        };
        (twin, found)
    };
    let (omit3_shifted, omit3_search) = shifted(&omit3, &[3], PAPER_SHIFT_OMIT3);
    save("omit3_shifted", &omit3_shifted)?;
    let (only78_shifted, only78_search) = shifted(&only78, &[7, 8], PAPER_SHIFT_ONLY78);
    save("only78_shifted", &only78_shifted)?;

    let trained = [
        &teacher,
        &scratch,
        &distilled,
        &omit3,
        &omit3_shifted,
        &only78,
        &only78_shifted,
    ];
    let mut models = BTreeMap::new();
    for (name, trained) in MODELS.iter().zip(trained) {
        models.insert(name.to_string(), model_report(trained, &data.test)?.0);
    }
    let report = PaperReport {
        config: serde_json::to_value(&settings).expect("configs serialise"),
        models,
        bias_shift: BTreeMap::from([
            ("omit3".to_string(), omit3_search),
            ("only78".to_string(), only78_search),
        ]),
        paper: paper_table(),
        versions: versions(),
    };
    write_outputs(out.path(), &report)?;
    Ok(PaperOutcome {
        out_dir: out.path().to_path_buf(),
        report,
    })
}

/// Validation and test error rates (%) at each shift.
type Rates = (Vec<f64>, Vec<f64>);

/// `paper.json`, `paper.md` and the two plots.
fn write_outputs(out: &Path, report: &PaperReport) -> Result<()> {
    let per_class: Vec<(&str, &[usize])> = MODELS
        .iter()
        .filter_map(|&name| {
            report
                .models
                .get(name)
                .map(|m| (name, m.per_class_errors.as_slice()))
        })
        .collect();
    plot_per_class_errors(&out.join("per_class_errors.png"), &per_class)?;
    let panels = [
        ("omit3", "omit3: bias of 3"),
        ("only78", "only78: biases of 7 and 8"),
    ];
    let rates: Vec<(&str, &ShiftSearch, Rates)> = panels
        .iter()
        .filter_map(|&(key, name)| report.bias_shift.get(key).map(|s| (name, s, s.rates())))
        .collect();
    let curves: Vec<ShiftCurve> = rates
        .iter()
        .map(|(name, s, (validation, test))| ShiftCurve {
            name,
            deltas: &s.deltas,
            validation,
            test,
            chosen: s.chosen,
            paper: s.paper_shift,
        })
        .collect();
    plot_bias_shift(&out.join("transfer_bias.png"), &curves)?;
    write_json(&out.join("paper.json"), report)?;
    crate::atomic::write_atomic(&out.join("paper.md"), render_markdown(report).as_bytes())
}
