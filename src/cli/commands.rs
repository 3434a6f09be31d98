//! What each subcommand does: load, validate, call the library, print.

use std::path::Path;
use std::time::Instant;

use distill::config::ModelConfig;
use distill::data::{verify_payloads, DataSummary, Mnist, MnistFiles, CLASSES};
use distill::experiment::{
    load_model, model_report, save_model_once, student_seed, test_report, train_distilled,
    train_plain, Prepared, Trained,
};
use distill::output::{self, OutputDir};
use distill::pipeline;
use distill::report::{summary_table, write_json};
use distill::train::{Progress, StateStore, Stop};
use distill::Result;
use serde::Serialize;

use crate::cli::args::{DataArgs, EvalArgs, RunArgs, StudentArgs, TeacherArgs, TrainArgs};

/// `distill data`: load, validate, describe, and check the decoded payloads.
pub fn data(args: &DataArgs) -> Result<()> {
    let start = Instant::now();
    let files = MnistFiles::find(&args.data)?;
    let mnist = Mnist::load_files(&files)?;
    let seconds = start.elapsed().as_secs_f64();
    print!(
        "{}",
        DataSummary {
            files: &files,
            mnist: &mnist
        }
    );
    println!("loaded in {seconds:.3} s");
    println!("{}", verify_payloads(&args.data, &files, &mnist)?);
    Ok(())
}

/// `distill run`: the notebook end to end.
pub fn run(args: &RunArgs, stop: &Stop) -> Result<()> {
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let outcome = pipeline::run(&args.run_config(), progress, stop)?;
    if !args.train.quiet {
        println!("{}", summary_table(&outcome.report));
        println!("report: {}", outcome.out_dir.join("report.md").display());
    }
    Ok(())
}

/// `distill teacher`: train the teacher; writes `teacher.safetensors` and `teacher.json`.
pub fn teacher(args: &TeacherArgs, stop: &Stop) -> Result<()> {
    let config = args.train.train_config();
    let model = args.model.model_config(ModelConfig::teacher());
    config.validate()?;
    model.validate()?;
    let data = Prepared::load(&args.train.data, &config)?;
    model.validate_for(data.input_size(), CLASSES)?;
    let out = output_dir(&args.train, "teacher")?;
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let settings = serde_json::json!({ "train": config, "model": model });
    let store = StateStore::new(out.path(), &settings, stop.clone());
    let trained = train_plain(
        &data,
        &model,
        &config,
        config.seed,
        "teacher",
        progress,
        Some(&store),
    )?;
    finish(
        out.path(),
        "teacher",
        &trained,
        &data,
        &settings,
        &args.train,
    )
}

/// `distill student`: distil a student from `--teacher`, or train it from scratch
/// (`--scratch`); writes `distilled.*` or `scratch.*`.
pub fn student(args: &StudentArgs, stop: &Stop) -> Result<()> {
    let config = args.train.train_config();
    let model = args.model.model_config(ModelConfig::student());
    let loss = args.distill.loss();
    config.validate()?;
    model.validate()?;
    loss.validate()?;
    let data = Prepared::load(&args.train.data, &config)?;
    model.validate_for(data.input_size(), CLASSES)?;
    let teacher = match &args.teacher {
        Some(path) if !args.scratch => Some(load_model(path, data.input_size())?),
        _ => None,
    };
    let name = if teacher.is_some() {
        "distilled"
    } else {
        "scratch"
    };
    let out = output_dir(&args.train, name)?;
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let settings = serde_json::json!({ "train": config, "model": model, "distill": loss });
    let store = StateStore::new(out.path(), &settings, stop.clone());
    let trained = match &teacher {
        Some(teacher) => {
            let store = Some(&store);
            train_distilled(&data, teacher, &model, &loss, &config, progress, store)?.0
        }
        None => train_plain(
            &data,
            &model,
            &config,
            student_seed(config.seed),
            "scratch",
            progress,
            Some(&store),
        )?,
    };
    finish(out.path(), name, &trained, &data, &settings, &args.train)
}

/// The locked folder a single training of `name` writes: `--resume DIR`, or `--out DIR` (or a
/// new one) where `<name>.safetensors` and `<name>.json` do not exist yet.
fn output_dir(args: &TrainArgs, name: &str) -> Result<OutputDir> {
    match &args.resume {
        Some(dir) => output::resume_dir(dir),
        None => {
            let files = [format!("{name}.safetensors"), format!("{name}.json")];
            output::dir_for(args.out.as_deref(), &[&files[0], &files[1]])
        }
    }
}

/// Saves a trained model and its test results as `<name>.safetensors` and `<name>.json`.
fn finish(
    out: &Path,
    name: &str,
    trained: &Trained,
    data: &Prepared,
    settings: &impl Serialize,
    args: &TrainArgs,
) -> Result<()> {
    let quiet = args.quiet;
    save_model_once(
        &out.join(format!("{name}.safetensors")),
        &trained.model,
        settings,
        args.resume.is_some(),
    )?;
    let (report, _) = model_report(trained, &data.test)?;
    write_json(&out.join(format!("{name}.json")), &report)?;
    if !quiet {
        println!(
            "{name}: test accuracy {:.4} ({} errors), AUC digit 8 {:.6}, {} epochs (best {}), {:.1} s",
            report.test_accuracy,
            report.test_errors,
            report.auc[8],
            report.epochs_run,
            report.best_epoch,
            report.train_seconds
        );
        println!(
            "saved {}",
            out.join(format!("{name}.safetensors")).display()
        );
    }
    Ok(())
}

/// `distill eval`: test-set accuracy, errors, loss and the ten one-vs-rest AUCs of a checkpoint.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let mnist = Mnist::load(&args.data)?;
    let model = load_model(&args.checkpoint, mnist.test.input_size())?;
    let (evaluation, auc) = test_report(&model, &mnist.test)?;
    if args.json {
        let object = serde_json::json!({
            "test_accuracy": evaluation.accuracy,
            "test_errors": evaluation.errors,
            "test_loss": evaluation.loss,
            "auc": auc,
        });
        println!("{object}");
    } else {
        println!("checkpoint     {}", args.checkpoint.display());
        println!("architecture   {:?}", model.sizes());
        println!("test accuracy  {:.4}", evaluation.accuracy);
        println!(
            "test errors    {} of {}",
            evaluation.errors,
            mnist.test.len()
        );
        println!("test loss      {:.6}", evaluation.loss);
        for (digit, a) in auc.iter().enumerate() {
            println!("AUC digit {digit}    {a:.6}");
        }
        println!("confusion matrix (rows: true digit, columns: predicted)");
        for (digit, row) in evaluation.confusion.rows().into_iter().enumerate() {
            let cells: Vec<String> = row.iter().map(|n| format!("{n:5}")).collect();
            println!("  {digit} {}", cells.join(""));
        }
    }
    Ok(())
}
