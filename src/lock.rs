//! One writer per folder: an advisory lock that a process holds while it writes an output
//! folder (a run, a training, a sweep job).
//!
//! ```text
//! DIR/.distill.lock      holds the pid of the writer, as decimal text and a newline
//! acquire:  open (create) the file → flock(LOCK_EX | LOCK_NB)
//!             held by another process → Error::Locked { dir, pid }
//!             free but the file was there → its writer died without releasing: take it over,
//!                                           with a warning line naming the dead pid
//!           → the path still names the locked file (not unlinked by a releasing writer
//!             meanwhile; otherwise start again) → write our pid
//! release (drop): remove the file, then close it (which drops the flock)
//! ```
//! The kernel drops a `flock` when its holder exits, however it exits (`kill -9` included), so
//! a lock is never held by a dead process: a lock file without a holder is what a dead process
//! leaves, and taking it over is safe. The pid in the file is only for the messages.
//! Advisory: only processes that take the lock are kept out; every `distill` command that
//! writes a folder takes it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// The lock file's name inside a locked folder.
pub const LOCK_FILE: &str = ".distill.lock";

/// How often acquiring starts again when a releasing writer unlinks the file under it
/// (it can only happen once per competing writer; this bounds a pathological loop).
const ATTEMPTS: usize = 100;

/// An exclusive lock on a folder, released on drop.
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    path: PathBuf,
    taken_over: Option<u32>,
}

impl FolderLock {
    /// Locks `dir` (which must exist) for this process.
    ///
    /// A lock file left by a process that died (not held by anyone) is taken over, and a
    /// warning naming its pid is printed on stderr.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the folder and the holder's pid when another process holds
    /// it; [`Error::Io`] naming the lock file when it cannot be created or locked.
    pub fn acquire(dir: &Path) -> Result<FolderLock> {
        let path = dir.join(LOCK_FILE);
        for _ in 0..ATTEMPTS {
            let existed = path.exists();
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
                return Err(refusal(e, dir, &path, &mut file));
            }
            if !names_same_file(&path, &file) {
                continue; // a releasing writer removed it after we opened it: start again
            }
            // A pid in a file we could lock belongs to a writer that died holding it (an empty
            // file is a writer that has just created it and not yet written its pid).
            let taken_over = if existed { read_pid(&mut file) } else { None };
            write_pid(&mut file).map_err(|e| Error::io(&path, e))?;
            if let Some(pid) = taken_over {
                eprintln!(
                    "warning: {}: taking over the lock of process {pid}, which is no longer running",
                    dir.display()
                );
            }
            return Ok(FolderLock {
                file,
                path,
                taken_over,
            });
        }
        Err(Error::io(
            &path,
            std::io::Error::other("the lock file kept being replaced"),
        ))
    }

    /// The locked folder's lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pid of the dead process whose lock file was taken over, if there was one.
    pub fn taken_over(&self) -> Option<u32> {
        self.taken_over
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Remove first, while still holding the lock, so no one locks a file we then delete.
        let _ = fs::remove_file(&self.path);
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}

/// Why a non-blocking exclusive `flock` failed: another process holds the lock
/// (`EWOULDBLOCK`: [`Error::Locked`], with the pid its file holds), or anything else, an I/O
/// error naming the lock file (e.g. `ENOLCK` where the file system has no locks).
fn refusal(e: Errno, dir: &Path, path: &Path, file: &mut File) -> Error {
    if e == Errno::WOULDBLOCK {
        Error::Locked {
            dir: dir.to_path_buf(),
            pid: read_pid(file),
        }
    } else {
        Error::io(path, e.into())
    }
}

/// The pid written in a lock file, if it holds one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    file.sync_all()
}

/// Whether `path` still names the open `file` (same device and inode).
fn names_same_file(path: &Path, file: &File) -> bool {
    match (fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false, // removed (or unreadable): start again, and let the open report errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_in_one_process_is_refused_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock = FolderLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.taken_over(), None);
        let text = fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        // flock locks belong to the open file, so a second open in this process conflicts too
        match FolderLock::acquire(dir.path()) {
            Err(Error::Locked { dir: d, pid }) => {
                assert_eq!(d, dir.path());
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(lock);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            0,
            "lock file removed"
        );
        FolderLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_stale_lock_file_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), "999999999\n").unwrap();
        let lock = FolderLock::acquire(dir.path()).unwrap();
        assert_eq!(lock.taken_over(), Some(999_999_999));
        let text = fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
    }

    #[test]
    fn only_a_lock_held_elsewhere_is_reported_as_locked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        fs::write(&path, "4242\n").unwrap();
        let mut file = File::open(&path).unwrap();
        match refusal(Errno::WOULDBLOCK, dir.path(), &path, &mut file) {
            Error::Locked { dir: d, pid } => {
                assert_eq!((d.as_path(), pid), (dir.path(), Some(4242)))
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        match refusal(Errno::NOLCK, dir.path(), &path, &mut file) {
            Error::Io { path: p, .. } => assert_eq!(p, path),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn a_path_names_an_open_file_only_until_it_is_removed_or_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        fs::write(&path, "").unwrap();
        let file = File::open(&path).unwrap();
        assert!(names_same_file(&path, &file));
        fs::remove_file(&path).unwrap();
        assert!(!names_same_file(&path, &file), "removed");
        fs::write(&path, "").unwrap(); // same device, another inode
        assert!(!names_same_file(&path, &file), "replaced");
    }

    #[test]
    fn a_missing_folder_is_an_io_error_naming_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        match FolderLock::acquire(&dir.path().join("absent")) {
            Err(Error::Io { path, .. }) => assert!(path.ends_with(LOCK_FILE)),
            other => panic!("expected Io, got {other:?}"),
        }
    }
}
