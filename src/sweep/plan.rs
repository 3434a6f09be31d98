//! A sweep's plan: the grid as given, expanded into jobs with ids derived from their content.
//!
//! ```text
//! teachers   one per seed (none with a reused --teacher CKPT)
//! scratch    one per (shape, seed)
//! distilled  one per (shape, T, α, scale, seed)            every student depends on its seed's teacher
//! order      teachers, scratch, distilled: every job after what it depends on
//! id         <kind>-<readable cell>-s<seed>-<12 hex of sha256(kind, config, depends_on)>
//! ```
//! The same grid gives the same jobs, ids and `plan.json` bytes; a job whose settings change
//! gets a new id, so a finished result is never mistaken for another job's.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::{ModelConfig, TrainConfig};
use crate::data::DataSource;
use crate::error::{Error, Result};
use crate::loss::{DistillLoss, SoftScale};
use crate::report::write_json;

/// The file a sweep folder is recognised by.
pub const PLAN_FILE: &str = "plan.json";

/// What `distill sweep plan` was asked for: the grid and the settings every job shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// The data set: the embedded MNIST, or a folder of IDX files, absolute.
    pub data: DataSource,
    /// Temperatures T of the distilled students (`--temperature`).
    pub temperature: Vec<f64>,
    /// Weights α of the hard loss (`--alpha`).
    pub alpha: Vec<f64>,
    /// Scales of the soft term (`--soft-scale`).
    pub soft_scale: Vec<SoftScale>,
    /// Seeds; each job's `train.seed` is one of them (`--seeds`).
    pub seeds: Vec<u64>,
    /// Student shapes, one hidden-width list each (`--student-hidden`, repeatable).
    pub student_hidden: Vec<Vec<usize>>,
    /// Dropout rate of every student (`--student-dropout`).
    pub student_dropout: f64,
    /// The teacher's shape (`--teacher-hidden`, `--teacher-dropout`).
    pub teacher: ModelConfig,
    /// A trained teacher reused by every seed instead of teacher jobs (`--teacher`), absolute.
    pub teacher_checkpoint: Option<PathBuf>,
    /// Fit settings of every job; `seed` is the `--seed` flag, jobs take theirs from `seeds`.
    pub train: TrainConfig,
}

/// What a job trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// The teacher, plain cross-entropy.
    Teacher,
    /// A student trained from scratch, plain cross-entropy.
    Scratch,
    /// A student distilled from its seed's teacher.
    Distilled,
}

impl JobKind {
    /// `teacher`, `scratch` or `distilled`: the checkpoint is `<name>.safetensors`.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Teacher => "teacher",
            JobKind::Scratch => "scratch",
            JobKind::Distilled => "distilled",
        }
    }
}

/// Everything one job trains with: the checkpoint's metadata holds exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Fit settings, with this job's seed.
    pub train: TrainConfig,
    /// The shape trained.
    pub model: ModelConfig,
    /// The distillation loss (distilled students only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distill: Option<DistillLoss>,
    /// The reused teacher checkpoint (students of a sweep planned with `--teacher`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_checkpoint: Option<PathBuf>,
}

/// One job of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Stable id, derived from the kind, config and dependencies (see the module docs).
    pub id: String,
    /// What it trains.
    pub kind: JobKind,
    /// Its settings.
    pub config: JobConfig,
    /// Ids of the jobs that must be complete first (the seed's teacher job for a student).
    pub depends_on: Vec<String>,
}

/// `plan.json`: the grid and its jobs, each after what it depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// What was asked for.
    pub grid: Grid,
    /// The jobs, in dependency order.
    pub jobs: Vec<Job>,
}

