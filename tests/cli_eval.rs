//! `distill eval` on a checkpoint written outside distill: the numpy-written
//! `tests/fixtures/numpy_mnist_f32.safetensors` (784-8-10, just the tensors, no metadata; see
//! `tests/fixtures/make_numpy_fixtures.py`). PyTorch's `safetensors.torch.save_file` writes the
//! same format; torch was not installed where the fixtures were made, so none is written by it.

use std::path::PathBuf;
use std::process::Command;

use distill::data::{default_data_dir, Mnist};
use distill::experiment::test_report;
use distill::nn::Mlp;
use ndarray::{Array1, Array2};

/// The fixture's tensors, recomputed from the script's formula (dyadic values, exact in f32).
fn numpy_model() -> Mlp<f32> {
    let layers = [784, 8, 10]
        .windows(2)
        .map(|w| {
            let (d_in, d_out) = (w[0], w[1]);
            let weight = Array2::from_shape_fn((d_in, d_out), |(r, c)| {
                let k = r * d_out + c;
                ((k * 7) % 33) as f32 / 64.0 - 0.25 // ((k·7) mod 33 − 16)/64
            });
            let bias = Array1::from_shape_fn(d_out, |c| (2.0 * c as f32 - 9.0) / 16.0);
            (weight, bias)
        })
        .collect();
    Mlp::from_layers(layers, 0.0, 0)
}

#[test]
fn a_numpy_written_checkpoint_evaluates_as_the_same_model_built_in_rust() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/numpy_mnist_f32.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["eval", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "distill eval failed: {stderr}");
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let mnist = Mnist::load(&default_data_dir()).unwrap();
    let (evaluation, auc) = test_report(&numpy_model(), &mnist.test).unwrap();
    let expected = serde_json::json!({
        "test_accuracy": evaluation.accuracy,
        "test_errors": evaluation.errors,
        "test_loss": evaluation.loss,
        "auc": auc,
    });
    assert_eq!(printed, expected);
}
