//! Output folders: a new one per run under `runs/`, never a user's file overwritten, and one
//! writer per folder (every folder handed out here is locked, see [`crate::lock`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::atomic::is_temp_file;
use crate::error::{Error, Result};
use crate::lock::{FolderLock, LOCK_FILE};

/// An output folder this process holds the lock of; the lock is released on drop.
#[derive(Debug)]
pub struct OutputDir {
    path: PathBuf,
    _lock: FolderLock,
}

impl OutputDir {
    /// Creates `path` if needed and locks it.
    ///
    /// # Errors
    /// [`Error::Locked`] when another process writes it; I/O errors naming the folder.
    fn lock(path: PathBuf) -> Result<Self> {
        fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        let lock = FolderLock::acquire(&path)?;
        Ok(OutputDir { path, _lock: lock })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the folder.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

/// Where runs go when `--out` is not given.
pub const RUNS_DIR: &str = "runs";

/// A folder for a whole run: `requested`, which must be missing or empty (but for a stale
/// lock file), or a new `runs/run-<unix seconds>[-k]`. Created and locked before returning.
///
/// # Errors
/// [`Error::OutputExists`] for a non-empty folder or a file; [`Error::Locked`]; I/O errors.
pub fn fresh_dir(requested: Option<&Path>) -> Result<OutputDir> {
    let dir = requested.map_or_else(unused_run_dir, Path::to_path_buf);
    if dir.is_file() {
        return Err(Error::OutputExists { path: dir });
    }
    let out = OutputDir::lock(dir)?;
    let non_empty = fs::read_dir(out.path())
        .map_err(|e| Error::io(out.path(), e))?
        .any(|entry| entry.map_or(true, |e| e.file_name() != LOCK_FILE));
    if non_empty {
        return Err(Error::OutputExists {
            path: out.path().to_path_buf(),
        });
    }
    Ok(out)
}

/// The folder of an interrupted run or training, to continue it: it must exist. Locked before
/// returning; the temporary files of writes the interrupted process did not finish are removed
/// (no one else writes there while we hold the lock).
///
/// # Errors
/// [`Error::Missing`] when `dir` is not a folder; [`Error::Locked`]; I/O errors.
pub fn resume_dir(dir: &Path) -> Result<OutputDir> {
    if !dir.is_dir() {
        return Err(Error::Missing {
            path: dir.to_path_buf(),
            hint: Some("--resume takes the output folder of an interrupted run".into()),
        });
    }
    let out = OutputDir::lock(dir.to_path_buf())?;
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if is_temp_file(&name) {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(out)
}

/// A folder for a single training's files: `requested` (created if missing, other files in it
/// left alone) or a new run folder, locked. Refuses when any of `files` already exists in it.
///
/// # Errors
/// [`Error::OutputExists`] naming the first file that exists; [`Error::Locked`]; I/O errors.
pub fn dir_for(requested: Option<&Path>, files: &[&str]) -> Result<OutputDir> {
    let out = OutputDir::lock(requested.map_or_else(unused_run_dir, Path::to_path_buf))?;
    if let Some(path) = files.iter().map(|f| out.join(f)).find(|p| p.exists()) {
        return Err(Error::OutputExists { path });
    }
    Ok(out)
}

fn unused_run_dir() -> PathBuf {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{RUNS_DIR}/run-{stamp}");
    (1..)
        .map(|k| {
            PathBuf::from(if k == 1 {
                base.clone()
            } else {
                format!("{base}-{k}")
            })
        })
        .find(|p| !p.exists())
        .expect("some suffix is unused")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_empty_folder_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("mine.txt"), b"keep").unwrap();
        assert!(matches!(
            fresh_dir(Some(dir.path())),
            Err(Error::OutputExists { .. })
        ));
        assert_eq!(fs::read(dir.path().join("mine.txt")).unwrap(), b"keep");
        let empty = dir.path().join("new");
        assert_eq!(fresh_dir(Some(&empty)).unwrap().path(), empty);
        assert!(empty.is_dir());
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 0, "lock released");
    }

    #[test]
    fn an_existing_target_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("teacher.safetensors"), b"x").unwrap();
        assert!(dir_for(Some(dir.path()), &["distilled.safetensors"]).is_ok());
        match dir_for(Some(dir.path()), &["teacher.json", "teacher.safetensors"]) {
            Err(Error::OutputExists { path }) => assert!(path.ends_with("teacher.safetensors")),
            other => panic!("expected OutputExists, got {other:?}"),
        }
    }

    #[test]
    fn a_folder_being_written_is_refused_naming_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let held = fresh_dir(Some(&out)).unwrap();
        for refused in [
            fresh_dir(Some(&out)).map(drop),
            dir_for(Some(&out), &["teacher.json"]).map(drop),
            resume_dir(&out).map(drop),
        ] {
            match refused {
                Err(Error::Locked { dir, pid }) => {
                    assert_eq!(dir, out);
                    assert_eq!(pid, Some(std::process::id()));
                }
                other => panic!("expected Locked, got {other:?}"),
            }
        }
        drop(held);
        fs::write(out.join(".report.json.12345.tmp"), b"half").unwrap();
        fs::write(out.join("report.json"), b"kept").unwrap();
        resume_dir(&out).unwrap();
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            ["report.json"],
            "the dead writer's temp file is removed"
        );
        assert!(matches!(
            resume_dir(&dir.path().join("absent")),
            Err(Error::Missing { .. })
        ));
    }
}
