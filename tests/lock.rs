//! One writer per folder, with real processes: a second `distill` on a folder another one is
//! writing is refused with the writer's pid; the lock file a killed writer leaves is taken over.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use distill::lock::{FolderLock, LOCK_FILE};
use distill::Error;

fn distill(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
    command.args(args);
    command
}

fn output(args: &[&str]) -> Output {
    distill(args).output().unwrap()
}

/// A child process killed when the test ends, passing or failing.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `dir`'s lock file names `pid` (the writer has locked the folder).
fn wait_for_lock(dir: &Path, pid: u32, child: &mut Child) {
    let start = Instant::now();
    let lock = dir.join(LOCK_FILE);
    while fs::read_to_string(&lock).ok().as_deref().map(str::trim) != Some(&pid.to_string()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer exited before locking"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no lock after 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_writer_is_refused_and_a_killed_writers_lock_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    // A writer that runs until it is killed: a teacher of 1000 epochs that never stops early.
    let mut writer = Killed(
        distill(&[
            "teacher",
            "--out",
            o,
            "--train-limit",
            "5000",
            "--hidden",
            "256",
            "--epochs",
            "1000",
            "--patience",
            "1000",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let pid = writer.0.id();
    wait_for_lock(&out, pid, &mut writer.0);

    for args in [
        vec!["teacher", "--out", o],
        vec!["student", "--scratch", "--out", o],
        vec!["run", "--out", o],
    ] {
        let refused = output(&args);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?} ran beside a writer");
        assert!(
            err.contains(&format!("locked by process {}", pid)) && err.contains(o),
            "{args:?}: {err}"
        );
    }
    // The library API sees the same lock held by another process.
    match FolderLock::acquire(&out) {
        Err(Error::Locked { pid: holder, .. }) => assert_eq!(holder, Some(pid)),
        other => panic!("expected Locked, got {other:?}"),
    }

    drop(writer); // SIGKILL: the lock file stays, the kernel drops the flock
    assert!(out.join(LOCK_FILE).exists());
    // A student in the same folder (the killed teacher may have left its state, which only
    // --resume would continue).
    let taken = output(&[
        "student",
        "--scratch",
        "--out",
        o,
        "--train-limit",
        "500",
        "--hidden",
        "16",
        "--epochs",
        "1",
        "--quiet",
    ]);
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(taken.status.success(), "{err}");
    assert!(
        err.contains(&format!("taking over the lock of process {}", pid)),
        "{err}"
    );
    assert!(out.join("scratch.safetensors").exists());
    // a training state left in the folder is continued by --resume only, never picked up
    fs::copy(out.join("scratch.state"), out.join("teacher.state")).unwrap();
    let refused = output(&["teacher", "--out", o, "--quiet"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("teacher.state"),
        "{err}"
    );
    assert!(!out.join(LOCK_FILE).exists(), "released at exit");
}

#[test]
fn the_lock_file_of_a_dead_process_is_taken_over_by_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    fs::write(dir.path().join(LOCK_FILE), format!("{pid}\n")).unwrap();
    let lock = FolderLock::acquire(dir.path()).unwrap();
    assert_eq!(lock.taken_over(), Some(pid));
    drop(lock);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}
