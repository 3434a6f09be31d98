//! What `fit` records and restores: each history entry is the batch-weighted mean of what the
//! objective returned (and the accuracy of the logits it saw), a non-finite loss names its exact
//! batch, and the best epoch's weights, not the last, are what the model holds at the end.

use distill::config::TrainConfig;
use distill::data::default_data_dir;
use distill::experiment::Prepared;
use distill::metrics::{error_count, predictions};
use distill::nn::Mlp;
use distill::train::{
    fit, BatchLoss, CrossEntropy, FitOutcome, Objective, Part, Progress, StateStore, Stop,
};
use distill::{Error, Result};
use ndarray::ArrayView2;
use std::path::{Path, PathBuf};

const QUIET: Progress = Progress { quiet: true };

fn config(limit: usize, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        train_limit: Some(limit),
        batch_size: 100, // 540 training rows: five full batches and one of 40
        ..TrainConfig::default()
    }
}

/// `fit` of `model` on `data`'s training and validation parts, labelled "x", quietly.
fn fit_x(
    data: &Prepared,
    model: &mut Mlp<f32>,
    objective: &mut Recorder,
    config: &TrainConfig,
    store: Option<&StateStore>,
) -> Result<FitOutcome> {
    fit(
        model,
        &data.train,
        &data.validation,
        objective,
        config,
        "x",
        QUIET,
        store,
    )
}

/// The slices `config` selects and a state store for `config` in a fresh folder (which lives as
/// long as the returned `TempDir`).
fn stored(config: &TrainConfig) -> (Prepared, tempfile::TempDir, StateStore) {
    let data = Prepared::load(&default_data_dir(), config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::new(dir.path(), config, Stop::default());
    (data, dir, store)
}

fn correct(z: ArrayView2<f32>, labels: &[u8]) -> usize {
    labels.len() - error_count(&predictions(z), labels)
}

/// Cross-entropy that records, per call, the batch size, the loss and the correct predictions,
/// and can replace validation losses with a script (one value per epoch) or a training batch's
/// loss with NaN.
#[derive(Default)]
struct Recorder {
    /// (rows, loss, correct) of each training batch.
    train: Vec<(usize, f64, usize)>,
    /// (rows, loss, correct) of each validation call.
    validation: Vec<(usize, f64, usize)>,
    /// Validation losses to report instead of the real ones, epoch by epoch.
    scripted_validation: Vec<f64>,
    /// 1-based training call whose loss becomes NaN.
    nan_at: Option<usize>,
    /// A file whose existence is recorded at each training call, in `seen`.
    watch: Option<PathBuf>,
    seen: Vec<bool>,
    /// How long each training call sleeps: time the epoch must account for.
    delay: std::time::Duration,
}

impl Objective for Recorder {
    fn terms(&self) -> &'static [&'static str] {
        &["loss"]
    }

    fn batch(&mut self, z: ArrayView2<f32>, labels: &[u8], idx: &[usize], part: Part) -> BatchLoss {
        if part == Part::Train {
            std::thread::sleep(self.delay);
        }
        let mut loss = CrossEntropy.batch(z, labels, idx, part);
        let record = match part {
            Part::Train => &mut self.train,
            Part::Validation => &mut self.validation,
        };
        if part == Part::Validation {
            if let Some(&v) = self.scripted_validation.get(record.len()) {
                loss.terms[0] = v;
            }
        } else if self.nan_at == Some(record.len() + 1) {
            loss.terms[0] = f64::NAN;
        }
        record.push((labels.len(), loss.terms[0], correct(z, labels)));
        if let (Some(file), Part::Train) = (&self.watch, part) {
            self.seen.push(file.exists());
        }
        loss
    }
}

