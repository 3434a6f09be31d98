//! The fit loop: Keras' `model.fit` with Adam, validation and early stopping.
//!
//! ```text
//! for epoch in 1..=E:
//!     lr_e = schedule(lr, epoch, E)                    constant unless --lr-schedule
//!     for each batch of a seeded shuffle of the training part:
//!         x  = gather(batch), each image jittered      only with --jitter
//!         z  = model.forward(x, Train)               logits, dropout active
//!         L, ∂L/∂z = objective(z, y)                  mean over the batch
//!         model.backward(∂L/∂z); Adam step            this batch's gradients only (overwritten)
//!         W_l ← max_norm(W_l, C), hidden layers       only with --max-norm
//!     val = objective(model.forward(x_val, Eval))     the same loss on the validation part
//!     if val < best: best = val, keep weights, wait = 0
//!     else wait += 1; stop when wait ≥ patience       (min_delta 0, strict improvement)
//! restore the best epoch's weights
//! ```
//! Restoring happens at the end whether or not training stopped early, as Keras 3's
//! `EarlyStopping(restore_best_weights=True)` does.

use std::collections::BTreeMap;
use std::time::Instant;

use ndarray::{s, Array2};

use crate::config::TrainConfig;
use crate::data::{shuffled_indices, Jitter, Split};
use crate::error::{Error, Result};
use crate::metrics::{error_count, predictions};
use crate::nn::{Gradients, Mlp, Mode};
use crate::optim::{max_norm_columns, Adam, AdamConfig};
use crate::train::early_stopping::Verdict;
use crate::train::inference::logits;
use crate::train::objective::{Objective, Part};
use crate::train::progress::Progress;
use crate::train::state::{FitState, Loaded, StateStore};

/// Per-epoch series by name: every objective term, `accuracy`, their `val_` twins, `seconds`.
pub type History = BTreeMap<String, Vec<f64>>;

/// What a fit did (`Default`: nothing, for a model that was loaded rather than trained).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FitOutcome {
    /// Per-epoch series.
    pub history: History,
    /// Epochs actually run (fewer than the maximum when early stopping fired).
    pub epochs_run: usize,
    /// The 1-based epoch whose weights the model holds at the end.
    pub best_epoch: usize,
    /// Wall time of all epochs (training and validation).
    pub train_seconds: f64,
}

