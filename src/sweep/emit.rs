//! Scale-out without a scheduler of our own: command lists for GNU parallel and array jobs for
//! Slurm, written beside `plan.json`.
//!
//! ```text
//! DIR/jobs.txt                 every job, teachers first: `<distill> sweep job <DIR> <ID>`
//! DIR/jobs.teachers.txt        the first dependency level (teachers)
//! DIR/jobs.students.txt        the second (students: run them after the teachers)
//! DIR/slurm/teachers.sbatch    array over --index 0..T−1 (the plan's teacher jobs)
//! DIR/slurm/students.sbatch    array over --index T..N−1
//! DIR/slurm/submit.sh          teachers, then students with --dependency=afterok:<teachers>
//! ```
//! Path rule: the command lists hold absolute paths (the executable that planned and DIR), so
//! they run from any folder. The Slurm scripts hold paths relative to DIR: `submit.sh` changes
//! into DIR (found from its own location) before submitting, so DIR is every job's working
//! directory; only the executable is absolute (override it with `DISTILL=/path/to/distill`).
//! On a cluster, DIR and the executable must be on a file system every node sees.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::sweep::plan::{JobKind, Plan};

/// The folder of the Slurm scripts inside a sweep folder.
pub const SLURM_DIR: &str = "slurm";

/// The `#SBATCH` settings of both arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmOptions {
    /// `--partition` (none: the cluster's default).
    pub partition: Option<String>,
    /// `--time` of each array task, e.g. `04:00:00`.
    pub time: String,
    /// `--cpus-per-task`; each task runs with as many `--threads`.
    pub cpus: usize,
}

/// Writes the command lists and the Slurm scripts for `plan` in `dir` (absolute).
///
/// # Errors
/// I/O errors naming the file.
pub fn emit(dir: &Path, exe: &Path, plan: &Plan, slurm: &SlurmOptions) -> Result<()> {
    let teachers = plan
        .jobs
        .iter()
        .take_while(|j| j.kind == JobKind::Teacher)
        .count();
    let line = |id: &str| {
        format!(
            "{} sweep job {} {}\n",
            quote(&exe.to_string_lossy()),
            quote(&dir.to_string_lossy()),
            quote(id)
        )
    };
    let lines: Vec<String> = plan.jobs.iter().map(|j| line(&j.id)).collect();
    write_atomic(&dir.join("jobs.txt"), lines.concat().as_bytes())?;
    write_atomic(
        &dir.join("jobs.teachers.txt"),
        lines[..teachers].concat().as_bytes(),
    )?;
    write_atomic(
        &dir.join("jobs.students.txt"),
        lines[teachers..].concat().as_bytes(),
    )?;

    let slurm_dir = dir.join(SLURM_DIR);
    let logs = slurm_dir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let exe = exe.to_string_lossy();
    let arrays = [
        ("teachers", 0..teachers),
        ("students", teachers..plan.jobs.len()),
    ];
    for (name, range) in &arrays {
        let script = sbatch(name, range.start, range.end, &exe, slurm);
        write_executable(&slurm_dir.join(format!("{name}.sbatch")), &script)?;
    }
    write_executable(&slurm_dir.join("submit.sh"), &submit(teachers > 0))
}

/// An array job over `--index first..end−1`.
fn sbatch(name: &str, first: usize, end: usize, exe: &str, slurm: &SlurmOptions) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(s, "#SBATCH --job-name=distill-{name}");
    let _ = writeln!(s, "#SBATCH --array={first}-{}", end.max(first + 1) - 1);
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", slurm.cpus);
    let _ = writeln!(s, "#SBATCH --time={}", slurm.time);
    let _ = writeln!(s, "#SBATCH --output=slurm/logs/{name}-%A_%a.out");
    if let Some(partition) = &slurm.partition {
        let _ = writeln!(s, "#SBATCH --partition={partition}");
    }
    let _ = write!(
        s,
        "# The working directory is the sweep folder: submit it with slurm/submit.sh.\n\
         # Task i runs the plan's job number i (plan.json's \"jobs\", counted from 0).\n\
         set -euo pipefail\n\
         exec \"${{DISTILL:-{}}}\" sweep job . --index \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"\n",
        quote(exe)
    );
    s
}

/// Submits the teachers' array, then the students' array after it.
fn submit(has_teachers: bool) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # Submits this sweep's array jobs: the teachers, then the students once every teacher\n\
         # task has succeeded (afterok). Run it from anywhere: it changes into the sweep folder.\n\
         set -eu\n\
         cd \"$(dirname \"$0\")/..\"\n\
         mkdir -p slurm/logs\n",
    );
    if has_teachers {
        s.push_str(
            "teachers=$(sbatch --parsable slurm/teachers.sbatch)\n\
             teachers=${teachers%%;*}\n\
             echo \"teachers: job $teachers\"\n\
             students=$(sbatch --parsable --dependency=afterok:\"$teachers\" slurm/students.sbatch)\n",
        );
    } else {
        s.push_str("students=$(sbatch --parsable slurm/students.sbatch)\n");
    }
    s.push_str("echo \"students: job ${students%%;*}\"\n");
    s
}

/// Writes a script, mode 755.
fn write_executable(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// `text` as one shell word: bare when it is only safe characters, else in single quotes.
fn quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_safe_words_and_wraps_the_rest() {
        assert_eq!(quote("/a/b-c_1.2"), "/a/b-c_1.2");
        assert_eq!(quote("/a b"), "'/a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
