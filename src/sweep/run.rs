//! `distill sweep run`: every pending job on this machine, N worker processes at a time.
//!
//! Each worker is the `distill` executable running `sweep job DIR ID` with its share of the
//! cores (`--threads`), its output in `DIR/logs/<id>.log`. A job starts when every job it
//! depends on is complete; a failed job is reported and the others go on (its dependants are
//! skipped). Killed and run again, the sweep continues: complete jobs are not run twice, and a
//! job still held by a live worker of the killed run is waited for, not run again.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::error::{Error, Result};
use crate::sweep::job::is_complete;
use crate::sweep::plan::Plan;
use crate::sweep::EXIT_LOCKED;
use crate::train::Stop;

/// The folder of the workers' logs inside a sweep folder.
pub const LOGS_DIR: &str = "logs";

/// How to run the workers.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `distill` executable the workers run.
    pub exe: PathBuf,
    /// Worker processes at a time (at least 1).
    pub jobs: usize,
    /// Threads of each worker (`--threads`).
    pub threads: usize,
    /// No progress bar, no lines.
    pub quiet: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    /// Jobs complete before the run started.
    pub already_complete: usize,
    /// Jobs this run completed, in completion order.
    pub completed: Vec<String>,
    /// Jobs whose worker failed: (id, the last line of its log).
    pub failed: Vec<(String, String)>,
    /// Jobs not started because a job they depend on failed.
    pub skipped: Vec<String>,
    /// The signal that stopped the run (its workers keep their training states).
    pub interrupted: Option<i32>,
}

#[derive(Debug)]
enum State {
    Pending,
    /// Held by another live process (its worker exited with [`EXIT_LOCKED`]): retried after
    /// [`RETRY`].
    Locked(Instant),
    Running(Child),
    Complete,
    Failed,
    Skipped,
}

/// Poll interval of the scheduler.
const TICK: Duration = Duration::from_millis(100);

/// Wait before retrying a job that another process holds.
const RETRY: Duration = Duration::from_secs(2);

/// Runs every job of `plan` that is not complete. When `stop` is requested (Ctrl-C, SIGTERM),
/// no new worker starts; the running ones, which got the signal too, save their training states
/// and exit, and the summary says so.
///
/// # Errors
/// I/O errors on the logs folder or when a worker cannot be started. Failed jobs are not
/// errors here: they are in the summary.
pub fn run_sweep(dir: &Path, plan: &Plan, options: &RunOptions, stop: &Stop) -> Result<RunSummary> {
    let logs = dir.join(LOGS_DIR);
    fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let mut states: Vec<State> = plan
        .jobs
        .iter()
        .map(|job| match is_complete(dir, job) {
            true => State::Complete,
            false => State::Pending,
        })
        .collect();
    let count = |states: &[State], f: fn(&State) -> bool| states.iter().filter(|s| f(s)).count();
    let mut summary = RunSummary {
        already_complete: count(&states, |s| matches!(s, State::Complete)),
        ..RunSummary::default()
    };
    let to_run = plan.jobs.len() - summary.already_complete;
    let bar = job_bar(to_run as u64, options.quiet);
    let index_of = |id: &str| plan.jobs.iter().position(|j| j.id == id);
    loop {
        summary.interrupted = stop.requested();
        for (i, state) in states.iter_mut().enumerate() {
            let id = &plan.jobs[i].id;
            match state {
                State::Locked(since) if since.elapsed() >= RETRY => *state = State::Pending,
                State::Running(child) => {
                    let exited = child.try_wait().map_err(|e| Error::io(&options.exe, e))?;
                    let Some(status) = exited else { continue };
                    *state = if status.success() {
                        summary.completed.push(id.clone());
                        bar.inc(1);
                        if !options.quiet {
                            bar.suspend(|| eprintln!("job {id} done"));
                        }
                        State::Complete
                    } else if summary.interrupted.is_some() {
                        State::Pending // stopped by the same signal: its state is kept
                    } else if status.code() == Some(i32::from(EXIT_LOCKED)) {
                        State::Locked(Instant::now())
                    } else {
                        let reason = last_line(&log_path(dir, id));
                        bar.suspend(|| eprintln!("job {id} failed: {reason}"));
                        summary.failed.push((id.clone(), reason));
                        bar.inc(1);
                        State::Failed
                    };
                }
                _ => {}
            }
        }
        for i in 0..states.len() {
            let blocked = plan.jobs[i].depends_on.iter().any(|d| {
                index_of(d).is_some_and(|k| matches!(states[k], State::Failed | State::Skipped))
            });
            if blocked && matches!(states[i], State::Pending) {
                states[i] = State::Skipped;
                summary.skipped.push(plan.jobs[i].id.clone());
                bar.inc(1);
            }
        }
        let mut running = count(&states, |s| matches!(s, State::Running(_)));
        for i in 0..states.len() {
            if running >= options.jobs.max(1) || summary.interrupted.is_some() {
                break;
            }
            let ready = matches!(states[i], State::Pending)
                && plan.jobs[i]
                    .depends_on
                    .iter()
                    .all(|d| index_of(d).is_some_and(|k| matches!(states[k], State::Complete)));
            if ready {
                states[i] = State::Running(spawn_worker(dir, &plan.jobs[i].id, options)?);
                running += 1;
            }
        }
        let waiting = count(&states, |s| matches!(s, State::Pending | State::Locked(_)));
        let failed = summary.failed.len();
        bar.set_message(format!("running {running}, failed {failed}"));
        if running == 0 && (waiting == 0 || summary.interrupted.is_some()) {
            break;
        }
        sleep(TICK);
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// `DIR/logs/<id>.log`.
pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(LOGS_DIR).join(format!("{id}.log"))
}

/// Starts `exe sweep job DIR ID --threads K`, its stdout and stderr in the job's log.
fn spawn_worker(dir: &Path, id: &str, options: &RunOptions) -> Result<Child> {
    let log_file = log_path(dir, id);
    let log = File::create(&log_file).map_err(|e| Error::io(&log_file, e))?;
    let err = log.try_clone().map_err(|e| Error::io(&log_file, e))?;
    Command::new(&options.exe)
        .args(["sweep", "job"])
        .arg(dir)
        .arg(id)
        .arg("--threads")
        .arg(options.threads.max(1).to_string())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| Error::io(&options.exe, e))
}

/// The last non-empty line of a log (the worker's error message), or a pointer to the log.
fn last_line(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!("{line} (log: {})", log.display())
}

/// One bar over the jobs to run: done / total, running and failed, ETA.
fn job_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "jobs [{bar:30}] {pos}/{len} done, {msg}, {elapsed} (ETA {eta})",
        )
        .expect("static template is valid")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_secs(1));
    bar
}
