//! `distill paper --quick` end to end: the files, the schema of paper.json, per-class errors
//! that add up, shifted checkpoints that differ from their unshifted twins by exactly the
//! chosen bias shift, docs/paper.md's `distill teacher` command training the same teacher, and
//! a reused teacher giving the same students, also when the run is interrupted and resumed.

use std::path::Path;
use std::process::Command;

use distill::checkpoint;
use distill::data::{default_data_dir, DataSource};
use distill::paper::{run, PaperConfig, MODELS};
use distill::train::{Progress, Stop};
use distill::Error;
use serde_json::Value;

fn quick(out: &Path, teacher: Option<&Path>) -> PaperConfig {
    PaperConfig {
        data_dir: DataSource::Dir(default_data_dir()),
        out_dir: Some(out.to_path_buf()),
        resume: false,
        quick: true,
        seed: 42,
        teacher_checkpoint: teacher.map(Path::to_path_buf),
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

/// The output-layer bias of a checkpoint, and every other tensor flattened.
fn split_output_bias(path: &Path) -> (Vec<f32>, Vec<f32>) {
    let ckpt = checkpoint::load(path).unwrap();
    let last = ckpt.layers.len() - 1;
    let mut rest = Vec::new();
    for (l, (w, b)) in ckpt.layers.iter().enumerate() {
        rest.extend(w.iter());
        if l != last {
            rest.extend(b.iter());
        }
    }
    (ckpt.layers[last].1.to_vec(), rest)
}

#[test]
fn quick_paper_writes_every_file_with_the_issues_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("paper");
    let outcome = run(
        &quick(&out, None),
        Progress { quiet: true },
        &Stop::default(),
    )
    .unwrap();
    assert_eq!(outcome.out_dir, out);

    let mut files = vec![
        "paper.json".to_string(),
        "paper.md".into(),
        "per_class_errors.png".into(),
        "transfer_bias.png".into(),
    ];
    files.extend(MODELS.iter().map(|m| format!("{m}.safetensors")));
    for f in &files {
        assert!(out.join(f).is_file(), "{f} missing");
    }

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("paper.json")).unwrap()).unwrap();
    assert_eq!(
        keys(&json),
        ["bias_shift", "config", "models", "paper", "versions"]
    );
    let mut models: Vec<&str> = MODELS.to_vec();
    models.sort();
    assert_eq!(keys(&json["models"]), models);
    for name in MODELS {
        let m = &json["models"][name];
        for key in [
            "test_errors",
            "test_accuracy",
            "per_class_errors",
            "epochs_run",
            "train_seconds",
            "parameters",
            "history",
        ] {
            assert!(m.get(key).is_some(), "models.{name} lacks {key}");
        }
        let per_class: Vec<u64> = m["per_class_errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(per_class.len(), 10, "{name}");
        assert_eq!(
            per_class.iter().sum::<u64>(),
            m["test_errors"].as_u64().unwrap(),
            "{name}: per-class errors add up to the test errors"
        );
        // The transfer sets filter the training part only: every model meets all 10,000 tests.
        let accuracy = m["test_accuracy"].as_f64().unwrap();
        let errors = m["test_errors"].as_f64().unwrap();
        assert!(
            ((1.0 - accuracy) * 10_000.0 - errors).abs() < 1e-6,
            "{name}: {errors} errors at accuracy {accuracy}"
        );
        let epochs = m["epochs_run"].as_u64().unwrap();
        assert!(epochs <= 2, "{name}: --quick trains 2 epochs, not {epochs}");
    }
    let parameters = |name: &str| json["models"][name]["parameters"].as_u64().unwrap();
    assert_eq!(
        parameters("teacher"),
        784 * 1200 + 1200 + 1200 * 1200 + 1200 + 12010
    );
    assert_eq!(
        parameters("distilled_800"),
        784 * 800 + 800 + 800 * 800 + 800 + 8010
    );

    assert_eq!(keys(&json["bias_shift"]), ["omit3", "only78"]);
    for (key, classes, paper_shift) in [("omit3", vec![3], 3.5), ("only78", vec![7, 8], -7.6)] {
        let s = &json["bias_shift"][key];
        assert_eq!(s["classes"], serde_json::json!(classes));
        assert_eq!(s["chosen_on"], "validation");
        assert_eq!(s["paper_shift"], paper_shift);
        assert!(s["test_errors_at_paper_shift"].is_u64());
        let chosen = s["chosen"].as_f64().unwrap();
        let deltas = s["deltas"].as_array().unwrap();
        let at = deltas
            .iter()
            .position(|d| d.as_f64() == Some(chosen))
            .unwrap();
        let val = s["validation_errors"].as_array().unwrap();
        let fewest = val.iter().map(|v| v.as_u64().unwrap()).min().unwrap();
        assert_eq!(
            val[at].as_u64().unwrap(),
            fewest,
            "{key}: the validation minimum"
        );

        // The shifted twin: the same tensors but the output bias of `classes`, moved by `chosen`.
        let (bias, rest) = split_output_bias(&out.join(format!("{key}.safetensors")));
        let (shifted_bias, shifted_rest) =
            split_output_bias(&out.join(format!("{key}_shifted.safetensors")));
        assert!(rest == shifted_rest, "{key}: only the output bias differs");
        assert_ne!(
            chosen, 0.0,
            "{key}: a transfer set missing classes needs a shift"
        );
        for c in 0..10 {
            let expected = match classes.contains(&c) {
                true => bias[c] + chosen as f32,
                false => bias[c],
            };
            assert_eq!(shifted_bias[c], expected, "{key}: class {c}");
        }
    }
    for key in [
        "teacher",
        "scratch_800",
        "distilled_800",
        "omit3",
        "only78_shifted",
    ] {
        assert!(json["paper"].get(key).is_some(), "paper.{key}");
    }
    assert_eq!(json["paper"]["teacher"]["test_errors"], 67);
    assert_eq!(json["config"]["paper"]["quick"], true);
    assert_eq!(json["config"]["recipe"]["distill"]["temperature"], 20.0);
    assert_eq!(
        json["config"]["recipe"]["distill"]["soft_scale"],
        "t-squared"
    );

    let md = std::fs::read_to_string(out.join("paper.md")).unwrap();
    assert!(md.contains("| model | paper | ours |"));
    let omit3 = &json["models"]["omit3"];
    assert!(md.contains(&format!(
        "{} ({} on 3s)",
        omit3["test_errors"], omit3["per_class_errors"][3]
    )));

    // docs/paper.md's `distill teacher` command (at the quick sizes: --train-limit, --epochs,
    // --patience) trains the recipe's teacher bit for bit.
    let cli = dir.path().join("cli-teacher");
    let flags = "--epochs 2 --patience 2 --train-limit 3000 --batch-size 128 \
        --learning-rate 1e-3 --lr-schedule cosine --dropout 0.5 --input-dropout 0.2 \
        --max-norm 3.5 --jitter 2 --validation-split 0.1 --seed 42 --quiet";
    let trained = Command::new(env!("CARGO_BIN_EXE_distill"))
        .arg("teacher")
        .args(flags.split_whitespace())
        .arg("--out")
        .arg(&cli)
        .output()
        .unwrap();
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    assert!(
        split_output_bias(&cli.join("teacher.safetensors"))
            == split_output_bias(&out.join("teacher.safetensors")),
        "the documented teacher command trains the recipe's teacher"
    );

    // A reused teacher: the same teacher, hence the same students, bit for bit; the run is
    // stopped after its first batch (Ctrl-C) and continued with `--resume`.
    let again = dir.path().join("again");
    let teacher = out.join("teacher.safetensors");
    let stop = Stop::default();
    stop.request(2); // before the run starts: scratch_800 stops after its first batch
    let stopped = run(
        &quick(&again, Some(&teacher)),
        Progress { quiet: true },
        &stop,
    );
    match stopped {
        Err(Error::Interrupted { signal: 2, state }) => {
            assert!(state.ends_with("scratch_800.state"), "{state:?}")
        }
        other => panic!("expected Interrupted, got {other:?}"),
    }
    assert!(!again.join("paper.json").exists(), "stopped before the end");
    let resumed = PaperConfig {
        resume: true,
        ..quick(&again, Some(&teacher))
    };
    let reused = run(&resumed, Progress { quiet: true }, &Stop::default()).unwrap();
    let first = &outcome.report.models;
    let second = &reused.report.models;
    for name in MODELS {
        assert_eq!(second[name].test_errors, first[name].test_errors, "{name}");
    }
    assert_eq!(second["teacher"].epochs_run, 0, "loaded, not trained");
    for name in MODELS {
        let file = format!("{name}.safetensors");
        assert!(
            split_output_bias(&again.join(&file)) == split_output_bias(&out.join(&file)),
            "{name}: the same tensors from a reused teacher, resumed"
        );
    }
}
