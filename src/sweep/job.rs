//! One job of a sweep: idempotent, atomic, locked and resumable.
//!
//! ```text
//! DIR/jobs/<id>/result.json          the model report (test_errors, accuracy, AUCs, history, …)
//! DIR/jobs/<id>/<kind>.safetensors   the checkpoint, its metadata the job's config
//! DIR/jobs/.<id>.tmp/                where the job trains (with its resumable <kind>.state);
//!                                    renamed to DIR/jobs/<id>/ when complete
//! DIR/locks/<id>/                    the folder lock held while the job runs (crate::lock)
//! ```
//! A job whose folder exists is complete: the folder only appears by the rename of a finished
//! temporary folder, so a job killed at any point leaves no result. Run again, it continues
//! from the training state in its temporary folder (a job requeued by Slurm after SIGTERM, or
//! killed with -9 after its last epoch boundary), to the same bytes as an uninterrupted run.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::{
    load_model, model_report, save_model_once, student_seed, train_distilled, train_plain, Prepared,
};
use crate::lock::FolderLock;
use crate::report::{write_json, ModelReport};
use crate::sweep::plan::{Job, JobKind, Plan};
use crate::train::{Progress, StateStore, Stop};

/// The folder of the jobs' results inside a sweep folder.
pub const JOBS_DIR: &str = "jobs";

/// The folder of the jobs' locks inside a sweep folder.
pub const LOCKS_DIR: &str = "locks";

/// The result file of a job.
pub const RESULT_FILE: &str = "result.json";

/// What running a job did.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Its result was already complete: nothing ran.
    AlreadyComplete,
    /// It trained now; its report.
    Trained(Box<ModelReport>),
}

/// `DIR/jobs/<id>`: the complete result of a job.
pub fn result_dir(dir: &Path, id: &str) -> PathBuf {
    dir.join(JOBS_DIR).join(id)
}

/// `DIR/jobs/<id>/<kind>.safetensors`.
pub fn checkpoint_path(dir: &Path, job: &Job) -> PathBuf {
    result_dir(dir, &job.id).join(format!("{}.safetensors", job.kind.name()))
}

/// Whether the job's result folder is there (it only appears complete, by a rename).
pub fn is_complete(dir: &Path, job: &Job) -> bool {
    result_dir(dir, &job.id).join(RESULT_FILE).is_file() && checkpoint_path(dir, job).is_file()
}

/// Reads a complete job's `result.json`.
///
/// # Errors
/// [`Error::Io`] or [`Error::Report`] naming the file.
pub fn read_result(dir: &Path, job: &Job) -> Result<ModelReport> {
    let path = result_dir(dir, &job.id).join(RESULT_FILE);
    let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Report {
        path,
        reason: e.to_string(),
    })
}

/// Runs `job` of the sweep in `dir` unless its result is complete, continuing an interrupted
/// run of it; `stop` interrupts it (its state is kept for the next run).
///
/// # Errors
/// [`Error::DependencyPending`] when a job it depends on is not complete; [`Error::Locked`]
/// when another live process runs it; [`Error::Interrupted`] when stopped; any error of loading
/// the data or the teacher, training or writing.
pub fn run_job(
    dir: &Path,
    plan: &Plan,
    job: &Job,
    progress: Progress,
    stop: &Stop,
) -> Result<JobOutcome> {
    if is_complete(dir, job) {
        return Ok(JobOutcome::AlreadyComplete);
    }
    let teacher_path = teacher_path(dir, plan, job)?;
    let lock_dir = dir.join(LOCKS_DIR).join(&job.id);
    fs::create_dir_all(&lock_dir).map_err(|e| Error::io(&lock_dir, e))?;
    let _lock = FolderLock::acquire(&lock_dir)?;
    if is_complete(dir, job) {
        return Ok(JobOutcome::AlreadyComplete); // another worker finished it meanwhile
    }
    let final_dir = result_dir(dir, &job.id);
    if final_dir.exists() {
        return Err(Error::Sweep {
            path: final_dir,
            reason: "an incomplete job folder that distill did not write: move it away".into(),
        });
    }
    let tmp = dir.join(JOBS_DIR).join(format!(".{}.tmp", job.id));
    let resuming = tmp.is_dir();
    if resuming {
        progress.line(&format!(
            "continuing the interrupted run in {}",
            tmp.display()
        ));
    }
    fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let store = StateStore::new(&tmp, &job.config, stop.clone());
    let report = train_into(&tmp, plan, job, teacher_path.as_deref(), progress, &store)?;
    keep_only_results(&tmp, job)?;
    fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
    if let Ok(d) = fs::File::open(dir.join(JOBS_DIR)) {
        let _ = d.sync_all(); // the rename survives a crash where directories can be synced
    }
    Ok(JobOutcome::Trained(Box::new(report)))
}

