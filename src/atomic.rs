//! Atomic file writes: a reader sees the old file or the new one, never half of either.
//!
//! The new content goes to a temporary file in the same folder (so the rename stays on one file
//! system), is flushed to disk with `fsync`, and is then renamed over the target; finally the
//! folder itself is synced so the rename survives a crash. An interrupted write leaves at worst
//! a stray `*.tmp` file, and the user's previous file untouched.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// [`Error::Io`] naming `path` when it could not be written (a full disk, a file size limit, a
/// folder without write permission: the temporary file is removed), synced or renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut file = File::create(tmp).map_err(|e| Error::io(path, e))?;
        file.write_all(bytes).map_err(|e| Error::io(path, e))
    })
}

/// Lets `write` create the file at a temporary path, then syncs it and renames it to `path`.
///
/// For writers that insist on opening the path themselves (an image encoder, say). On any
/// error the temporary file is removed and `path` is left as it was.
///
/// # Errors
/// Whatever `write` returns, or [`Error::Io`] for the sync and the rename.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp); // best effort: the original error is the one to report
        return result;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Syncing a directory is not supported everywhere; the rename itself already happened.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Whether `name` is a temporary file of [`write_atomic`] (`.name.<pid>.tmp`): one that is there
/// when no write is running was left by a writer that died mid-write.
pub fn is_temp_file(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|n| n.rsplit_once('.'))
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// `folder/.name.<pid>.tmp`, beside the target.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temp_files_are_recognised_by_name() {
        let tmp = temp_path(Path::new("dir/report.json"));
        assert!(is_temp_file(&tmp.file_name().unwrap().to_string_lossy()));
        for other in [
            "report.json",
            ".distill.lock",
            ".x.tmp",
            "a.12.tmp",
            ".a.1x.tmp",
        ] {
            assert!(!is_temp_file(other), "{other}");
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            fs::write(tmp, b"half").unwrap();
            Err(Error::InvalidConfig {
                field: "test",
                reason: "interrupted".into(),
            })
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temp file removed"
        );
    }
}
