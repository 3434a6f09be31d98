//! The training commands' flags: bad values are refused with a clear message before any work,
//! and nothing is written; a transfer set filters the training part only.

use std::path::Path;
use std::process::{Command, Output};

use distill::config::TrainConfig;
use distill::data::{default_data_dir, DataSource, Split};
use distill::experiment::{load_model, Prepared};
use distill::metrics::{error_count, predictions};
use distill::train::logits;

fn distill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must fail; returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = distill(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_values_are_refused_before_any_work_naming_the_flag_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let o = out.to_str().unwrap();
    // (arguments, the flag the message must name, with its dashes)
    let cases: &[(&[&str], &str)] = &[
        (&["teacher", "--hidden", "100000,100000"], "--hidden"),
        (&["teacher", "--hidden", "0"], "--hidden"),
        (&["teacher", "--dropout", "1"], "--dropout"),
        (&["teacher", "--dropout", "NaN"], "--dropout"),
        (&["student", "--scratch", "--epochs", "0"], "--epochs"),
        (&["student", "--scratch", "--hidden", "300,0"], "--hidden"),
        (&["run", "--temperature", "0"], "--temperature"),
        (&["run", "--temperature", "-1"], "--temperature"),
        (&["run", "--temperature", "NaN"], "--temperature"),
        (&["run", "--alpha", "1.5"], "--alpha"),
        (&["run", "--alpha", "-0.5"], "--alpha"),
        (&["run", "--alpha", "NaN"], "--alpha"),
        (&["run", "--learning-rate", "NaN"], "--learning-rate"),
        (&["run", "--learning-rate", "-0.001"], "--learning-rate"),
        (&["run", "--batch-size", "0"], "--batch-size"),
        (&["run", "--validation-split", "1"], "--validation-split"),
        (&["run", "--validation-split", "-0.1"], "--validation-split"),
        (&["run", "--validation-split", "NaN"], "--validation-split"),
        (&["run", "--train-limit", "0"], "--train-limit"),
        (
            &["run", "--train-limit", "1", "--validation-split", "0.5"],
            "--validation-split",
        ),
        (&["run", "--student-hidden", "300,0"], "--student-hidden"),
        (&["run", "--student-dropout", "-0.1"], "--student-dropout"),
        (&["run", "--teacher-hidden", "0"], "--teacher-hidden"),
        (
            &["run", "--teacher-hidden", "100000,100000"],
            "--teacher-hidden",
        ),
        (&["run", "--teacher-dropout", "NaN"], "--teacher-dropout"),
        (&["run", "--threads", "0"], "--threads"),
        (&["--student-hidden", "0"], "--student-hidden"), // `distill` alone is `distill run`
    ];
    for &(args, flag) in cases {
        let mut args = args.to_vec();
        args.extend(["--out", o]);
        let err = refused(&args);
        assert!(
            err.starts_with(&format!("error: invalid {flag}: ")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} created the output folder");
    }
    // clap's own parse errors for values of the wrong type
    assert!(refused(&["run", "--hidden-typo"]).contains("unexpected argument"));
    assert!(refused(&["run", "--soft-scale", "t-cubed"]).contains("t-squared"));
}

/// `--threads` is global: it goes before or after any subcommand. The notebook's own flags
/// before a subcommand are refused, naming the flag, rather than silently dropped.
#[test]
fn threads_go_either_side_of_a_subcommand_and_notebook_flags_only_after_none() {
    let data = default_data_dir();
    let data = data.to_str().unwrap();
    for args in [
        ["--threads", "1", "data", "--data", data],
        ["data", "--threads", "1", "--data", data],
    ] {
        let out = distill(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!out.stdout.is_empty(), "{args:?} printed no summary");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    // were the flag dropped, this would train briefly (the tail's flags) and then fail below
    let o = out.to_str().unwrap();
    let err = refused(&[
        "--epochs",
        "3",
        "teacher",
        "--train-limit",
        "100",
        "--epochs",
        "1",
        "--out",
        o,
    ]);
    assert!(
        err.contains("'--epochs' is a flag of `distill` alone")
            && err.contains("subcommand 'teacher'"),
        "{err}"
    );
    assert!(
        !out.exists(),
        "the refused command created its output folder"
    );
}

#[test]
fn bad_regulariser_transfer_and_shift_flags_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 15] = [
        (&["teacher", "--jitter", "28"], "jitter"),
        (&["run", "--jitter", "100"], "jitter"),
        (&["teacher", "--max-norm", "0"], "max-norm"),
        (&["teacher", "--max-norm", "-2"], "max-norm"),
        (&["teacher", "--max-norm", "NaN"], "max-norm"),
        (&["run", "--input-dropout", "1"], "input-dropout"),
        (
            &["student", "--scratch", "--transfer-omit", "12"],
            "transfer-omit",
        ),
        (
            &["student", "--scratch", "--transfer-only", "7,8,7"],
            "transfer-only",
        ),
        (
            &["student", "--scratch", "--transfer-omit", "3,3"],
            "transfer-omit",
        ),
        (
            &[
                "student",
                "--scratch",
                "--transfer-omit",
                "7",
                "--transfer-only",
                "7,8",
            ],
            "both omitted and kept",
        ),
        (
            &[
                "student",
                "--scratch",
                "--transfer-omit",
                "0,1,2,3,4,5,6,7,8,9",
            ],
            "transfer set is empty",
        ),
        (
            // the first 9 training images hold no 7 and no 8
            &[
                "student",
                "--scratch",
                "--train-limit",
                "10",
                "--transfer-only",
                "7,8",
            ],
            "transfer set is empty",
        ),
        (
            &["student", "--scratch", "--bias-shift", "3:1"],
            "bias-shift",
        ),
        (
            &["student", "--scratch", "--bias-shift", "12=1"],
            "bias-shift",
        ),
        (
            &["paper", "--teacher", "/nonexistent/teacher.safetensors"],
            "teacher.safetensors",
        ),
    ];
    for (args, needle) in cases {
        let mut args = args.to_vec();
        args.extend(["--out", o]);
        let err = refused(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} created the output folder");
    }
}

