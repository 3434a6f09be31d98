//! The notebook's three trainings in candle (candle-core + candle-nn, CPU), a peer of
//! `torch_kd.py` and `jax_kd.py` for `compare.py`: the same models, split, metrics, flags and JSON.
//!
//! teacher   784-1200-1200-10, ReLU, Dropout(0.5) after each hidden layer, cross-entropy
//! distilled 784-300-10, L = α·CE(y, z_s) + (1−α)·s·KL(softmax(z_t/T) ‖ softmax(z_s/T)),
//!           α = 0.1, T = 10, s = 1 or T², the frozen teacher's logits computed every batch
//!           (`--teacher-logits per-batch`) or once and looked up by index (`cached`)
//! scratch   784-300-10, cross-entropy
//!
//! Glorot-uniform weights, zero biases, Adam lr 1e-3 β 0.9/0.999 ε 1e-7 (candle_nn's AdamW with
//! weight decay 0: ε added to sqrt(v̂), PyTorch's placement, as in torch_kd.py and jax_kd.py),
//! batch 64 reshuffled every epoch, early stopping on val_loss with the best weights restored.
//!
//! Threads: candle's CPU matmul (the `gemm` crate) and its rayon pool size themselves from
//! RAYON_NUM_THREADS, which `--threads` sets before the first tensor operation; the global rayon
//! pool is built with the same count.
//!
//!     cargo run --release -- --epochs 3 --no-early-stopping --threads 2 --teacher-logits both --out c.json

mod mnist;
mod model;
mod report;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Result, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use clap::{Parser, ValueEnum};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use model::{cross_entropy, kd_loss, Mlp};

pub const ALPHA: f64 = 0.1;
pub const TEMPERATURE: f64 = 10.0;
const TEACHER_HIDDEN: [usize; 2] = [1200, 1200];
const TEACHER_DROPOUT: f32 = 0.5;
const STUDENT_HIDDEN: [usize; 1] = [300];
const BATCH_SIZE: usize = 64;
const LEARNING_RATE: f64 = 1e-3;
const BETA_1: f64 = 0.9;
const BETA_2: f64 = 0.999;
const EPSILON: f64 = 1e-7;

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Training {
    Teacher,
    Distill,
    Scratch,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum LogitMode {
    PerBatch,
    Cached,
    Both,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum SoftScale {
    One,
    TSquared,
}

/// The flags of common.py's parse_args.
#[derive(Parser)]
#[command(
    about = "The notebook's three trainings in candle on the CPU, for side-by-side benchmarks"
)]
struct Args {
    /// Maximum epochs per training.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Early stopping on val_loss, restore best weights.
    #[arg(long, default_value_t = 10)]
    patience: usize,
    /// Run exactly --epochs epochs (benchmarks).
    #[arg(long)]
    no_early_stopping: bool,
    /// Threads of candle's CPU kernels (default: all cores).
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    threads: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Distillation: teacher forward every batch, logits precomputed once, or both in turn.
    #[arg(long, value_enum, default_value = "per-batch")]
    teacher_logits: LogitMode,
    /// Comma-separated subset of teacher,distill,scratch.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "teacher,distill,scratch"
    )]
    which: Vec<Training>,
    /// Factor on the KL term: 1 (the notebook) or T² (the paper).
    #[arg(long, value_enum, default_value = "one")]
    soft_scale: SoftScale,
    /// Write the JSON report here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Use only the first N training examples, before the validation split (smoke tests).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(10..))]
    train_limit: Option<u64>,
    /// Keep glibc's default malloc thresholds: every tensor above 128 KiB is then a fresh mmap,
    /// page-faulted in and unmapped again (about 2x slower here; see keep_freed_memory).
    #[arg(long)]
    glibc_malloc_defaults: bool,
}

/// candle allocates a new buffer for every tensor operation (Adam alone makes about ten
/// weight-sized temporaries per layer and step). With glibc's defaults each buffer above the mmap
/// threshold is mapped, zero-filled by page faults and unmapped again: half the teacher's time in
/// a profile went to the kernel. Raising the mmap and trim thresholds lets malloc reuse freed
/// memory instead, a setting any user tuning candle on Linux would make.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    const ONE_GIB: libc::c_int = 1 << 30;
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
        libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// An independent random stream per (seed, purpose).