impl Grid {
    /// Checks every list (non-empty, no duplicate) and every value.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the flag.
    pub fn validate(&self) -> Result<()> {
        self.train.validate()?;
        self.teacher
            .validate()
            .map_err(|e| rename(e, "teacher-hidden"))?;
        distinct("temperature", &self.temperature, |t| t.to_bits())?;
        distinct("alpha", &self.alpha, |a| a.to_bits())?;
        distinct("soft-scale", &self.soft_scale, |s| s.to_string())?;
        distinct("seeds", &self.seeds, |s| *s)?;
        distinct("student-hidden", &self.student_hidden, Clone::clone)?;
        for &temperature in &self.temperature {
            let loss = DistillLoss {
                temperature,
                ..DistillLoss::default()
            };
            loss.validate()?;
        }
        for &alpha in &self.alpha {
            let loss = DistillLoss {
                alpha,
                ..DistillLoss::default()
            };
            loss.validate()?;
        }
        for hidden in &self.student_hidden {
            self.student(hidden)
                .validate()
                .map_err(|e| rename(e, "student-hidden"))?;
        }
        Ok(())
    }

    fn student(&self, hidden: &[usize]) -> ModelConfig {
        ModelConfig {
            hidden: hidden.to_vec(),
            dropout: self.student_dropout,
        }
    }

    fn train_with_seed(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            seed,
            ..self.train.clone()
        }
    }
}

impl Plan {
    /// Expands a validated grid into its jobs (see the module docs for the order and the ids).
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] when the grid is not valid.
    pub fn from_grid(grid: Grid) -> Result<Plan> {
        grid.validate()?;
        let mut jobs = Vec::new();
        let mut teacher_of = Vec::new();
        for &seed in &grid.seeds {
            if grid.teacher_checkpoint.is_some() {
                teacher_of.push(vec![]);
                continue;
            }
            let config = JobConfig {
                train: grid.train_with_seed(seed),
                model: grid.teacher.clone(),
                distill: None,
                teacher_checkpoint: None,
            };
            let job = Job::new(JobKind::Teacher, format!("s{seed}"), config, vec![]);
            teacher_of.push(vec![job.id.clone()]);
            jobs.push(job);
        }
        let student = |hidden: &[usize], seed_index: usize, distill: Option<DistillLoss>| {
            let seed = grid.seeds[seed_index];
            let config = JobConfig {
                train: grid.train_with_seed(seed),
                model: grid.student(hidden),
                distill,
                teacher_checkpoint: grid.teacher_checkpoint.clone(),
            };
            let shape = shape_label(hidden);
            let (kind, cell) = match distill {
                Some(d) => (
                    JobKind::Distilled,
                    format!("{shape}-T{}-a{}-{}", d.temperature, d.alpha, d.soft_scale),
                ),
                None => (JobKind::Scratch, shape),
            };
            let depends_on = match kind {
                JobKind::Scratch => vec![], // a scratch student needs no teacher
                _ => teacher_of[seed_index].clone(),
            };
            Job::new(kind, format!("{cell}-s{seed}"), config, depends_on)
        };
        for hidden in &grid.student_hidden {
            for seed_index in 0..grid.seeds.len() {
                jobs.push(student(hidden, seed_index, None));
            }
        }
        for hidden in &grid.student_hidden {
            for &temperature in &grid.temperature {
                for &alpha in &grid.alpha {
                    for &soft_scale in &grid.soft_scale {
                        let loss = DistillLoss {
                            alpha,
                            temperature,
                            soft_scale,
                        };
                        for seed_index in 0..grid.seeds.len() {
                            jobs.push(student(hidden, seed_index, Some(loss)));
                        }
                    }
                }
            }
        }
        Ok(Plan { grid, jobs })
    }

    /// Writes `dir/plan.json` (pretty JSON, atomically).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(PLAN_FILE), self)
    }

    /// Reads and checks `dir/plan.json`: it must parse, its grid must be valid, and its jobs
    /// must be exactly the ones its grid gives (a hand-edited job, id or order is refused).
    ///
    /// # Errors
    /// [`Error::Sweep`] naming `plan.json` (or the folder, when it is not a sweep).
    pub fn load(dir: &Path) -> Result<Plan> {
        let path = dir.join(PLAN_FILE);
        if !path.is_file() {
            return Err(Error::Sweep {
                path: dir.to_path_buf(),
                reason: format!("not a sweep folder: no {PLAN_FILE} (make one with `distill sweep plan --out DIR`)"),
            });
        }
        let bad = |reason: String| Error::Sweep {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let expected = Plan::from_grid(plan.grid.clone())
            .map_err(|e| bad(format!("its grid is not valid: {e}")))?;
        if let Some((job, want)) = plan
            .jobs
            .iter()
            .zip(&expected.jobs)
            .find(|(job, want)| job != want)
        {
            return Err(bad(format!(
                "job {} is not what its grid gives (expected {}): was plan.json edited by hand? Plan again with `distill sweep plan`",
                job.id, want.id
            )));
        }
        if plan.jobs.len() != expected.jobs.len() {
            return Err(bad(format!(
                "{} jobs, but its grid gives {}: was plan.json edited by hand?",
                plan.jobs.len(),
                expected.jobs.len()
            )));
        }
        Ok(plan)
    }

    /// The job with this id.
    ///
    /// # Errors
    /// [`Error::Sweep`] for an id the plan does not have.
    pub fn job(&self, dir: &Path, id: &str) -> Result<&Job> {
        self.jobs
            .iter()
            .find(|j| j.id == id)
            .ok_or_else(|| Error::Sweep {
                path: dir.join(PLAN_FILE),
                reason: format!("no job with id {id:?} (the ids are in plan.json and jobs.txt)"),
            })
    }

    /// The `index`-th job (from 0, as `$SLURM_ARRAY_TASK_ID` counts).
    ///
    /// # Errors
    /// [`Error::Sweep`] for an index past the last job.
    pub fn job_at(&self, dir: &Path, index: usize) -> Result<&Job> {
        self.jobs.get(index).ok_or_else(|| Error::Sweep {
            path: dir.join(PLAN_FILE),
            reason: format!(
                "--index {index} is out of range: the plan has {} jobs (0..={})",
                self.jobs.len(),
                self.jobs.len().saturating_sub(1)
            ),
        })
    }
}

