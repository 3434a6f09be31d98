//! `distill`: the command line. Parses flags into typed configs and calls the library.

mod cli;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use distill::Error;

use cli::args::{
    DataArgs, EvalArgs, ExplainArgs, GradcheckArgs, PaperArgs, RunArgs, SimilarityArgs,
    SoftTargetsArgs, StudentArgs, TeacherArgs,
};
use cli::sweep::SweepArgs;
use cli::{commands, signals};

/// Knowledge distillation (Hinton, Vinyals & Dean 2015) on MNIST with a hand-written,
/// gradient-checked numeric engine. With no subcommand, runs the whole notebook (`run`).
#[derive(Parser)]
#[command(name = "distill", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    /// Worker threads (the rayon pool) [default: one per core]. Results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// The notebook end to end: teacher, distilled and scratch students, evaluation, ROC,
    /// plots and report (what `distill` alone does).
    Run(RunArgs),
    /// Train the teacher (784-1200-1200-10, dropout 0.5).
    Teacher(TeacherArgs),
    /// Distil a student from a trained teacher, or train it from scratch (--scratch).
    Student(StudentArgs),
    /// The paper's MNIST experiments (Hinton, Vinyals & Dean 2015, §3): a regularised teacher,
    /// 800-800 students from scratch and distilled at T = 20, omitted-class transfer sets and
    /// their bias correction, beside the paper's numbers.
    Paper(PaperArgs),
    /// Evaluate a checkpoint on the test set.
    Eval(EvalArgs),
    /// Load and validate a data set: counts, image shape, per-class counts, mean pixel and
    /// payload checksums.
    Data(DataArgs),
    /// One distillation step on test images, printed in the order of docs/math.md: logits,
    /// softmax(z/T), CE, KL, the loss, ∂L/∂z_s as hard + soft part, the 1/T² fall of the soft
    /// gradient and the paper's eq. 4 limit.
    Explain(ExplainArgs),
    /// A model's probabilities at several temperatures for chosen test images, their entropy,
    /// and soft_targets.png.
    SoftTargets(SoftTargetsArgs),
    /// The 10×10 matrix of mean soft targets per true class over the test set, the
    /// most-confused pairs, and similarity.png.
    Similarity(SimilarityArgs),
    /// Central-difference checks of every layer and loss; exits 1 if any fails.
    Gradcheck(GradcheckArgs),
    /// Grids of runs over seeds: plan, run one job, run all here, report statistics.
    Sweep(SweepArgs),
}

fn main() -> ExitCode {
    let cli = parse();
    let result = thread_pool(cli.threads)
        .and_then(|pool| Ok((pool, signals::install()?)))
        .and_then(|(pool, stop)| {
            // The command runs ON a worker of the pool: a parallel loop or gemm split then
            // starts on the calling thread and wakes one other worker, instead of parking the
            // main thread and waking two (which cost ~25% of a student epoch in scheduler time).
            pool.install(|| match &cli.command {
                None => commands::run(&cli.run, &stop),
                Some(Command::Run(args)) => commands::run(args, &stop),
                Some(Command::Teacher(args)) => commands::teacher(args, &stop),
                Some(Command::Student(args)) => commands::student(args, &stop),
                Some(Command::Paper(args)) => commands::paper(args, &stop),
                Some(Command::Eval(args)) => commands::eval(args),
                Some(Command::Data(args)) => commands::data(args),
                Some(Command::Explain(args)) => commands::explain(args),
                Some(Command::SoftTargets(args)) => commands::soft_targets(args),
                Some(Command::Similarity(args)) => commands::similarity(args),
                Some(Command::Gradcheck(args)) => commands::gradcheck(args),
                Some(Command::Sweep(args)) => cli::sweep::sweep(args, cli.threads, &stop),
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Interrupted { signal, state }) => {
            eprintln!("interrupted: training state saved in {}", state.display());
            let args: Vec<_> = std::env::args_os().collect();
            let dir = state.parent().unwrap_or(std::path::Path::new("."));
            match &cli.command {
                // a sweep job keeps its state in its own folder: the same command continues it
                Some(Command::Sweep(_)) => eprintln!("to resume: run the same command again"),
                _ => eprintln!("to resume: {}", signals::resume_command(&args, dir)),
            }
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))
        }
        Err(e @ Error::Locked { .. }) if matches!(cli.command, Some(Command::Sweep(_))) => {
            eprintln!("error: {e}");
            ExitCode::from(distill::sweep::EXIT_LOCKED) // `sweep run` tries the job again later
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, parsed. The notebook's own flags (`distill --epochs 3`) may not come before
/// a subcommand: `distill --epochs 3 teacher` is refused, naming the flag, instead of training
/// the teacher for its default epochs. Global flags (`--threads`) go on either side.
fn parse() -> Cli {
    let mut command = Cli::command();
    let matches = command.get_matches_mut();
    if let Some((name, _)) = matches.subcommand() {
        let notebook_flag = command.get_arguments().find(|arg| {
            !arg.is_global_set()
                && matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine)
        });
        if let Some(arg) = notebook_flag {
            let flag = arg
                .get_long()
                .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
            command
                .error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "'{flag}' is a flag of `distill` alone (the notebook) and cannot come before \
                         the subcommand '{name}'; a subcommand's flags go after its name"
                    ),
                )
                .exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The rayon pool every parallel loop and gemm split runs in: `threads` workers, or one per
/// core.
fn thread_pool(threads: Option<usize>) -> distill::Result<rayon::ThreadPool> {
    if threads == Some(0) {
        return Err(Error::InvalidConfig {
            field: "threads",
            reason: "must be at least 1".into(),
        });
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0)) // 0: rayon's default, one per core
        .build()
        .map_err(|e| Error::InvalidConfig {
            field: "threads",
            reason: e.to_string(),
        })
}