fn stream(seed: u64, purpose: u64) -> StdRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&purpose.to_le_bytes());
    StdRng::from_seed(bytes)
}
const INIT: u64 = 0;
const SHUFFLE: u64 = 1;
const DROPOUT: u64 = 2;

/// A split on the device.
struct Data {
    x: Tensor,
    y: Tensor,
}

impl Data {
    fn new(split: &mnist::Split, device: &Device) -> Result<Self> {
        Ok(Self {
            x: Tensor::from_slice(&split.x, (split.len(), mnist::INPUT_SIZE), device)?,
            y: Tensor::from_slice(&split.y, split.len(), device)?,
        })
    }
}

struct Fitted {
    seconds: Vec<f64>,
    loss: Vec<f64>,
    val_loss: Vec<f64>,
    best_epoch: Option<usize>,
}

/// Keras-style fit. `batch_loss(idx, dropout_rng)` is the training loss of the rows idx of the
/// training split; `val_loss()` the loss on the validation split in eval mode. An epoch's seconds
/// cover the training pass and the validation loss, as Keras' fit line does.
fn fit(
    args: &Args,
    model: &Mlp,
    n: usize,
    seed: u64,
    batch_loss: impl Fn(&Tensor, &mut StdRng) -> Result<Tensor>,
    val_loss: impl Fn() -> Result<f64>,
    device: &Device,
) -> Result<Fitted> {
    let params = ParamsAdamW {
        lr: LEARNING_RATE,
        beta1: BETA_1,
        beta2: BETA_2,
        eps: EPSILON,
        weight_decay: 0.0,
    };
    let mut opt = AdamW::new(model.vars(), params)?;
    let (mut shuffle, mut dropout) = (stream(seed, SHUFFLE), stream(seed, DROPOUT));
    let mut fitted = Fitted {
        seconds: vec![],
        loss: vec![],
        val_loss: vec![],
        best_epoch: None,
    };
    let (mut best, mut best_weights, mut wait) = (f64::INFINITY, None, 0);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    for epoch in 0..args.epochs {
        let clock = Instant::now();
        perm.shuffle(&mut shuffle);
        let mut total = 0.0;
        for batch in perm.chunks(BATCH_SIZE) {
            let idx = Tensor::from_slice(batch, batch.len(), device)?;
            let loss = batch_loss(&idx, &mut dropout)?;
            opt.backward_step(&loss)?;
            total += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
        }
        let current = val_loss()?;
        fitted.seconds.push(clock.elapsed().as_secs_f64());
        fitted.loss.push(total / n as f64);
        fitted.val_loss.push(current);
        if args.no_early_stopping {
            continue;
        }
        // Keras' EarlyStopping (min_delta 0, restore_best_weights): strict improvement resets wait.
        wait += 1;
        if current < best {
            (best, fitted.best_epoch, wait) = (current, Some(epoch + 1), 0);
            best_weights = Some(model.snapshot()?);
        } else if wait >= args.patience && epoch > 0 {
            break;
        }
    }
    if let Some(weights) = best_weights {
        model.restore(&weights)?;
    }
    Ok(fitted)
}

