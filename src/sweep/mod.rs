//! Sweeps: a grid of runs over seeds, planned once and run the same way on this machine, through
//! GNU parallel or as Slurm array jobs, then summarised with statistics over seeds.
//!
//! ```text
//! plan     grid -> jobs with stable ids -> DIR/plan.json      (teachers, then students)
//! job      one job: DIR/jobs/<id>/{result.json, <kind>.safetensors}; idempotent, atomic,
//!          locked, resumable
//! run      every pending job, N local worker processes (`distill sweep job`), dependencies first
//! emit     DIR/jobs.txt (GNU parallel, xargs) and DIR/slurm/*.sbatch + submit.sh (Slurm arrays)
//! report   DIR/summary.json, summary.md, errors_vs_temperature.png, heatmap.png
//! ```
//! Every job composes the experiment layer's steps (`train_plain`, `train_distilled`,
//! `model_report`, `save_model`, `load_model`); a job gives the same bytes whoever runs it.

pub mod emit;
pub mod job;
pub mod plan;
pub mod report;
pub mod run;

pub use emit::{emit, SlurmOptions};
pub use job::{is_complete, read_result, run_job, JobOutcome};
pub use plan::{Grid, Job, JobConfig, JobKind, Plan, PLAN_FILE};
pub use report::{summarise, write_summary, Summary};
pub use run::{run_sweep, RunOptions, RunSummary};

/// Exit status of `distill sweep job` when another live process holds the job's lock:
/// `sweep run` then tries the job again later (EX_TEMPFAIL of sysexits.h).
pub const EXIT_LOCKED: u8 = 75;