#[test]
fn paper_refuses_a_non_empty_output_folder_before_training() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let err = refused(&["paper", "--quick", "--out", dir.path().to_str().unwrap()]);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
}

#[test]
fn a_bias_shifted_student_is_saved_beside_the_unshifted_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s");
    let o = out.to_str().unwrap();
    let args = [
        "student",
        "--scratch",
        "--train-limit",
        "600",
        "--epochs",
        "1",
        "--quiet",
        "--transfer-omit",
        "3",
        "--bias-shift",
        "3=2.5",
        "--out",
        o,
    ];
    let run = distill(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let plain = distill::checkpoint::load(&out.join("scratch.safetensors")).unwrap();
    let shifted = distill::checkpoint::load(&out.join("scratch_shifted.safetensors")).unwrap();
    let last = plain.layers.len() - 1;
    for l in 0..=last {
        assert_eq!(
            plain.layers[l].0, shifted.layers[l].0,
            "weights of layer {l}"
        );
    }
    let (b, b_shifted) = (&plain.layers[last].1, &shifted.layers[last].1);
    for c in 0..10 {
        let expected = if c == 3 { b[c] + 2.5 } else { b[c] };
        assert_eq!(b_shifted[c], expected, "class {c}");
    }
    for json in ["scratch.json", "scratch_shifted.json"] {
        assert!(out.join(json).is_file(), "{json}");
    }
}