#[test]
fn the_history_is_the_batch_weighted_mean_of_what_the_objective_returned() {
    let config = config(600, 2);
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let mut model = Mlp::<f32>::new(&[784, 32, 10], 0.5, 3);
    let mut recorder = Recorder::default();
    let outcome = fit_x(&data, &mut model, &mut recorder, &config, None).unwrap();
    let h = &outcome.history;
    let n = data.train.len();
    let batches = n.div_ceil(config.batch_size);
    assert_eq!(recorder.train.len(), 2 * batches);
    for (epoch, calls) in recorder.train.chunks(batches).enumerate() {
        // loss = Σ_b B_b·L_b / N, accuracy = Σ_b correct_b / N
        let weighted: f64 = calls.iter().map(|&(b, l, _)| l * b as f64).sum();
        let right: usize = calls.iter().map(|&(_, _, c)| c).sum();
        assert_eq!(calls.iter().map(|c| c.0).sum::<usize>(), n);
        assert_eq!(h["loss"][epoch], weighted / n as f64, "epoch {}", epoch + 1);
        assert_eq!(h["accuracy"][epoch], right as f64 / n as f64);
        let (rows, val_loss, val_right) = recorder.validation[epoch];
        assert_eq!(rows, data.validation.len());
        assert_eq!(h["val_loss"][epoch], val_loss);
        assert_eq!(h["val_accuracy"][epoch], val_right as f64 / rows as f64);
    }
    assert!(
        recorder.train.iter().any(|&(_, _, c)| c > 0),
        "some predictions are right"
    );
    // each epoch's seconds are a part of the whole fit's: 0 < Σ_epochs seconds ≤ train_seconds
    assert!(h["seconds"].iter().all(|&t| t > 0.0), "{:?}", h["seconds"]);
    let epochs: f64 = h["seconds"].iter().sum();
    assert!(
        epochs <= outcome.train_seconds,
        "{epochs} > {}",
        outcome.train_seconds
    );
}

/// The state on disk at every epoch boundary, not only when a stop is requested: what a job
/// killed with SIGKILL (no handler runs) continues from.
#[test]
fn each_finished_epoch_is_on_disk_before_the_next_begins() {
    let config = config(600, 3);
    let (data, _dir, store) = stored(&config);
    let mut model = Mlp::<f32>::new(&[784, 16, 10], 0.0, 3);
    let mut recorder = Recorder {
        watch: Some(store.path("x")),
        ..Recorder::default()
    };
    fit_x(&data, &mut model, &mut recorder, &config, Some(&store)).unwrap();
    let batches = data.train.len().div_ceil(config.batch_size);
    let first_calls: Vec<bool> = recorder.seen.iter().step_by(batches).copied().collect();
    assert_eq!(
        first_calls,
        [false, true, true],
        "at each epoch's first batch"
    );
}

/// `epoch_seconds` in a state file's JSON metadata: the seconds already spent in the epoch in
/// progress (read with the safetensors crate, which the state file's format is).
fn saved_epoch_seconds(state: &Path) -> f64 {
    let bytes = std::fs::read(state).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().as_ref().expect("a state has metadata");
    let scalars: serde_json::Value = serde_json::from_str(&metadata["state"]).unwrap();
    scalars["epoch_seconds"].as_f64().unwrap()
}

/// A stop in the middle of an epoch saves the seconds that epoch has taken so far, and the
/// process that resumes it adds its own: none of an interrupted epoch's time is lost. The first
/// process's batch sleeps 300 ms and the second's does not, so a resume that dropped the saved
/// seconds would save less the second time, not more.
#[test]
fn a_stop_mid_epoch_saves_the_epochs_seconds_so_far_and_a_resume_adds_to_them() {
    let config = config(600, 1);
    let (data, dir, _) = stored(&config);
    let first_batch_sleeps = std::time::Duration::from_millis(300);
    let mut saved = Vec::new();
    for delay in [first_batch_sleeps, std::time::Duration::ZERO] {
        let stop = Stop::default();
        stop.request(2); // before the fit starts: it stops after its next batch
        let store = StateStore::new(dir.path(), &config, stop);
        let mut model = Mlp::<f32>::new(&[784, 16, 10], 0.0, 3);
        let mut recorder = Recorder {
            delay,
            ..Recorder::default()
        };
        let result = fit_x(&data, &mut model, &mut recorder, &config, Some(&store));
        assert!(
            matches!(result, Err(Error::Interrupted { .. })),
            "{result:?}"
        );
        saved.push(saved_epoch_seconds(&store.path("x")));
    }
    assert!(
        first_batch_sleeps.as_secs_f64() <= saved[0] && saved[0] < saved[1],
        "{saved:?}"
    );
}

