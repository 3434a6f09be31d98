//! What each subcommand does: load, validate, call the library, print.

use std::path::Path;
use std::time::Instant;

use distill::config::{ModelConfig, TrainConfig};
use distill::data::{DataSummary, CLASSES};
use distill::experiment::{
    load_model, model_report, save_model_once, student_seed, test_report, train_distilled,
    train_plain, Prepared, Trained,
};
use distill::output::{self, OutputDir};
use distill::pipeline;
use distill::report::{summary_table, write_json};
use distill::study::{self, ModelSource};
use distill::train::{Progress, StateStore, Stop};
use distill::Result;
use serde::Serialize;

use crate::cli::args::{
    DataArgs, EvalArgs, ExplainArgs, GradcheckArgs, PaperArgs, RunArgs, SimilarityArgs,
    SoftTargetsArgs, StudentArgs, TeacherArgs, TrainArgs,
};

/// `distill data`: load, validate, describe, and check the decoded payloads.
pub fn data(args: &DataArgs) -> Result<()> {
    let start = Instant::now();
    let source = args.data.source();
    let files = source.files()?;
    let mnist = source.load_files(&files)?;
    let seconds = start.elapsed().as_secs_f64();
    println!("data: {source}");
    print!(
        "{}",
        DataSummary {
            files: &files,
            mnist: &mnist
        }
    );
    println!("loaded in {seconds:.3} s");
    println!("{}", source.verify(&files, &mnist)?);
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
    let config = TrainConfig {
        regularisation: args.regularisation.regularisation(),
        ..args.train.train_config()
    };
    let model = args.model.model_config(ModelConfig::teacher());
    config.validate()?;
    model.validate()?;
    let data = Prepared::load_from(&args.train.data.source(), &config)?;
    model.validate_for(data.input_size(), CLASSES)?;
    let out = output_dir(
        &args.train,
        &[
            "teacher.safetensors".into(),
            "teacher.json".into(),
            "teacher.state".into(),
        ],
    )?;
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
    let transfer = args.transfer_set();
    config.validate()?;
    model.validate()?;
    loss.validate()?;
    transfer.validate()?;
    let mut data = Prepared::load_from(&args.train.data.source(), &config)?;
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
    // a state left there is another run's: continuing it takes --resume
    let mut files = vec![
        format!("{name}.safetensors"),
        format!("{name}.json"),
        format!("{name}.state"),
    ];
    if args.bias_shift.is_some() {
        files.extend([format!("{shifted}.safetensors"), format!("{shifted}.json")]);
    }
    let out = output_dir(&args.train, &files)?;
    let progress = Progress {
        quiet: args.train.quiet,
    };
    let settings = serde_json::json!({
        "train": config, "model": model, "distill": loss, "transfer": transfer,
    });
    let store = StateStore::new(out.path(), &settings, stop.clone());
    let trained = match &teacher {
        Some(teacher) => {
            let store = Some(&store);
            train_distilled(
                &data,
                teacher,
                &model,
                &loss,
                &config,
                "distilled",
                progress,
                store,
            )?
            .0
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
    finish(out.path(), name, &trained, &data, &settings, &args.train)?;
    if let Some(shift) = &args.bias_shift {
        let mut model = trained.model.clone();
        shift.apply(&mut model); // b_L[c] += δ_c, on a copy: the unshifted model is saved above
        let twin = Trained { model, ..trained };
        let settings = serde_json::json!({ "unshifted": settings, "bias_shift": shift });
        finish(out.path(), &shifted, &twin, &data, &settings, &args.train)?;
    }
    Ok(())
}

/// The locked folder a single training writes: `--resume DIR`, or `--out DIR` (or a new one)
/// where none of `files` exists yet.
fn output_dir(args: &TrainArgs, files: &[String]) -> Result<OutputDir> {
    match &args.resume {
        Some(dir) => output::resume_dir(dir),
        None => {
            let names: Vec<&str> = files.iter().map(String::as_str).collect();
            output::dir_for(args.out.as_deref(), &names)
        }
    }
}

/// `distill paper`: the paper's MNIST experiments; writes `paper.json`, `paper.md`, the seven
/// checkpoints and two plots.
pub fn paper(args: &PaperArgs, stop: &Stop) -> Result<()> {
    let progress = Progress { quiet: args.quiet };
    let outcome = distill::paper::run(&args.paper_config(), progress, stop)?;
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
    let mnist = args.data.source().load()?;
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

/// `distill explain`: one distillation step on test images, the math with its numbers.
pub fn explain(args: &ExplainArgs) -> Result<()> {
    let loss = args.distill.loss();
    loss.validate()?;
    let mnist = args.data.source().load()?;
    let input = mnist.test.input_size();
    let teacher = ModelSource::teacher(args.teacher.as_deref());
    let student = ModelSource::student(args.student.as_deref());
    let (teacher_model, student_model) = (teacher.load(input)?, student.load(input)?);
    let explanation = study::explain(
        (&teacher_model, &teacher),
        (&student_model, &student),
        &mnist.test,
        &args.index,
        loss,
    )?;
    show(&explanation, args.json);
    Ok(())
}

/// `distill soft-targets`: a model's probabilities at several temperatures, and
/// `soft_targets.png`.
pub fn soft_targets(args: &SoftTargetsArgs) -> Result<()> {
    study::validate_temperatures(&args.temperature)?;
    let mnist = args.data.source().load()?;
    let model = load_model(&args.checkpoint, mnist.test.input_size())?;
    let indices = match &args.index {
        Some(indices) => indices.clone(),
        None => study::soft_targets::default_selection(&model, &mnist.test),
    };
    let targets = study::soft_targets(&model, &mnist.test, &indices, &args.temperature)?;
    let out = output::dir_for(args.out.as_deref(), &["soft_targets.png"])?;
    let png = out.join("soft_targets.png");
    targets.plot(&mnist.test, &png)?;
    show(&targets, args.json);
    if !args.json {
        println!("\nwrote {}", png.display());
    }
    Ok(())
}

/// `distill similarity`: the mean soft targets per true class, and `similarity.png`.
pub fn similarity(args: &SimilarityArgs) -> Result<()> {
    study::validate_temperatures(&[args.temperature])?;
    let mnist = args.data.source().load()?;
    let model = load_model(&args.checkpoint, mnist.test.input_size())?;
    let similarity = study::similarity(&model, &mnist.test, args.temperature)?;
    let out = output::dir_for(args.out.as_deref(), &["similarity.png"])?;
    let png = out.join("similarity.png");
    similarity.plot(&png)?;
    show(&similarity, args.json);
    if !args.json {
        println!("wrote {}", png.display());
    }
    Ok(())
}

/// `distill gradcheck`: every layer and loss against central differences; fails (exit 1) when
/// any check does.
pub fn gradcheck(args: &GradcheckArgs) -> Result<()> {
    let table = study::run_checks(&study::cases(), args.dtype, args.seed);
    show(&table, args.json);
    table.verdict()
}

/// Prints `value` as one line of JSON, or as its text.
fn show(value: &(impl Serialize + std::fmt::Display), json: bool) {
    if json {
        println!("{}", distill::experiment::json(value));
    } else {
        print!("{value}");
    }
}
