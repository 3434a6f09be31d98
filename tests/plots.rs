//! The PNG plots, drawn from synthetic data: each one decodes, has the documented size, has
//! ink on it, leaves no temporary file, and bad input is an `Error::Plot`, not a panic.
//!
//! To look at the images, set `DISTILL_PLOT_DIR=/some/folder`: they are written there too.

use std::fs;
use std::path::{Path, PathBuf};

use distill::metrics::{roc_curve, RocCurve};
use distill::report::{
    plot_logit_scatter, plot_loss_curves, plot_roc, plot_samples, Phase, Series,
};
use distill::Error;
use ndarray::Array2;
use ndarray_rand::rand_distr::{Distribution, Normal};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A temporary folder, or `$DISTILL_PLOT_DIR` when set (kept for viewing).
struct Out {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn out() -> Out {
    let tmp = tempfile::tempdir().unwrap();
    let dir = match std::env::var_os("DISTILL_PLOT_DIR") {
        Some(d) => {
            fs::create_dir_all(&d).unwrap();
            PathBuf::from(d)
        }
        None => tmp.path().to_path_buf(),
    };
    Out { _tmp: tmp, dir }
}

/// Decodes the PNG; returns (width, height, fraction of non-white pixels).
fn inspect(path: &Path) -> (u32, u32, f64) {
    let bytes = fs::read(path).unwrap();
    let mut reader = png::Decoder::new(bytes.as_slice()).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = &buf[..info.buffer_size()];
    let inked = pixels.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    let temp_prefix = format!(".{}.", path.file_name().unwrap().to_string_lossy());
    let no_temp = fs::read_dir(path.parent().unwrap()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(&temp_prefix)
    });
    assert!(
        no_temp,
        "a temporary file was left beside {}",
        path.display()
    );
    (
        info.width,
        info.height,
        inked as f64 / (pixels.len() / 3) as f64,
    )
}

fn plot_reason(result: distill::Result<()>) -> String {
    match result {
        Err(Error::Plot { reason, .. }) => reason,
        other => panic!("expected Error::Plot, got {other:?}"),
    }
}

/// 28×28 synthetic strokes: a ring for even labels, a slanted bar for odd ones.
fn synthetic_digits(n: usize) -> (Array2<u8>, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let pixels = Array2::from_shape_fn((n, 28 * 28), |(i, p)| {
        let (r, c) = ((p / 28) as f64 - 13.5, (p % 28) as f64 - 13.5);
        let ink = if labels[i].is_multiple_of(2) {
            (r.hypot(c) - 5.0 - f64::from(labels[i]) / 2.0).abs() < 2.0
        } else {
            (c - r * f64::from(labels[i]) / 10.0).abs() < 2.0 && r.abs() < 10.0
        };
        if ink {
            255
        } else {
            0
        }
    });
    (pixels, labels)
}

#[test]
fn samples_grid() {
    let out = out();
    let path = out.dir.join("sample.png");
    let (pixels, labels) = synthetic_digits(30);
    plot_samples(&path, pixels.view(), 28, 28, &labels, 25).unwrap();
    let (w, h, ink) = inspect(&path);
    assert_eq!((w, h), (5 * 170, 72 + 5 * 170));
    assert!(ink > 0.3, "digits are drawn on black: ink {ink}");

    let reason = plot_reason(plot_samples(&path, pixels.view(), 27, 28, &labels, 4));
    assert!(reason.contains("rows·cols"), "{reason}");
    let reason = plot_reason(plot_samples(&path, pixels.view(), 28, 28, &labels[1..], 4));
    assert!(reason.contains("29 labels for 30 images"), "{reason}");
    plot_reason(plot_samples(&path, pixels.view(), 28, 28, &labels, 0));
}

#[test]
fn loss_curves() {
    let out = out();
    let path = out.dir.join("loss_curves.png");
    let decay = |a: f64, b: f64, k: f64| -> Vec<f64> {
        (0..12).map(|e| a + b * (-k * f64::from(e)).exp()).collect()
    };
    let (student, distill, total) = (
        decay(0.2, 0.9, 0.4),
        decay(0.05, 0.4, 0.5),
        decay(0.07, 0.45, 0.45),
    );
    let (v_student, v_distill, v_total) = (
        decay(0.25, 0.8, 0.35),
        decay(0.08, 0.35, 0.4),
        decay(0.1, 0.4, 0.4),
    );
    let mut short = v_total.clone();
    short.truncate(10);
    short[3] = f64::NAN; // left out, not a panic
    let series = [
        Series {
            name: "student loss",
            values: &student,
            phase: Phase::Train,
        },
        Series {
            name: "distillation loss",
            values: &distill,
            phase: Phase::Train,
        },
        Series {
            name: "total loss",
            values: &total,
            phase: Phase::Train,
        },
        Series {
            name: "val student loss",
            values: &v_student,
            phase: Phase::Validation,
        },
        Series {
            name: "val distillation loss",
            values: &v_distill,
            phase: Phase::Validation,
        },
        Series {
            name: "val total loss",
            values: &short,
            phase: Phase::Validation,
        },
    ];
    plot_loss_curves(&path, "Distillation losses per epoch", &series).unwrap();
    let (w, h, ink) = inspect(&path);
    assert_eq!((w, h), (1000, 650));
    assert!(ink > 0.01, "ink {ink}");

    let one = [Series {
        name: "one epoch",
        values: &[0.5],
        phase: Phase::Train,
    }];
    plot_loss_curves(&out.dir.join("one_epoch.png"), "one epoch", &one).unwrap();

    let nan = [Series {
        name: "nan",
        values: &[f64::NAN],
        phase: Phase::Train,
    }];
    let reason = plot_reason(plot_loss_curves(&path, "nan", &nan));
    assert!(reason.contains("no finite"), "{reason}");
    plot_reason(plot_loss_curves(&path, "nothing", &[]));
}

