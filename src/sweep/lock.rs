//! INTERIM: the job lock until `crate::lock` (the folder lock with stale-lock takeover) lands
//! in main; then this file goes and job.rs uses that one.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock folder, removed on drop.
#[derive(Debug)]
pub struct JobLock {
    path: PathBuf,
}

impl JobLock {
    /// Creates the lock folder `path`.
    ///
    /// # Errors
    /// [`Error::Sweep`] when it exists.
    pub fn acquire(path: &Path) -> Result<JobLock> {
        fs::create_dir(path).map_err(|e| Error::Sweep {
            path: path.to_path_buf(),
            reason: format!("job is locked: {e}"),
        })?;
        Ok(JobLock {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}
