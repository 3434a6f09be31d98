//! `distill sweep plan|job|run|report`: flags and what each subcommand does.

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::{Args, Subcommand};
use distill::config::ModelConfig;
use distill::data::DataSource;
use distill::error::{Error, Result};
use distill::loss::SoftScale;
use distill::sweep::{
    emit, run_job, run_sweep, summarise, write_summary, Grid, JobOutcome, Plan, RunOptions,
    SlurmOptions, PLAN_FILE,
};
use distill::train::{Progress, Stop};

use crate::cli::args::{TeacherShapeArgs, TrainArgs};

/// Arguments of `distill sweep`.
#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: SweepCommand,
}

/// The sweep subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum SweepCommand {
    /// Expand a grid into jobs: DIR/plan.json, DIR/jobs.txt, DIR/slurm/ (trains nothing).
    Plan(Box<PlanArgs>), // boxed: its training flags make it ~5x the size of the others
    /// Run one job of a planned sweep (idempotent: a complete job exits 0 at once).
    Job(JobArgs),
    /// Run every pending job on this machine, N worker processes at a time.
    Run(SweepRunArgs),
    /// Statistics over seeds of the complete jobs: summary.json, summary.md and plots.
    Report(ReportArgs),
}

/// Arguments of `distill sweep plan`. Grid flags take comma lists; every training flag applies
/// to every job.
#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Temperatures T of the distilled students.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10",
        allow_negative_numbers = true,
        value_name = "T1,T2,.."
    )]
    pub temperature: Vec<f64>,
    /// Weights α of the hard loss.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1",
        allow_negative_numbers = true,
        value_name = "A1,A2,.."
    )]
    pub alpha: Vec<f64>,
    /// Scales of the soft term: one, t-squared.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "one",
        value_name = "S1,S2"
    )]
    pub soft_scale: Vec<SoftScale>,
    /// Seeds: N means 1..N, a list means those seeds [default: the --seed value].
    #[arg(long, value_name = "N|S1,S2,..", conflicts_with = "seed")]
    pub seeds: Option<Seeds>,
    /// A student shape (hidden widths); repeat the flag for more shapes [default: 300].
    #[arg(long, value_name = "W1,W2,..")]
    pub student_hidden: Vec<Widths>,
    /// Student dropout rate.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub student_dropout: f64,
    #[command(flatten)]
    pub teacher_shape: TeacherShapeArgs,
    /// Reuse one trained teacher for every seed (no teacher jobs).
    #[arg(long, value_name = "CKPT")]
    pub teacher: Option<PathBuf>,
    /// Slurm partition of both arrays [default: the cluster's].
    #[arg(long, value_name = "NAME")]
    pub slurm_partition: Option<String>,
    /// Slurm time limit of each array task.
    #[arg(long, default_value = "04:00:00", value_name = "TIME")]
    pub slurm_time: String,
    /// Slurm CPUs per task (each task runs with as many --threads).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub slurm_cpus: usize,
}

/// `--seeds`: `N` (1..N) or a comma list.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeds(pub Vec<u64>);

impl FromStr for Seeds {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let parse = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|e| format!("{v:?} is not a seed: {e}"))
        };
        if s.contains(',') {
            s.split(',')
                .map(parse)
                .collect::<std::result::Result<_, _>>()
                .map(Seeds)
        } else {
            Ok(Seeds((1..=parse(s)?).collect())) // N = 1..N
        }
    }
}

/// One `--student-hidden` value: a comma list of widths.
#[derive(Debug, Clone, PartialEq)]
pub struct Widths(pub Vec<usize>);

impl FromStr for Widths {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        s.split(',')
            .map(|w| {
                w.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("{w:?} is not a width: {e}"))
            })
            .collect::<std::result::Result<_, _>>()
            .map(Widths)
    }
}

/// Arguments of `distill sweep job`.
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    /// The sweep folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The job's id (as in plan.json and jobs.txt).
    #[arg(
        value_name = "ID",
        required_unless_present = "index",
        conflicts_with = "index"
    )]
    pub id: Option<String>,
    /// Run the plan's N-th job instead (from 0, as $SLURM_ARRAY_TASK_ID counts).
    #[arg(long, value_name = "N")]
    pub index: Option<usize>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `distill sweep run`.