/// Scores of `n` examples, 10 % positive, positives shifted by `separation` standard deviations.
fn synthetic_roc(rng: &mut Xoshiro256PlusPlus, n: usize, separation: f64) -> RocCurve {
    let normal = Normal::new(0.0, 1.0).unwrap();
    let positive: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.1)).collect();
    let scores: Vec<f64> = positive
        .iter()
        .map(|&p| normal.sample(rng) + if p { separation } else { 0.0 })
        .collect();
    roc_curve(&positive, &scores).unwrap()
}

#[test]
fn roc_log_axis() {
    let out = out();
    let path = out.dir.join("roc_class8.png");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    let curves: Vec<(&str, RocCurve)> = [("teacher", 4.5), ("distilled", 3.8), ("scratch", 3.0)]
        .into_iter()
        .map(|(name, sep)| (name, synthetic_roc(&mut rng, 10_000, sep)))
        .collect();
    let with_auc: Vec<(&str, &RocCurve, f64)> =
        curves.iter().map(|(n, c)| (*n, c, c.auc())).collect();
    plot_roc(&path, "ROC for digit 8 (one vs rest)", &with_auc).unwrap();
    let (w, h, ink) = inspect(&path);
    assert_eq!((w, h), (1000, 700));
    assert!(ink > 0.01, "ink {ink}");

    let reason = plot_reason(plot_roc(&path, "none", &[]));
    assert!(reason.contains("no ROC"), "{reason}");
    let broken = RocCurve {
        fpr: vec![0.0, 1.0],
        tpr: vec![0.0],
        thresholds: vec![],
    };
    let reason = plot_reason(plot_roc(&path, "broken", &[("broken", &broken, 0.5)]));
    assert!(reason.contains("differ in length"), "{reason}");
}

#[test]
fn logit_scatter() {
    let out = out();
    let path = out.dir.join("logits_teacher.png");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let normal = Normal::new(0.0f32, 1.5).unwrap();
    let labels: Vec<u8> = (0..10_000).map(|_| rng.gen_range(0..10)).collect();
    let angle = |l: u8| f32::from(l) * std::f32::consts::TAU / 10.0;
    let mut x: Vec<f32> = labels
        .iter()
        .map(|&l| 10.0 * angle(l).cos() + normal.sample(&mut rng))
        .collect();
    let y: Vec<f32> = labels
        .iter()
        .map(|&l| 10.0 * angle(l).sin() + normal.sample(&mut rng))
        .collect();
    x[0] = f32::NAN; // left out, not a panic
    plot_logit_scatter(&path, "Teacher logits on the test set", &x, &y, &labels).unwrap();
    let (w, h, ink) = inspect(&path);
    assert_eq!((w, h), (1000, 800));
    assert!(ink > 0.05, "ink {ink}");

    let reason = plot_reason(plot_logit_scatter(&path, "t", &x[1..], &y, &labels));
    assert!(reason.contains("9999 x, 10000 y"), "{reason}");
    let reason = plot_reason(plot_logit_scatter(&path, "t", &[f32::NAN], &[0.0], &[1]));
    assert!(reason.contains("no finite"), "{reason}");
}

#[test]
fn failed_plot_names_the_path_and_keeps_the_old_file() {
    let out = out();
    let path = out.dir.join("keep.png");
    fs::write(&path, b"old").unwrap();
    match plot_roc(&path, "none", &[]) {
        Err(Error::Plot { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected Error::Plot, got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), b"old");
    fs::remove_file(&path).unwrap();

    let missing_dir = out.dir.join("no/such/folder/plot.png");
    let (pixels, labels) = synthetic_digits(1);
    assert!(plot_samples(&missing_dir, pixels.view(), 28, 28, &labels, 1).is_err());
}