/// Removes the training state (and any stray temporary file) so the result folder holds just
/// `result.json` and the checkpoint.
fn keep_only_results(tmp: &Path, job: &Job) -> Result<()> {
    let checkpoint = format!("{}.safetensors", job.kind.name());
    let entries = fs::read_dir(tmp).map_err(|e| Error::io(tmp, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(tmp, e))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref() != Some(RESULT_FILE) && name.as_deref() != Some(checkpoint.as_str()) {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// The teacher checkpoint a student distils from: its dependency's, or the reused `--teacher`.
fn teacher_path(dir: &Path, plan: &Plan, job: &Job) -> Result<Option<PathBuf>> {
    for dependency in &job.depends_on {
        let done = plan
            .jobs
            .iter()
            .find(|j| &j.id == dependency)
            .is_some_and(|j| is_complete(dir, j));
        if !done {
            return Err(Error::DependencyPending {
                job: job.id.clone(),
                dependency: dependency.clone(),
            });
        }
    }
    Ok(match job.kind {
        JobKind::Distilled => Some(match job.depends_on.first() {
            Some(teacher) => result_dir(dir, teacher).join("teacher.safetensors"),
            None => job
                .config
                .teacher_checkpoint
                .clone()
                .ok_or_else(|| Error::Sweep {
                    path: dir.join(crate::sweep::plan::PLAN_FILE),
                    reason: format!("distilled job {} has no teacher", job.id),
                })?,
        }),
        JobKind::Teacher | JobKind::Scratch => None,
    })
}

/// Trains the job (resumably, in `store`) and writes its checkpoint and `result.json` into
/// `out`.
fn train_into(
    out: &Path,
    plan: &Plan,
    job: &Job,
    teacher: Option<&Path>,
    progress: Progress,
    store: &StateStore,
) -> Result<ModelReport> {
    let config = &job.config;
    let data = Prepared::load_from(&plan.grid.data, &config.train)?;
    let (model, train, seed) = (&config.model, &config.train, config.train.seed);
    let store = Some(store);
    let trained = match (job.kind, teacher, &config.distill) {
        (JobKind::Teacher, _, _) => {
            train_plain(&data, model, train, seed, "teacher", progress, store)?
        }
        (JobKind::Scratch, _, _) => {
            let seed = student_seed(seed); // the distilled student's initial weights
            train_plain(&data, model, train, seed, "scratch", progress, store)?
        }
        (JobKind::Distilled, Some(teacher), Some(loss)) => {
            let teacher = load_model(teacher, data.input_size())?;
            train_distilled(
                &data,
                &teacher,
                model,
                loss,
                train,
                "distilled",
                progress,
                store,
            )?
            .0
        }
        (JobKind::Distilled, ..) => {
            return Err(Error::Sweep {
                path: out.to_path_buf(),
                reason: format!("distilled job {} has no teacher or no loss", job.id),
            })
        }
    };
    let checkpoint = out.join(format!("{}.safetensors", job.kind.name()));
    // An interrupted run may have written it already, from the same finished state.
    save_model_once(&checkpoint, &trained.model, config, true)?;
    let (report, _) = model_report(&trained, &data.test)?;
    write_json(&out.join(RESULT_FILE), &report)?;
    Ok(report)
}
