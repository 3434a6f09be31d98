//! The notebook end to end on a slice of MNIST: every output file, a report.json that parses
//! with the documented keys, accuracies far above chance, and `distill eval` agreeing with the
//! report on a saved checkpoint.

use std::path::Path;
use std::process::Command;

use distill::config::{ModelConfig, TrainConfig};
use distill::data::{default_data_dir, DataSource};
use distill::loss::DistillLoss;
use distill::pipeline::{run, RunConfig};
use distill::train::{Progress, Stop};
use distill::Error;
use serde_json::Value;

const OUTPUTS: [&str; 10] = [
    "teacher.safetensors",
    "distilled.safetensors",
    "scratch.safetensors",
    "report.json",
    "report.md",
    "sample.png",
    "loss_curves.png",
    "roc_class8.png",
    "logits_teacher.png",
    "logits_distilled.png",
];

fn quick(out: &Path) -> RunConfig {
    RunConfig {
        data_dir: DataSource::Dir(default_data_dir()),
        out_dir: Some(out.to_path_buf()),
        resume: false,
        train: TrainConfig {
            epochs: 2,
            train_limit: Some(3000),
            ..TrainConfig::default()
        },
        teacher: ModelConfig::teacher(),
        student: ModelConfig::student(),
        distill: DistillLoss::default(),
        teacher_checkpoint: None,
    }
}

fn eval_json(checkpoint: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["eval", "--json"])
        .arg(checkpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn a_quick_run_writes_everything_and_eval_agrees_with_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = run(&quick(&out), Progress { quiet: true }, &Stop::default()).unwrap();
    assert_eq!(outcome.out_dir, out);
    for file in OUTPUTS {
        let len = std::fs::metadata(out.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{file} missing or empty");
    }
    let png = std::fs::read(out.join("roc_class8.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    for key in ["config", "data", "models", "versions"] {
        assert!(report.get(key).is_some(), "report.json lacks {key}");
    }
    // What produced it: the program's version, the platform and the threads it ran on.
    assert_eq!(report["versions"]["distill"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["versions"]["os"], std::env::consts::OS);
    assert_eq!(report["versions"]["arch"], std::env::consts::ARCH);
    assert_eq!(
        report["versions"]["threads"],
        rayon::current_num_threads().to_string()
    );
    assert_eq!(report["config"]["train"]["seed"], 42);
    assert_eq!(report["data"]["train"], 2700);
    assert_eq!(report["data"]["validation"], 300);
    for name in ["teacher", "distilled", "scratch"] {
        let m = &report["models"][name];
        for key in [
            "test_accuracy",
            "test_errors",
            "per_class_errors",
            "test_loss",
            "auc",
            "epochs_run",
            "best_epoch",
            "train_seconds",
            "parameters",
            "history",
        ] {
            assert!(m.get(key).is_some(), "models.{name} lacks {key}");
        }
        let accuracy = m["test_accuracy"].as_f64().unwrap();
        assert!(
            accuracy > 0.8,
            "{name}: test accuracy {accuracy} (chance is 0.1)"
        );
        assert_eq!(m["auc"].as_array().unwrap().len(), 10);
        let per_class: Vec<u64> = m["per_class_errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_u64().unwrap())
            .collect();
        assert_eq!(per_class.len(), 10);
        assert_eq!(
            per_class.iter().sum::<u64>(),
            m["test_errors"].as_u64().unwrap()
        );

        let checkpoint = out.join(format!("{name}.safetensors"));
        let saved = &distill::checkpoint::load(&checkpoint).unwrap().metadata["config"];
        let saved: Value = serde_json::from_str(saved).unwrap();
        assert_eq!(
            saved, report["config"],
            "{name}: the checkpoint records the run's config"
        );

        let eval = eval_json(&checkpoint);
        assert_eq!(eval["test_errors"], m["test_errors"], "{name}");
        assert_eq!(eval["auc"], m["auc"], "{name}");
        assert_eq!(eval["test_accuracy"], m["test_accuracy"], "{name}");
    }
    assert_eq!(
        report["models"]["teacher"]["parameters"],
        784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
    );
    let history = &report["models"]["distilled"]["history"];
    for key in [
        "student_loss",
        "distill_loss",
        "total_loss",
        "val_total_loss",
        "accuracy",
        "seconds",
    ] {
        assert_eq!(
            history[key].as_array().map(Vec::len),
            Some(2),
            "distilled history {key}"
        );
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "teacher",
        "distilled",
        "scratch",
        "roc_class8.png",
        "loss_curves.png",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle}");
    }

    // Reusing the trained teacher: the same teacher results, students trained anew.
    let again = dir.path().join("again");
    let reuse = RunConfig {
        teacher_checkpoint: Some(out.join("teacher.safetensors")),
        ..quick(&again)
    };
    let second = run(&reuse, Progress { quiet: true }, &Stop::default())
        .unwrap()
        .report;
    let (a, b) = (&outcome.report.models, &second.models);
    assert_eq!(b["teacher"].test_errors, a["teacher"].test_errors);
    assert_eq!(b["teacher"].auc, a["teacher"].auc);
    assert_eq!(
        b["teacher"].epochs_run, 0,
        "a reused teacher is not trained"
    );
    assert_eq!(
        b["distilled"].test_errors, a["distilled"].test_errors,
        "same teacher, same seed"
    );
    let layers = |dir: &Path| {
        distill::checkpoint::load(&dir.join("distilled.safetensors"))
            .unwrap()
            .layers
    };
    assert!(
        layers(&again) == layers(&out),
        "bit-identical distilled students"
    );

    // A second run into the same folder is refused and leaves the first run's files intact.
    let before = std::fs::read(out.join("report.json")).unwrap();
    assert!(matches!(
        run(&quick(&out), Progress { quiet: true }, &Stop::default()),
        Err(Error::OutputExists { .. })
    ));
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), before);
}
