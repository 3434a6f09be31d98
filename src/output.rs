//! Output folders: a new one per run under `runs/`, and never a user's file overwritten.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Where runs go when `--out` is not given.
pub const RUNS_DIR: &str = "runs";

/// A folder for a whole run: `requested`, which must be missing or empty, or a new
/// `runs/run-<unix seconds>[-k]`. Created before returning.
///
/// # Errors
/// [`Error::OutputExists`] for a non-empty folder; I/O errors.
pub fn fresh_dir(requested: Option<&Path>) -> Result<PathBuf> {
    let dir = match requested {
        Some(dir) => {
            let non_empty = fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if non_empty || dir.is_file() {
                return Err(Error::OutputExists {
                    path: dir.to_path_buf(),
                });
            }
            dir.to_path_buf()
        }
        None => unused_run_dir(),
    };
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
}

/// A folder for a single training's files: `requested` (created if missing, other files in it
/// left alone) or a new run folder. Refuses when any of `files` already exists in it.
///
/// # Errors
/// [`Error::OutputExists`] naming the first file that exists; I/O errors.
pub fn dir_for(requested: Option<&Path>, files: &[&str]) -> Result<PathBuf> {
    let dir = requested.map_or_else(unused_run_dir, Path::to_path_buf);
    if let Some(path) = files.iter().map(|f| dir.join(f)).find(|p| p.exists()) {
        return Err(Error::OutputExists { path });
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    Ok(dir)
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
        assert_eq!(fresh_dir(Some(&empty)).unwrap(), empty);
        assert!(empty.is_dir());
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
}