#[derive(Args, Debug, Clone)]
pub struct SweepRunArgs {
    /// The sweep folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Worker processes at a time [default: one per core]; each gets --threads threads
    /// [default: cores / N, at least 1]. One single-threaded worker per core had the higher
    /// throughput here (docs/sweeps.md).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `distill sweep report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The sweep folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `distill sweep ...`; `threads` is the global `--threads`, `stop` the signals' flag.
pub fn sweep(args: &SweepArgs, threads: Option<usize>, stop: &Stop) -> Result<()> {
    match &args.command {
        SweepCommand::Plan(a) => plan(a),
        SweepCommand::Job(a) => job(a, stop),
        SweepCommand::Run(a) => run(a, threads, stop),
        SweepCommand::Report(a) => report(a),
    }
}

fn plan(args: &PlanArgs) -> Result<()> {
    let out = args
        .train
        .out
        .as_deref()
        .ok_or_else(|| Error::InvalidConfig {
            field: "out",
            reason: "distill sweep plan needs --out DIR, the sweep folder".into(),
        })?;
    let seeds = match &args.seeds {
        Some(Seeds(seeds)) => seeds.clone(),
        None => vec![args.train.seed],
    };
    let student_hidden = match args.student_hidden.is_empty() {
        true => vec![ModelConfig::student().hidden],
        false => args.student_hidden.iter().map(|w| w.0.clone()).collect(),
    };
    let grid = Grid {
        data: match &args.train.data.path {
            Some(dir) => DataSource::Dir(absolute(dir)?),
            None => DataSource::Embedded,
        },
        temperature: args.temperature.clone(),
        alpha: args.alpha.clone(),
        soft_scale: args.soft_scale.clone(),
        seeds,
        student_hidden,
        student_dropout: args.student_dropout,
        teacher: args.teacher_shape.model_config(),
        teacher_checkpoint: args.teacher.as_deref().map(absolute).transpose()?,
        train: args.train.train_config(),
    };
    let plan = Plan::from_grid(grid)?;
    let dir = sweep_dir(out, &plan)?;
    plan.write(&dir)?;
    let exe = std::env::current_exe().map_err(|e| Error::io("distill executable", e))?;
    let slurm = SlurmOptions {
        partition: args.slurm_partition.clone(),
        time: args.slurm_time.clone(),
        cpus: args.slurm_cpus,
    };
    emit(&dir, &exe, &plan, &slurm)?;
    if !args.train.quiet {
        println!("planned {} jobs in {}", plan.jobs.len(), dir.display());
        println!("run them here:    distill sweep run {}", dir.display());
        println!(
            "or on Slurm:      {}",
            dir.join("slurm/submit.sh").display()
        );
    }
    Ok(())
}

/// The sweep folder, created and absolute: new, empty, or holding this very plan already.
fn sweep_dir(out: &Path, plan: &Plan) -> Result<PathBuf> {
    let plan_file = out.join(PLAN_FILE);
    if plan_file.is_file() {
        if Plan::load(out).ok().as_ref() != Some(plan) {
            return Err(Error::Sweep {
                path: plan_file,
                reason: "this folder holds another sweep's plan; choose another --out".into(),
            });
        }
    } else if fs::read_dir(out).is_ok_and(|mut d| d.next().is_some()) || out.is_file() {
        return Err(Error::OutputExists {
            path: out.to_path_buf(),
        });
    }
    fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    absolute(out)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|e| Error::io(path, e))
}

fn job(args: &JobArgs, stop: &Stop) -> Result<()> {
    let plan = Plan::load(&args.dir)?;
    let job = match (&args.id, args.index) {
        (Some(id), _) => plan.job(&args.dir, id)?,
        (None, Some(index)) => plan.job_at(&args.dir, index)?,
        (None, None) => {
            return Err(Error::InvalidConfig {
                field: "index",
                reason: "give a job ID or --index N".into(),
            })
        }
    };
    let progress = Progress { quiet: args.quiet };
    match run_job(&args.dir, &plan, job, progress, stop)? {
        JobOutcome::AlreadyComplete => {
            progress.line(&format!("job {} is already complete", job.id))
        }
        // The threads it trained on: what `sweep run` gave this worker (`--threads`), in its log.
        JobOutcome::Trained(report) => progress.line(&format!(
            "job {}: {} test errors, {} epochs (best {}), {:.1} s on {} threads",
            job.id,
            report.test_errors,
            report.epochs_run,
            report.best_epoch,
            report.train_seconds,
            rayon::current_num_threads()
        )),
    }
    Ok(())
}

fn run(args: &SweepRunArgs, threads: Option<usize>, stop: &Stop) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let jobs = args.jobs.unwrap_or(cores);
    if jobs == 0 {
        return Err(Error::InvalidConfig {
            field: "jobs",
            reason: "must be at least 1".into(),
        });
    }
    let plan = Plan::load(&args.dir)?;
    let options = RunOptions {
        exe: std::env::current_exe().map_err(|e| Error::io("distill executable", e))?,
        jobs,
        threads: threads.unwrap_or((cores / jobs).max(1)),
        quiet: args.quiet,
    };
    let summary = run_sweep(&args.dir, &plan, &options, stop)?;
    if !args.quiet {
        println!(
            "{} jobs: {} complete before, {} run now, {} failed, {} skipped",
            plan.jobs.len(),
            summary.already_complete,
            summary.completed.len(),
            summary.failed.len(),
            summary.skipped.len()
        );
    }
    if let Some(signal) = summary.interrupted {
        return Err(Error::Sweep {
            path: args.dir.clone(),
            reason: format!(
                "interrupted by signal {signal}; run `distill sweep run` again to continue \
                 (interrupted jobs resume from their training states)"
            ),
        });
    }
    if summary.failed.is_empty() {
        return Ok(());
    }
    let failed: Vec<String> = summary
        .failed
        .iter()
        .map(|(id, reason)| format!("{id}: {reason}"))
        .collect();
    Err(Error::Sweep {
        path: args.dir.clone(),
        reason: format!(
            "{} jobs failed ({} skipped after them); the others are complete:\n  {}",
            summary.failed.len(),
            summary.skipped.len(),
            failed.join("\n  ")
        ),
    })
}

fn report(args: &ReportArgs) -> Result<()> {
    let plan = Plan::load(&args.dir)?;
    let summary = summarise(&args.dir, &plan)?;
    write_summary(&args.dir, &summary)?;
    println!(
        "{} of {} jobs complete; wrote {}",
        summary.complete,
        summary.jobs,
        args.dir.join("summary.md").display()
    );
    if !summary.missing.is_empty() {
        println!("missing: {}", summary.missing.join(" "));
    }
    Ok(())
}
