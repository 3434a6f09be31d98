//! What each subcommand does: load, validate, call the library, print.

use std::path::Path;
use std::time::Instant;

use distill::config::{ModelConfig, TrainConfig};
use distill::data::{verify_payloads, DataSummary, Mnist, MnistFiles, CLASSES};
use distill::experiment::{
    load_model, model_report, save_model, student_seed, test_report, train_distilled, train_plain,
    Prepared, Trained,
};
use distill::output;
use distill::pipeline;
use distill::report::{summary_table, write_json};
use distill::train::Progress;
use distill::Result;
use serde::Serialize;

use crate::cli::args::{DataArgs, EvalArgs, PaperArgs, RunArgs, StudentArgs, TeacherArgs};

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
pub fn run(args: &RunArgs) -> Result<()> {
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let outcome = pipeline::run(&args.run_config(), progress)?;
    if !args.train.quiet {
        println!("{}", summary_table(&outcome.report));
        println!("report: {}", outcome.out_dir.join("report.md").display());
    }
    Ok(())
}

/// `distill teacher`: train the teacher; writes `teacher.safetensors` and `teacher.json`.
pub fn teacher(args: &TeacherArgs) -> Result<()> {
    let config = TrainConfig {
        regularisation: args.regularisation.regularisation(),
        ..args.train.train_config()
    };
    let model = args.model.model_config(ModelConfig::teacher());
    config.validate()?;
    model.validate()?;
    let data = Prepared::load(&args.train.data, &config)?;
    model.validate_for(data.input_size(), CLASSES)?;
    let out = output::dir_for(
        args.train.out.as_deref(),
        &["teacher.safetensors", "teacher.json"],
    )?;
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let trained = train_plain(&data, &model, &config, config.seed, "teacher", progress)?;
    let settings = serde_json::json!({ "train": config, "model": model });
    finish(
        &out,
        "teacher",
        &trained,
        &data,
        &settings,
        args.train.quiet,
    )
}

/// `distill student`: distil a student from `--teacher`, or train it from scratch
/// (`--scratch`); writes `distilled.*` or `scratch.*`.
pub fn student(args: &StudentArgs) -> Result<()> {
    let config = args.train.train_config();
    let model = args.model.model_config(ModelConfig::student());
    let loss = args.distill.loss();
    let transfer = args.transfer_set();
    config.validate()?;
    model.validate()?;
    loss.validate()?;
    transfer.validate()?;
    let mut data = Prepared::load(&args.train.data, &config)?;
    model.validate_for(data.input_size(), CLASSES)?;
    if !transfer.is_all() {
        data.train = transfer.apply(&data.train)?;
    }
    let teacher = match &args.teacher {
        Some(path) if !args.scratch => Some(load_model(path, data.input_size())?),
        _ => None,
    };
    let name = if teacher.is_some() {
        "distilled"
    } else {
        "scratch"
    };
    let shifted = format!("{name}_shifted");
    let mut files = vec![format!("{name}.safetensors"), format!("{name}.json")];
    if args.bias_shift.is_some() {
        files.extend([format!("{shifted}.safetensors"), format!("{shifted}.json")]);
    }
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = output::dir_for(args.train.out.as_deref(), &names)?;
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let settings = serde_json::json!({
        "train": config, "model": model, "distill": loss, "transfer": transfer,
    });
    let trained = match &teacher {
        Some(teacher) => train_distilled(&data, teacher, &model, &loss, &config, progress)?.0,
        None => train_plain(
            &data,
            &model,
            &config,
            student_seed(config.seed),
            "scratch",
            progress,
        )?,
    };
    finish(&out, name, &trained, &data, &settings, args.train.quiet)?;
    if let Some(shift) = &args.bias_shift {
        let mut model = trained.model.clone();
        shift.apply(&mut model); // b_L[c] += δ_c, on a copy: the unshifted model is saved above
        let twin = Trained { model, ..trained };
        let settings = serde_json::json!({ "unshifted": settings, "bias_shift": shift });
        finish(&out, &shifted, &twin, &data, &settings, args.train.quiet)?;
    }
    Ok(())
}

/// `distill paper`: the paper's MNIST experiments; writes `paper.json`, `paper.md`, the seven
/// checkpoints and two plots.
pub fn paper(args: &PaperArgs) -> Result<()> {
    let progress = Progress { quiet: args.quiet };
    let outcome = distill::paper::run(&args.paper_config(), progress)?;
    if !args.quiet {
        for name in distill::paper::MODELS {
            let m = &outcome.report.models[name];
            println!(
                "{name:<15} {:>6} test errors  {:>7.2} %  per digit {:?}",
                m.test_errors,
                100.0 * m.test_accuracy,
                m.per_class_errors
            );
        }
        println!("report: {}", outcome.out_dir.join("paper.md").display());
    }
    Ok(())
}

/// Saves a trained model and its test results as `<name>.safetensors` and `<name>.json`.
fn finish(
    out: &Path,
    name: &str,
    trained: &Trained,
    data: &Prepared,
    settings: &impl Serialize,
    quiet: bool,
) -> Result<()> {
    save_model(
        &out.join(format!("{name}.safetensors")),
        &trained.model,
        settings,
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
