//! `distill data` as a user runs it: the built binary, its exit code, stdout and stderr.

mod idx_builder;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use idx_builder::{gzip, pixels, small_set, u8_idx};

fn distill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .expect("the distill binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `distill args..` run in `dir`.
fn distill_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the distill binary runs")
}

#[test]
fn shipped_mnist_is_described_and_verified() {
    // from an empty folder: the default is the MNIST compiled into the binary
    let empty = tempfile::tempdir().unwrap();
    let out = distill_in(empty.path(), &["data"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.starts_with("data: the MNIST embedded in the binary\n"),
        "{stdout}"
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let from_folder = distill(&["data", "--data", shipped.to_str().unwrap()]);
    let folder_stdout = text(&from_folder.stdout);
    assert!(folder_stdout.starts_with(&format!("data: the folder {}\n", shipped.display())));
    // the same data either way: every line after the file list and the timing agrees
    let facts = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("data:") && !l.starts_with("  ") && !l.starts_with("loaded"))
            .map(String::from)
            .collect()
    };
    assert_eq!(facts(&stdout), facts(&folder_stdout));
    assert!(stdout.contains("train: 60000 examples"), "{stdout}");
    assert!(stdout.contains("test:  10000 examples"), "{stdout}");
    assert!(stdout.contains("image shape: 28x28"), "{stdout}");
    assert!(
        stdout.contains("  train  5923  6742  5958  6131  5842  5421  5918  6265  5851  5949"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  test    980  1135  1032  1010   982   892   958  1028   974  1009"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mean pixel (of 255): train 33.32"),
        "{stdout}"
    );
    assert!(
        stdout.contains("4 of 4 decoded files match PAYLOAD_SHA256SUMS"),
        "{stdout}"
    );
}

#[test]
fn the_notebook_runs_from_an_empty_folder_on_the_embedded_data() {
    let empty = tempfile::tempdir().unwrap();
    let out = distill_in(
        empty.path(),
        &[
            "run",
            "--train-limit",
            "500",
            "--epochs",
            "1",
            "--teacher-hidden",
            "16",
            "--student-hidden",
            "8",
            "--quiet",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: Vec<_> = fs::read_dir(empty.path().join("runs")).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].as_ref().unwrap().path();
    assert!(run.join("scratch.safetensors").is_file());
    let report = fs::read_to_string(run.join("report.json")).unwrap();
    assert!(report.contains("\"<embedded MNIST>\""), "{report}");
}

#[test]
fn a_folder_without_checksums_is_fine() {
    let dir = small_set(true);
    let out = distill(&["data", "--data", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("image shape: 3x2"), "{stdout}");
    assert!(stdout.contains("no checksum file"), "{stdout}");
}

/// Runs `distill data --data dir`; expects failure with `error: <path>…` on stderr.
fn assert_fails_naming(dir: &Path, named: &Path) -> String {
    let out = distill(&["data", "--data", dir.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "exit 0 with stderr {stderr}");
    assert!(
        stderr.starts_with(&format!("error: {}", named.display())),
        "{stderr}"
    );
    stderr
}

#[test]
fn corrupt_data_fails_with_the_file_named() {
    let dir = small_set(true);
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    let bytes = u8_idx(&[4, 3, 2], &pixels(24));
    fs::write(&path, gzip(&bytes[..bytes.len() - 4])).unwrap();
    let stderr = assert_fails_naming(dir.path(), &path);
    assert!(
        stderr.contains("truncated: header promises 24 payload bytes, found 20"),
        "{stderr}"
    );
}

#[test]
fn a_missing_folder_fails_with_it_named() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("no-such-data");
    assert_fails_naming(&absent, &absent);
}

#[test]
fn a_checksum_mismatch_fails() {
    let dir = small_set(false);
    let sums = format!("{}  train-labels-idx1-ubyte\n", "ab".repeat(32));
    fs::write(dir.path().join("PAYLOAD_SHA256SUMS"), sums).unwrap();
    let stderr = assert_fails_naming(dir.path(), &dir.path().join("train-labels-idx1-ubyte"));
    assert!(stderr.contains("SHA-256 mismatch"), "{stderr}");
}

#[test]
fn help_everywhere() {
    for args in [&["--help"][..], &["data", "--help"], &["help", "data"]] {
        let out = distill(args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(stdout.contains("Usage: distill"), "{args:?}: {stdout}");
    }
    let stdout = text(&distill(&["data", "--help"]).stdout);
    assert!(stdout.contains("--data <DIR>"), "{stdout}");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    let out = distill(&["data", "--bogus"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--bogus"));
}