fn scalar(t: Tensor) -> Result<f64> {
    Ok(f64::from(t.to_scalar::<f32>()?))
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.epochs < 1 || args.threads < 1 {
        return Err("--epochs and --threads must be >= 1".into());
    }
    if !args.glibc_malloc_defaults {
        keep_freed_memory();
    }
    // Before any tensor operation: candle reads RAYON_NUM_THREADS at each matmul and for its pool.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()?;
    let device = Device::Cpu;
    let data = mnist::load(args.train_limit.map(|n| n as usize))?;
    let (train, val) = (
        Data::new(&data.train, &device)?,
        Data::new(&data.val, &device)?,
    );
    let test_x = Tensor::from_slice(&data.test.x, (data.test.len(), mnist::INPUT_SIZE), &device)?;
    let n = data.train.len();
    let soft_scale = if args.soft_scale == SoftScale::TSquared {
        TEMPERATURE * TEMPERATURE
    } else {
        1.0
    };
    let mut report = report::base(&args);
    let mut models = serde_json::Map::new();
    let record = |model: &Mlp, fitted: Fitted, extra: Value| -> Result<Value> {
        let z: Vec<f32> = model.logits(&test_x)?.flatten_all()?.to_vec1()?;
        Ok(report::training(fitted, &z, &data.test.y, extra))
    };

    let teacher = Mlp::new(
        &TEACHER_HIDDEN,
        TEACHER_DROPOUT,
        &mut stream(args.seed, INIT),
        &device,
    )?;
    if args.which.contains(&Training::Teacher) {
        let fitted = fit(
            &args,
            &teacher,
            n,
            args.seed,
            |idx, rng| {
                cross_entropy(
                    &teacher.forward(&train.x.index_select(idx, 0)?, Some(rng))?,
                    &train.y.index_select(idx, 0)?,
                )
            },
            || scalar(cross_entropy(&teacher.logits(&val.x)?, &val.y)?),
            &device,
        )?;
        models.insert("teacher".into(), record(&teacher, fitted, json!({}))?);
    }

    if args.which.contains(&Training::Distill) {
        let modes = match args.teacher_logits {
            LogitMode::Both => vec![LogitMode::PerBatch, LogitMode::Cached],
            mode => vec![mode],
        };
        for mode in modes {
            let student = Mlp::new(
                &STUDENT_HIDDEN,
                0.0,
                &mut stream(args.seed + 1, INIT),
                &device,
            )?;
            let trained = args.which.contains(&Training::Teacher);
            let (key, fitted, extra) = if mode == LogitMode::PerBatch {
                let fitted = fit(
                    &args,
                    &student,
                    n,
                    args.seed + 1,
                    |idx, _| {
                        let x = train.x.index_select(idx, 0)?;
                        kd_loss(
                            &student.forward(&x, None)?,
                            &teacher.logits(&x)?,
                            &train.y.index_select(idx, 0)?,
                            soft_scale,
                        )
                    },
                    || {
                        scalar(kd_loss(
                            &student.logits(&val.x)?,
                            &teacher.logits(&val.x)?,
                            &val.y,
                            soft_scale,
                        )?)
                    },
                    &device,
                )?;
                (
                    "distilled",
                    fitted,
                    json!({"teacher_trained": trained, "teacher_logits": "per-batch"}),
                )
            } else {
                let clock = Instant::now();
                let (z_train, z_val) = (teacher.logits(&train.x)?, teacher.logits(&val.x)?);
                let cache_seconds = clock.elapsed().as_secs_f64();
                let fitted = fit(
                    &args,
                    &student,
                    n,
                    args.seed + 1,
                    |idx, _| {
                        let z_s = student.forward(&train.x.index_select(idx, 0)?, None)?;
                        kd_loss(
                            &z_s,
                            &z_train.index_select(idx, 0)?,
                            &train.y.index_select(idx, 0)?,
                            soft_scale,
                        )
                    },
                    || {
                        scalar(kd_loss(
                            &student.logits(&val.x)?,
                            &z_val,
                            &val.y,
                            soft_scale,
                        )?)
                    },
                    &device,
                )?;
                let extra = json!({"teacher_trained": trained, "teacher_logits": "cached",
                                   "teacher_logits_seconds": cache_seconds});
                ("distilled_cached", fitted, extra)
            };
            models.insert(key.into(), record(&student, fitted, extra)?);
        }
    }

    if args.which.contains(&Training::Scratch) {
        let student = Mlp::new(
            &STUDENT_HIDDEN,
            0.0,
            &mut stream(args.seed + 1, INIT),
            &device,
        )?;
        let fitted = fit(
            &args,
            &student,
            n,
            args.seed + 2,
            |idx, _| {
                cross_entropy(
                    &student.forward(&train.x.index_select(idx, 0)?, None)?,
                    &train.y.index_select(idx, 0)?,
                )
            },
            || scalar(cross_entropy(&student.logits(&val.x)?, &val.y)?),
            &device,
        )?;
        models.insert("scratch".into(), record(&student, fitted, json!({}))?);
    }

    report["models"] = Value::Object(models);
    report::finish(report, args.out.as_deref())?;
    Ok(())
}
