//! Golden fingerprints: the exact outcome of a small deterministic run of the notebook.
//!
//! One epoch on the first 1,000 training images (900 train, 100 validation), seed 42, the
//! notebook's shapes and loss: the teacher (784-1200-1200-10, dropout 0.5), the distilled
//! student and the scratch student. For each, the SHA-256 of its parameter bytes (every weight
//! and bias as little-endian f32, in slot order: layer 1 W, b, layer 2 W, b, ...) and its exact
//! validation-loss history are pinned in `tests/fixtures/golden.json`. The parameters, not the
//! checkpoint file, are hashed: the checkpoint's metadata holds the config JSON, which grows new
//! fields as features are added, while the numbers must not change.
//!
//! Any change to the arithmetic, the random streams or the data order changes these bytes.
//! When a change is MEANT to alter results, regenerate and commit the file:
//!
//! ```text
//! DISTILL_UPDATE_GOLDEN=1 cargo test --release --test golden
//! ```
//!
//! CPU-kernel caveat (as in the README): matrixmultiply picks its SIMD kernel at run time (FMA,
//! AVX, SSE2), and kernels round differently. The fixture records the CPU features it was made
//! with; on a CPU with other features the fingerprints may legitimately differ.

use std::path::PathBuf;

use distill::config::{ModelConfig, TrainConfig};
use distill::data::default_data_dir;
use distill::experiment::{student_seed, train_distilled, train_plain, Prepared, Trained};
use distill::loss::DistillLoss;
use distill::nn::Mlp;
use distill::train::Progress;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const QUIET: Progress = Progress { quiet: true };

/// SHA-256 of every parameter as little-endian f32 bytes, in slot order.
fn parameter_sha256(model: &mut Mlp<f32>) -> String {
    let mut hasher = Sha256::new();
    model.visit_parameters(|_, p, _| {
        for v in p {
            hasher.update(v.to_le_bytes());
        }
    });
    format!("{:x}", hasher.finalize())
}

/// The fingerprint of one trained model: parameter hash, validation-loss history (the minimised
/// term: `val_loss`, or `val_total_loss` for the distilled student), epochs.
fn fingerprint(mut trained: Trained, val_key: &str) -> Value {
    json!({
        "parameters_sha256": parameter_sha256(&mut trained.model),
        val_key: trained.outcome.history[val_key],
        "epochs_run": trained.outcome.epochs_run,
        "best_epoch": trained.outcome.best_epoch,
    })
}

/// The x86-64 features that select matrixmultiply's kernels.
fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut features = vec!["x86_64"];
        if std::arch::is_x86_feature_detected!("avx") {
            features.push("avx");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            features.push("fma");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            features.push("avx512f");
        }
        features.join(" ")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

fn notebook_run() -> Value {
    let config = TrainConfig {
        epochs: 1,
        train_limit: Some(1000),
        seed: 42,
        ..TrainConfig::default()
    };
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let teacher = train_plain(
        &data,
        &ModelConfig::teacher(),
        &config,
        config.seed,
        "teacher",
        QUIET,
        None,
    )
    .unwrap();
    let (distilled, _) = train_distilled(
        &data,
        &teacher.model,
        &ModelConfig::student(),
        &DistillLoss::default(),
        &config,
        QUIET,
        None,
    )
    .unwrap();
    let scratch = train_plain(
        &data,
        &ModelConfig::student(),
        &config,
        student_seed(config.seed),
        "scratch",
        QUIET,
        None,
    )
    .unwrap();
    json!({
        "teacher": fingerprint(teacher, "val_loss"),
        "distilled": fingerprint(distilled, "val_total_loss"),
        "scratch": fingerprint(scratch, "val_loss"),
    })
}

#[test]
fn a_one_epoch_notebook_run_gives_the_pinned_models() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden.json");
    let got = notebook_run();
    if std::env::var_os("DISTILL_UPDATE_GOLDEN").is_some() {
        let fixture = json!({
            "regenerate": "DISTILL_UPDATE_GOLDEN=1 cargo test --release --test golden",
            "cpu_features": cpu_features(),
            "models": got,
        });
        let text = serde_json::to_string_pretty(&fixture).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        got == fixture["models"],
        "the 1-epoch run no longer gives the pinned models.\n got:    {got}\n pinned: {}\n\
         pinned on a CPU with [{}], this one has [{}] (see the kernel caveat in tests/golden.rs).\n\
         If the change is meant to alter results: DISTILL_UPDATE_GOLDEN=1 cargo test --release --test golden",
        fixture["models"],
        fixture["cpu_features"],
        cpu_features()
    );
}
