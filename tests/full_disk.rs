//! Writes that fail (a full disk, simulated by a file size limit; a folder that cannot be
//! created): a clear one-line error naming the file, exit code 1, no temporary file left behind,
//! and what was in the folder before left intact.
//!
//! The size limit is `ulimit -f` in a bash that ignores SIGXFSZ, so an oversized write fails
//! with EFBIG (as a full disk fails with ENOSPC) instead of killing the process.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// `distill args..` under a file size limit of `kib` KiB.
fn distill_limited(kib: u64, args: &[&str]) -> Output {
    let command = format!(
        "trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\"" // bash: ulimit -f counts 1024 bytes
    );
    Command::new("bash")
        .arg("-c")
        .arg(command)
        .arg(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_write_beyond_the_size_limit_fails_cleanly_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), b"the user's file").unwrap();
    let o = out.to_str().unwrap();
    // The teacher's state after epoch 1 (weights, Adam's moments, best weights: ~800 KB) is
    // the first file over 200 KiB.
    let teacher = [
        "teacher",
        "--out",
        o,
        "--train-limit",
        "500",
        "--epochs",
        "2",
        "--hidden",
        "64",
        "--quiet",
    ];
    let failed = distill_limited(200, &teacher);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}: ", out.join("teacher.state").display())),
        "{stderr}"
    );
    assert_eq!(names(&out), ["notes.txt"], "no temp file, no lock left");
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"the user's file");

    // Under a limit the whole training fits in, the same command succeeds.
    let fits = distill_limited(4096, &teacher);
    assert!(
        fits.status.success(),
        "{}",
        String::from_utf8_lossy(&fits.stderr)
    );
    assert_eq!(
        names(&out),
        [
            "notes.txt",
            "teacher.json",
            "teacher.safetensors",
            "teacher.state"
        ]
    );
}

#[test]
fn an_output_folder_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let out = file.join("out"); // a folder inside a regular file: not even root can make it
    let failed = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args([
            "teacher",
            "--train-limit",
            "500",
            "--epochs",
            "1",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}: ", out.display())),
        "{stderr}"
    );
    assert_eq!(fs::read(&file).unwrap(), b"x");
}
