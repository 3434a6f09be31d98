//! The JSON report, with the keys of common.py's base_report / training_record / finish_report.

use std::path::Path;

use serde_json::{json, Value};

use crate::model::CLASSES;
use crate::{Args, Fitted, LogitMode, SoftScale, Training, ALPHA, BATCH_SIZE, TEMPERATURE};

const VALIDATION_SPLIT: f64 = 0.1;

/// The version of a dependency as Cargo.lock pins it (the lock file is compiled in).
fn locked_version(name: &str) -> String {
    let lock = include_str!("../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|at| lock[at + needle.len()..].split('"').next())
        .unwrap_or("unknown")
        .to_string()
}

pub fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            s.split_whitespace()
                .take(3)
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn platform() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::env::consts::OS,
        release.trim(),
        std::env::consts::ARCH
    )
}

/// The parts of the report that do not depend on the trainings.
pub fn base(args: &Args) -> Value {
    let name = |t: &Training| match t {
        Training::Teacher => "teacher",
        Training::Distill => "distill",
        Training::Scratch => "scratch",
    };
    json!({
        "framework": "candle",
        "versions": {
            "candle-core": locked_version("candle-core"),
            "candle-nn": locked_version("candle-nn"),
            "gemm": locked_version("gemm"),
            "rayon_num_threads": std::env::var("RAYON_NUM_THREADS").unwrap_or_default(),
            "glibc_malloc_defaults": args.glibc_malloc_defaults,
        },
        "threads": args.threads,
        "seed": args.seed,
        "config": {
            "epochs": args.epochs,
            "early_stopping": !args.no_early_stopping,
            "patience": args.patience,
            "batch_size": BATCH_SIZE,
            "validation_split": VALIDATION_SPLIT,
            "alpha": ALPHA,
            "temperature": TEMPERATURE,
            "soft_scale": if args.soft_scale == SoftScale::TSquared { "t-squared" } else { "one" },
            "teacher_logits": match args.teacher_logits {
                LogitMode::PerBatch => "per-batch",
                LogitMode::Cached => "cached",
                LogitMode::Both => "both",
            },
            "which": args.which.iter().map(name).collect::<Vec<_>>(),
            "train_limit": args.train_limit,
        },
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "platform": platform(),
            "loadavg_start": loadavg(),
        },
        "models": {},
    })
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// One training's entry: common.py's training_record, with its test metrics (float64 from the
/// logits z, row-major (n, 10)): accuracy, error count, mean cross-entropy.
pub fn training(fitted: Fitted, z: &[f32], labels: &[u32], extra: Value) -> Value {
    let (mut errors, mut loss) = (0usize, 0.0f64);
    for (row, &label) in z.chunks(CLASSES).zip(labels) {
        let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let (argmax, max) = row
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 {
                    (i, v)
                } else {
                    best
                }
            });
        let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        loss -= row[label as usize] - max - log_sum; // −log softmax(z)_label
        errors += usize::from(argmax != label as usize);
    }
    let n = labels.len();
    let mut entry = json!({
        "seconds_per_epoch": fitted.seconds,
        "median_seconds_per_epoch": median(&fitted.seconds),
        "epochs_run": fitted.seconds.len(),
        "best_epoch": fitted.best_epoch,
        "test_accuracy": 1.0 - errors as f64 / n as f64,
        "test_errors": errors,
        "test_loss": loss / n as f64,
        "history": {"loss": fitted.loss, "val_loss": fitted.val_loss},
    });
    if let (Value::Object(entry), Value::Object(extra)) = (&mut entry, extra) {
        entry.extend(extra);
    }
    entry
}

/// Stamps the end load average, prints a summary line per training, writes the JSON atomically.
pub fn finish(mut report: Value, path: Option<&Path>) -> std::io::Result<()> {
    report["machine"]["loadavg_end"] = json!(loadavg());
    // The Python scripts' order (serde_json's map itself keeps keys sorted).
    for name in ["teacher", "distilled", "distilled_cached", "scratch"] {
        if let Some(m) = report["models"].get(name) {
            let cache = m["teacher_logits_seconds"]
                .as_f64()
                .map_or(String::new(), |s| format!("  cache {s:.2} s"));
            eprintln!(
                " candle {name:<17} {:>2} epochs  median {:6.2} s/epoch  test acc {:.4} ({} errors){cache}",
                m["epochs_run"], m["median_seconds_per_epoch"].as_f64().unwrap_or(f64::NAN),
                m["test_accuracy"].as_f64().unwrap_or(f64::NAN), m["test_errors"]
            );
        }
    }
    let Some(path) = path else { return Ok(()) };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(&report)? + "\n")?;
    std::fs::rename(&tmp, path)
}