#[test]
fn a_teacher_whose_input_size_differs_from_the_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("small.safetensors");
    let w = ndarray::Array2::<f32>::zeros((10, 4));
    let b = ndarray::Array1::<f32>::zeros(4);
    distill::checkpoint::save(&ckpt, &[(w.view(), b.view())], &Default::default()).unwrap();
    let out = dir.path().join("out");
    let err = refused(&[
        "student",
        "--teacher",
        ckpt.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("small.safetensors") && err.contains("784"),
        "{err}"
    );
    assert!(!out.exists());
    let err = refused(&["eval", ckpt.to_str().unwrap()]);
    assert!(err.contains("784"), "{err}");

    // Right input, wrong number of outputs: refused, not a panic in the loss.
    let five = dir.path().join("five.safetensors");
    let w = ndarray::Array2::<f32>::zeros((784, 5));
    let b = ndarray::Array1::<f32>::zeros(5);
    distill::checkpoint::save(&five, &[(w.view(), b.view())], &Default::default()).unwrap();
    for args in [
        vec!["eval", five.to_str().unwrap()],
        vec![
            "student",
            "--teacher",
            five.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    ] {
        let err = refused(&args);
        assert!(
            err.contains("gives 5 logits") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    assert!(!out.exists());
}

#[test]
fn a_damaged_checkpoint_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("bad.safetensors");
    std::fs::write(&ckpt, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let err = refused(&["eval", ckpt.to_str().unwrap()]);
    assert!(
        err.starts_with("error: ") && err.contains("bad.safetensors"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn a_non_empty_output_folder_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    let err = refused(&[
        "run",
        "--out",
        dir.path().to_str().unwrap(),
        "--epochs",
        "1",
    ]);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("notes.txt")).unwrap(),
        b"mine"
    );
}

#[test]
fn teacher_then_student_commands_share_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let common = [
        "--epochs",
        "1",
        "--train-limit",
        "3000",
        "--quiet",
        "--out",
        out,
    ];
    let ok = |args: &[&str]| {
        let o = distill(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ok(&[&["teacher", "--hidden", "64"][..], &common].concat());
    let teacher = Path::new(out).join("teacher.safetensors");
    ok(&[
        &["student", "--teacher", teacher.to_str().unwrap()][..],
        &common,
    ]
    .concat());
    ok(&[&["student", "--scratch"][..], &common].concat());
    for f in ["teacher", "distilled", "scratch"] {
        assert!(dir.path().join(format!("{f}.safetensors")).is_file(), "{f}");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("{f}.json"))).unwrap())
                .unwrap();
        assert!(json["test_accuracy"].as_f64().unwrap() > 0.5, "{f}");
        let cached = json.get("teacher_logits_seconds").is_some();
        assert_eq!(
            cached,
            f == "distilled",
            "{f}: teacher_logits_seconds only when distilled"
        );
    }
    // Training the teacher again into the same folder is refused: its checkpoint stays.
    let before = std::fs::read(&teacher).unwrap();
    let err = refused(&[&["teacher", "--hidden", "64"][..], &common].concat());
    assert!(err.contains("teacher.safetensors"), "{err}");
    assert_eq!(std::fs::read(&teacher).unwrap(), before);
}

#[test]
fn checkpoints_are_byte_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let train = |threads: &str| {
        let out = dir.path().join(format!("threads-{threads}"));
        let args = [
            "student",
            "--scratch",
            "--epochs",
            "2",
            "--train-limit",
            "2000",
            "--quiet",
            "--threads",
            threads,
            "--out",
            out.to_str().unwrap(),
        ];
        let o = distill(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(out.join("scratch.safetensors")).unwrap()
    };
    assert!(
        train("1") == train("2"),
        "checkpoints differ between 1 and 2 threads"
    );
}

#[test]
fn distill_alone_runs_the_notebook_with_top_level_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = [
        "--epochs",
        "1",
        "--train-limit",
        "1500",
        "--teacher-hidden",
        "64",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = distill(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in ["teacher", "distilled", "scratch", "report.md"] {
        assert!(stdout.contains(needle), "summary lacks {needle}:\n{stdout}");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["config"]["teacher"]["hidden"],
        serde_json::json!([64])
    );
    assert_eq!(report["models"]["scratch"]["epochs_run"], 1);
}

#[test]
fn a_transfer_set_filters_the_training_part_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("only78");
    let run = distill(&[
        "student",
        "--scratch",
        "--transfer-only",
        "7,8",
        "--train-limit",
        "2000",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("scratch.json")).unwrap()).unwrap();
    let model = load_model(&out.join("scratch.safetensors"), 784).unwrap();
    // The validation and test parts `--train-limit 2000` gives without a transfer set.
    let config = TrainConfig {
        train_limit: Some(2000),
        ..TrainConfig::default()
    };
    let data = Prepared::load_from(&DataSource::Embedded, &config).unwrap();
    let correct = |split: &Split| {
        let predicted = predictions(logits(&model, split).view());
        split.len() - error_count(&predicted, split.labels())
    };
    let val = &data.validation;
    assert!(val.labels().iter().any(|&l| l != 7 && l != 8));
    assert_eq!(
        report["history"]["val_accuracy"][0].as_f64().unwrap(),
        correct(val) as f64 / val.len() as f64,
        "the validation accuracy is over all {} validation images",
        val.len()
    );
    assert_eq!(
        report["test_errors"].as_u64().unwrap() as usize,
        data.test.len() - correct(&data.test),
        "the test errors are over all {} test images",
        data.test.len()
    );
}
