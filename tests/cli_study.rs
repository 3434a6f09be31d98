//! The study commands through the binary: exit codes, JSON on stdout, PNGs in --out, and bad
//! input refused with a message naming the flag or file.

use std::path::Path;
use std::process::{Command, Output};

use distill::experiment::save_model;
use distill::nn::Mlp;

fn distill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs a command that must fail with exit code 1; returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = distill(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small untrained MNIST-shaped model 784-10.
fn tiny_checkpoint(dir: &Path) -> String {
    let path = dir.join("tiny.safetensors");
    save_model(&path, &Mlp::<f32>::new(&[784, 10], 0.0, 1), &()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn gradcheck_passes_in_f64_and_exits_1_in_f32() {
    let v = stdout_json(&distill(&["gradcheck", "--json", "--seed", "3"]));
    assert_eq!(v["dtype"], "f64");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() > 20);
    assert!(checks.iter().all(|c| c["passed"] == true));

    let out = distill(&["gradcheck", "--dtype", "f32"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL") && text.contains("why f64"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("gradient check failed"));
}

#[test]
fn similarity_json_and_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = tiny_checkpoint(dir.path());
    let out_dir = dir.path().join("sim");
    let o = out_dir.to_str().unwrap();
    let v = stdout_json(&distill(&[
        "similarity",
        &ckpt,
        "--temperature",
        "4",
        "--out",
        o,
        "--json",
    ]));
    assert_eq!(v["temperature"], 4.0);
    let matrix = v["matrix"].as_array().unwrap();
    assert_eq!(matrix.len(), 10);
    for row in matrix {
        let row: Vec<f64> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(row.len(), 10);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    assert!(out_dir.join("similarity.png").is_file());
    // The same folder again: the figure is never overwritten.
    assert!(refused(&["similarity", &ckpt, "--out", o]).contains("similarity.png"));
}

#[test]
fn soft_targets_json_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = tiny_checkpoint(dir.path());
    let out_dir = dir.path().join("st");
    let o = out_dir.to_str().unwrap();
    let args = [
        "soft-targets",
        &ckpt,
        "--index",
        "0,9999",
        "--temperature",
        "1,20",
        "--out",
        o,
        "--json",
    ];
    let v = stdout_json(&distill(&args));
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[1]["index"], 9999);
    assert_eq!(images[0]["label"], 7); // the first MNIST test digit
    for key in ["1", "20"] {
        assert_eq!(
            images[0]["probabilities"][key].as_array().unwrap().len(),
            10
        );
    }
    assert!(out_dir.join("soft_targets.png").is_file());
}

#[test]
fn explain_text_and_json() {
    let out = distill(&["explain", "--index", "3", "--temperature", "5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("freshly initialised") && text.contains("T = 5"),
        "{text}"
    );
    let v = stdout_json(&distill(&[
        "explain",
        "--index",
        "1,2",
        "--json",
        "--soft-scale",
        "t-squared",
    ]));
    assert_eq!(v["images"].as_array().unwrap().len(), 2);
    assert_eq!(v["loss"]["soft_scale"], "t-squared");
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = tiny_checkpoint(dir.path());
    let wrong = dir.path().join("wrong.safetensors");
    save_model(&wrong, &Mlp::<f32>::new(&[5, 10], 0.0, 1), &()).unwrap();
    let w = wrong.to_str().unwrap();
    let o = dir.path().join("never");
    let o = o.to_str().unwrap();
    let cases: [(&[&str], &str); 10] = [
        (&["explain", "--index", "10000"], "index"),
        (&["explain", "--temperature", "0"], "temperature"),
        (&["explain", "--temperature", "-2"], "temperature"),
        (&["explain", "--teacher", w], "wrong.safetensors"),
        (&["explain", "--student", w], "wrong.safetensors"),
        (
            &["soft-targets", &ckpt, "--index", "10000", "--out", o],
            "index",
        ),
        (
            &["soft-targets", &ckpt, "--temperature", "1,0", "--out", o],
            "temperature",
        ),
        (&["soft-targets", w, "--out", o], "wrong.safetensors"),
        (
            &["similarity", &ckpt, "--temperature", "-1", "--out", o],
            "temperature",
        ),
        (&["similarity", w, "--out", o], "wrong.safetensors"),
    ];
    for (args, needle) in cases {
        let err = refused(args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(
        !Path::new(o).exists(),
        "a refused command created its output folder"
    );
}

#[test]
fn the_commands_that_read_mnist_take_it_from_data() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = tiny_checkpoint(dir.path());
    let missing = dir.path().join("no-such-folder");
    let m = missing.to_str().unwrap();
    let o = dir.path().join("never");
    let o = o.to_str().unwrap();
    for args in [
        &["explain", "--data", m][..],
        &["soft-targets", &ckpt, "--data", m, "--out", o],
        &["similarity", &ckpt, "--data", m, "--out", o],
    ] {
        let err = refused(args);
        assert!(err.contains(m), "{args:?}: {err}");
    }
    // The shipped folder holds the embedded files: the same numbers from either.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let similarity = |data: &[&str], out: &str| {
        let out = dir.path().join(out);
        let mut args = vec![
            "similarity",
            &ckpt,
            "--json",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(data);
        stdout_json(&distill(&args))["matrix"].clone()
    };
    assert_eq!(
        similarity(&["--data", shipped.to_str().unwrap()], "folder"),
        similarity(&[], "embedded")
    );
}