#[test]
fn a_non_finite_loss_names_its_exact_batch() {
    let config = config(600, 2);
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let batches = data.train.len().div_ceil(config.batch_size);
    for call in [1, 3, batches + 2] {
        let mut model = Mlp::<f32>::new(&[784, 16, 10], 0.0, 3);
        let mut recorder = Recorder {
            nan_at: Some(call),
            ..Recorder::default()
        };
        let err = fit_x(&data, &mut model, &mut recorder, &config, None);
        let (epoch, batch) = ((call - 1) / batches + 1, (call - 1) % batches + 1);
        match err {
            Err(Error::NonFinite {
                epoch: e,
                batch: b,
                loss,
            }) => {
                assert_eq!((e, b), (epoch, batch), "NaN at training call {call}");
                assert!(loss.is_nan());
            }
            other => panic!("call {call}: expected NonFinite, got {other:?}"),
        }
    }
}

/// Parameters of a model trained for `epochs` with validation losses `script` (one per epoch).
fn trained(data: &Prepared, epochs: usize, patience: usize, script: &[f64]) -> (Vec<f32>, usize) {
    let config = TrainConfig {
        patience,
        ..config(600, epochs)
    };
    let mut model = Mlp::<f32>::new(&[784, 16, 10], 0.0, 4);
    let mut recorder = Recorder {
        scripted_validation: script.to_vec(),
        ..Recorder::default()
    };
    let outcome = fit_x(data, &mut model, &mut recorder, &config, None).unwrap();
    let mut parameters = Vec::new();
    model.visit_parameters(|_, p, _| parameters.extend_from_slice(p));
    assert_eq!(outcome.epochs_run, recorder.validation.len());
    (parameters, outcome.best_epoch)
}

#[test]
fn the_best_epochs_weights_are_restored_not_the_last() {
    let data = Prepared::load(&default_data_dir(), &config(600, 1)).unwrap();
    // Validation losses 3, 1, 2, 2.5: epoch 2 is the best; all four epochs run (patience 5).
    let (restored, best) = trained(&data, 4, 5, &[3.0, 1.0, 2.0, 2.5]);
    assert_eq!(best, 2);
    // The same training stopped after epoch 2 (its last epoch is its best): the same weights.
    let (after_two, best_two) = trained(&data, 2, 5, &[3.0, 1.0]);
    assert_eq!(best_two, 2);
    assert!(restored == after_two, "the model holds epoch 2's weights");
    let (last, _) = trained(&data, 4, 5, &[4.0, 3.0, 2.0, 1.0]);
    assert!(restored != last, "training went on after epoch 2");
    // Patience 1: stops after epoch 3 (no improvement on 1), and restores epoch 2 again.
    let (stopped, best) = trained(&data, 4, 1, &[3.0, 1.0, 2.0, 0.5]);
    assert_eq!((stopped == after_two, best), (true, 2));
}

/// A state file that exists but cannot be read (here: a folder in its place) is an error before
/// any batch, not a fresh start that would overwrite it later.
#[test]
fn an_unreadable_state_is_an_error_before_any_batch() {
    let config = config(600, 2);
    let (data, _dir, store) = stored(&config);
    std::fs::create_dir(store.path("x")).unwrap();
    let mut model = Mlp::<f32>::new(&[784, 16, 10], 0.0, 3);
    let mut recorder = Recorder::default();
    let result = fit_x(&data, &mut model, &mut recorder, &config, Some(&store));
    assert!(matches!(result, Err(Error::Io { .. })), "{result:?}");
    assert!(
        recorder.train.is_empty(),
        "trained before reading the state"
    );
}