/// Trains `model` on `train` to minimise `objective`, validating on `validation`.
///
/// `label` names the model in progress lines and its state file. With an empty `validation`
/// there is no early stopping: all epochs run and the last weights are kept. With a `store`
/// (see [`super::state`]), the fit continues the state it finds there (or returns at once when
/// that state is finished), writes its state after every epoch and at the end, and stops after
/// the current batch when the store's [`Stop`](super::Stop) is requested; without one it does
/// none of that and its arithmetic is the same.
///
/// # Errors
/// [`Error::NonFinite`] when a batch loss is NaN or infinite (the epoch and batch are named;
/// nothing has been written anywhere), [`Error::NonFiniteValidation`] likewise for the
/// validation loss, [`Error::InvalidConfig`] for an invalid `config`; with a store,
/// [`Error::Interrupted`] after saving the state of a stopped fit, the errors of reading a
/// state ([`Error::ResumeMismatch`], [`Error::State`]) and of writing one ([`Error::Io`]).
#[allow(clippy::too_many_arguments)] // the fit's inputs, each needed; a struct would only rename them
pub fn fit(
    model: &mut Mlp<f32>,
    train: &Split,
    validation: &Split,
    objective: &mut dyn Objective,
    config: &TrainConfig,
    label: &str,
    progress: Progress,
    store: Option<&StateStore>,
) -> Result<FitOutcome> {
    config.validate()?;
    let terms = objective.terms();
    let mut adam = Adam::<f32>::new(AdamConfig {
        learning_rate: config.learning_rate,
        ..AdamConfig::default()
    });
    let mut state = FitState::new(terms.len(), config.patience);
    if let Some(store) = store {
        match store.load(label, model, &mut adam, terms.len())? {
            Loaded::Fresh => {}
            Loaded::Resumed(saved) => {
                progress.line(&format!(
                    "{label}: resuming epoch {} after batch {}",
                    saved.epoch, saved.batches_done
                ));
                state = saved;
            }
            Loaded::Finished(outcome) => {
                progress.line(&format!("{label}: finished before, skipped"));
                return Ok(outcome);
            }
        }
    }
    let batch = config.batch_size.min(train.len()).max(1);
    let mut x = Array2::<f32>::zeros((batch, train.input_size()));
    let mut y = Vec::with_capacity(batch);
    let batches = train.len().div_ceil(batch);
    let started = Instant::now();
    let regularisation = config.regularisation;

    while state.epoch <= config.epochs {
        let epoch = state.epoch;
        let epoch_start = Instant::now();
        if !config.lr_schedule.is_constant() {
            let lr = config
                .lr_schedule
                .rate(config.learning_rate, epoch, config.epochs);
            adam.set_learning_rate(lr);
            if state.batches_done == 0 {
                push(&mut state.history, "learning_rate", lr); // once per epoch, not again on resume
            }
        }
        let jitter = (regularisation.jitter > 0).then_some(Jitter {
            pixels: regularisation.jitter,
            seed: config.seed,
            epoch: epoch as u64,
        });
        let order = shuffled_indices(train.len(), config.seed, epoch as u64);
        let bar = progress.epoch(&format!("{label} {epoch}/{}", config.epochs), batches);
        for (b, indices) in order.chunks(batch).enumerate().skip(state.batches_done) {
            let mut xb = x.slice_mut(s![..indices.len(), ..]);
            train.gather_jittered_into(indices, jitter.as_ref(), xb.view_mut(), &mut y);
            let z = model.forward(xb.view(), Mode::Train);
            state.correct += count_correct(z, &y);
            let loss = objective.batch(z, &y, indices, Part::Train);
            if !loss.total().is_finite() {
                return Err(Error::NonFinite {
                    epoch,
                    batch: b + 1,
                    loss: loss.total(),
                });
            }
            adam.begin_step();
            // Fresh dW, db per layer, each layer's Adam update right after its backward.
            model.backward_then_update(loss.dz.view(), Gradients::Overwrite, |slot, p, g| {
                adam.update(slot, p, g)
            });
            if let Some(c) = regularisation.max_norm {
                let hidden = model.layers().len() - 1;
                for layer in &mut model.layers_mut()[..hidden] {
                    max_norm_columns(layer.weight.view_mut(), c); // ‖W[:, j]‖ ≤ C
                }
            }
            for (sum, term) in state.sums.iter_mut().zip(&loss.terms) {
                *sum += term * indices.len() as f64; // Σ_batches B·term
            }
            let seen = (b * batch + indices.len()) as f64;
            let (total, correct) = (state.sums[terms.len() - 1], state.correct);
            bar.batch_done(b, total / seen, correct as f64 / seen);
            state.batches_done = b + 1;
            if let Some((store, signal)) = store.and_then(|s| Some((s, s.stop().requested()?))) {
                state.epoch_seconds += epoch_start.elapsed().as_secs_f64();
                let seconds = started.elapsed().as_secs_f64();
                store.save_progress(label, model, &adam, &state, seconds)?;
                return Err(Error::Interrupted {
                    signal,
                    state: store.path(label),
                });
            }
        }
        let n = train.len() as f64;
        for (name, sum) in terms.iter().zip(&state.sums) {
            push(&mut state.history, name, sum / n);
        }
        push(&mut state.history, "accuracy", state.correct as f64 / n);
        state.epochs_run = epoch;

        let mut stop = false;
        if !validation.is_empty() {
            let z = logits(model, validation);
            let all: Vec<usize> = (0..validation.len()).collect();
            let val = objective.batch(z.view(), validation.labels(), &all, Part::Validation);
            if !val.total().is_finite() {
                return Err(Error::NonFiniteValidation {
                    epoch,
                    loss: val.total(),
                });
            }
            for (name, value) in terms.iter().zip(&val.terms) {
                push(&mut state.history, &format!("val_{name}"), *value);
            }
            let val_acc =
                count_correct(z.view(), validation.labels()) as f64 / validation.len() as f64;
            push(&mut state.history, "val_accuracy", val_acc);
            match state.stopping.update(epoch, val.total()) {
                Verdict::Improved => snapshot(model, &mut state.best_weights),
                Verdict::Wait => {}
                Verdict::Stop => stop = true,
            }
        }
        let seconds = state.epoch_seconds + epoch_start.elapsed().as_secs_f64();
        push(&mut state.history, "seconds", seconds);
        bar.finish(&epoch_line(
            label,
            epoch,
            config.epochs,
            seconds,
            &state.history,
        ));
        state.next_epoch();
        if stop {
            progress.line(&format!(
                "{label}: early stopping after epoch {epoch}; restoring epoch {} (val {} {:.6})",
                state.stopping.best_epoch(),
                terms[terms.len() - 1],
                state.stopping.best()
            ));
            break;
        }
        if let Some(store) = store.filter(|_| state.epoch <= config.epochs) {
            let seconds = started.elapsed().as_secs_f64();
            store.save_progress(label, model, &adam, &state, seconds)?;
        }
    }

    let best_epoch = if state.best_weights.is_empty() {
        state.epochs_run // no validation, or it never improved: keep the last weights
    } else {
        restore(model, &state.best_weights);
        state.stopping.best_epoch()
    };
    let outcome = FitOutcome {
        history: state.history,
        epochs_run: state.epochs_run,
        best_epoch,
        train_seconds: state.train_seconds + started.elapsed().as_secs_f64(),
    };
    if let Some(store) = store {
        store.save_finished(label, model, &outcome)?;
    }
    Ok(outcome)
}

fn push(history: &mut History, name: &str, value: f64) {
    history.entry(name.to_string()).or_default().push(value);
}

/// Correct arg-max predictions of logits `z` against `labels`.
fn count_correct(z: ndarray::ArrayView2<f32>, labels: &[u8]) -> usize {
    labels.len() - error_count(&predictions(z), labels)
}

/// Copies every parameter into `weights`, in slot order, reusing its buffers.
fn snapshot(model: &mut Mlp<f32>, weights: &mut Vec<Vec<f32>>) {
    model.visit_parameters(|slot, p, _| match weights.get_mut(slot) {
        Some(kept) => kept.copy_from_slice(p),
        None => weights.push(p.to_vec()),
    });
}

/// Writes a [`snapshot`] back.
fn restore(model: &mut Mlp<f32>, weights: &[Vec<f32>]) {
    model.visit_parameters(|slot, p, _| p.copy_from_slice(&weights[slot]));
}

/// `teacher 3/50 - 4.1s - loss: 0.1234 - accuracy: 0.9612 - val_loss: 0.0812 - ...`
fn epoch_line(label: &str, epoch: usize, epochs: usize, seconds: f64, history: &History) -> String {
    let mut line = format!("{label} {epoch}/{epochs} - {seconds:.1}s");
    for (name, series) in history.iter().filter(|(name, _)| *name != "seconds") {
        match series.last() {
            Some(v) if name == "learning_rate" => line += &format!(" - {name}: {v:.3e}"),
            Some(v) => line += &format!(" - {name}: {v:.4}"),
            None => {}
        }
    }
    line
}