impl Job {
    fn new(kind: JobKind, cell: String, config: JobConfig, depends_on: Vec<String>) -> Job {
        let content = serde_json::json!({
            "kind": kind,
            "config": config,
            "depends_on": depends_on,
        });
        let digest = Sha256::digest(content.to_string().as_bytes());
        let mut hex = String::new();
        for byte in &digest[..6] {
            write!(hex, "{byte:02x}").expect("writing to a String cannot fail");
        }
        Job {
            id: format!("{}-{cell}-{hex}", kind.name()),
            kind,
            config,
            depends_on,
        }
    }
}

/// A shape as it appears in ids and tables: `30-30`, `300`, `800-800`.
pub fn shape_label(hidden: &[usize]) -> String {
    let widths: Vec<String> = hidden.iter().map(usize::to_string).collect();
    widths.join("-")
}

/// Refuses an empty list or one holding a value twice.
fn distinct<T: std::fmt::Debug, K: Ord>(
    field: &'static str,
    values: &[T],
    key: impl Fn(&T) -> K,
) -> Result<()> {
    if values.is_empty() {
        return Err(Error::InvalidConfig {
            field,
            reason: "the grid needs at least one value".into(),
        });
    }
    let mut seen = BTreeSet::new();
    if let Some(twice) = values.iter().find(|v| !seen.insert(key(v))) {
        return Err(Error::InvalidConfig {
            field,
            reason: format!("{twice:?} is listed twice"),
        });
    }
    Ok(())
}

/// An error of a model's validation, renamed to the sweep's flag for it.
fn rename(error: Error, flag: &'static str) -> Error {
    match error {
        Error::InvalidConfig { field, reason } => Error::InvalidConfig {
            field: flag,
            reason: format!("{field}: {reason}"),
        },
        other => other,
    }
}
