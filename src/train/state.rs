//! The resumable training state: what a fit needs to continue exactly where it stopped, so that
//! an interrupted and resumed training ends with the bytes of an uninterrupted one.
//!
//! A [`StateStore`] names a folder, the settings of the run (any serialisable config) and a
//! [`Stop`] flag. [`fit`](super::fit) given a store keeps `<folder>/<label>.state` for the model
//! it trains, `label` being the model's name ("teacher", "distilled", ...):
//! ```text
//! start        no file → train from scratch;  a finished state → the final model and outcome,
//!              no training;  a state in progress → continue from its epoch and batch;
//!              settings that differ from the stored ones → Error::ResumeMismatch naming the key
//! each epoch   after validation and early stopping: write the state (atomically)
//! each batch   Stop requested → write the state at this batch, return Error::Interrupted
//! the end      the best epoch's weights restored → write the finished state
//! ```
//! A command that trains several models into one folder passes one store to all of them:
//! finished models are skipped, the unfinished one continues. Nothing resume-specific reaches a
//! checkpoint or a report (the outcome's timings are the one thing that differs: they add up the
//! seconds of every process).
//!
//! # Why this is enough to continue bit-identically
//! A fit's randomness is the model's dropout mask stream (saved) and the shuffle of each epoch,
//! which is a function of (seed, epoch) alone ([`crate::data::shuffled_indices`]); any stream
//! derived from (seed, epoch, index) needs nothing saved either. The objectives hold no state
//! between batches (the distiller's teacher logits are recomputed from the frozen teacher).
//! Everything else that changes is saved with its exact bits: parameters, Adam's moments and
//! step count, the best epoch's parameters, early stopping, the history and the running sums of
//! the epoch in progress (f64 in JSON round-trips exactly).
//!
//! # File format: `<label>.state`
//! A safetensors file in the layout of [`crate::checkpoint`] (so the same checked reader reads
//! it), slots numbered `k` in [`Mlp::visit_parameters`] order (layer 0's weight row-major, its
//! bias, layer 1's weight, ...):
//! ```text
//! param.{k}    F32 [n_k]   slot k's parameters now (a finished state: the final, best weights)
//! adam.m.{k}   F32 [n_k]   Adam's first moments   } only in progress, once a step was taken
//! adam.v.{k}   F32 [n_k]   Adam's second moments  }
//! best.{k}     F32 [n_k]   the best epoch's parameters (only in progress, once there is one)
//! __metadata__ format = "distill-state", version = "1", state = JSON:
//!   settings        the run's settings, compared key by key on resume
//!   finished        true once the fit is over (then best_epoch is the outcome's)
//!   epoch           the epoch in progress or next to start, 1-based
//!   batches_done    batches of `epoch` already done (0 at an epoch boundary)
//!   sums, correct   Σ_batches B·term and correct predictions of `epoch` so far
//!   epoch_seconds   seconds already spent in `epoch`;  train_seconds: in finished epochs
//!   history         the per-epoch series so far;  epochs_run, best_epoch
//!   stopping        early stopping {patience, best (null = inf), best_epoch, wait}
//!   adam_steps      Adam's t;  mask_rng: the dropout stream's xoshiro256++ state {s: [4 u64]}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::atomic::write_atomic;
use crate::checkpoint::{decode_tensors, encode_tensors};
use crate::error::{Error, Result};
use crate::nn::{MaskRng, Mlp};
use crate::optim::Adam;
use crate::train::early_stopping::EarlyStopping;
use crate::train::fit::{FitOutcome, History};

/// The `format` metadata value of a state file.
pub const STATE_FORMAT: &str = "distill-state";

/// The state file's extension: `<label>.state`.
pub const STATE_EXTENSION: &str = "state";

/// A request to stop, shared with whoever requests it (a signal handler, a test): the number of
/// the signal that asked, 0 for none. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicUsize>);

impl Stop {
    /// Asks every fit that watches this flag to stop after its current batch.
    pub fn request(&self, signal: i32) {
        self.0.store(signal.max(1) as usize, Ordering::SeqCst);
    }

    /// The signal that asked to stop, if one did.
    pub fn requested(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }

    /// The shared flag itself (e.g. for `signal_hook::flag::register_usize`).
    pub fn flag(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.0)
    }
}

/// Where fits keep their states, the settings those belong to, and the flag that stops them.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    settings: Value,
    stop: Stop,
}

impl StateStore {
    /// States in `dir`, for a run of `settings` (any serialisable config: everything that must
    /// be equal for a resumed run to continue this one), stopped by `stop`.
    pub fn new(dir: &Path, settings: &impl Serialize, stop: Stop) -> Self {
        StateStore {
            dir: dir.to_path_buf(),
            settings: serde_json::to_value(settings).expect("settings are plain data"),
            stop,
        }
    }

    /// The state file of the model `label`.
    pub fn path(&self, label: &str) -> PathBuf {
        self.dir.join(format!("{label}.{STATE_EXTENSION}"))
    }

    /// The flag the fits of this store watch.
    pub fn stop(&self) -> &Stop {
        &self.stop
    }
}

/// The state of a fit between two batches, beside the model and the optimiser.
#[derive(Debug, Clone)]
pub(crate) struct FitState {
    pub history: History,
    pub stopping: EarlyStopping,
    /// The best epoch's parameters per slot (empty before the first improvement).
    pub best_weights: Vec<Vec<f32>>,
    pub epochs_run: usize,
    /// The epoch in progress or next to start (1-based).
    pub epoch: usize,
    /// Batches of `epoch` already done.
    pub batches_done: usize,
    /// Σ_batches B·term of `epoch` so far, one per objective term.
    pub sums: Vec<f64>,
    /// Correct predictions of `epoch` so far.
    pub correct: usize,
    /// Seconds spent in `epoch` by earlier processes.
    pub epoch_seconds: f64,
    /// Seconds spent in earlier epochs and processes.
    pub train_seconds: f64,
}

impl FitState {
    /// The state of a fit that has not started: epoch 1, nothing done.
    pub fn new(terms: usize, patience: usize) -> Self {
        FitState {
            history: History::new(),
            stopping: EarlyStopping::new(patience),
            best_weights: Vec::new(),
            epochs_run: 0,
            epoch: 1,
            batches_done: 0,
            sums: vec![0.0; terms],
            correct: 0,
            epoch_seconds: 0.0,
            train_seconds: 0.0,
        }
    }

    /// Moves to the start of the next epoch.
    pub fn next_epoch(&mut self) {
        self.epoch += 1;
        self.batches_done = 0;
        self.sums.iter_mut().for_each(|s| *s = 0.0);
        self.correct = 0;
        self.epoch_seconds = 0.0;
    }
}

/// What a store holds for a model.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// Nothing: train from the start.
    Fresh,
    /// A fit in progress; the model and optimiser have been restored.
    Resumed(FitState),
    /// A finished fit; the model holds its final weights.
    Finished(FitOutcome),
}

/// The scalar part of a state file (the `state` metadata entry).
#[derive(Debug, Serialize, Deserialize)]
struct Scalars {
    settings: Value,
    finished: bool,
    epoch: usize,
    batches_done: usize,
    sums: Vec<f64>,
    correct: usize,
    epoch_seconds: f64,
    train_seconds: f64,
    history: History,
    epochs_run: usize,
    best_epoch: usize,
    stopping: EarlyStopping,
    adam_steps: u64,
    mask_rng: MaskRng,
    /// The input-dropout stream, only for a model with input dropout (absent otherwise, so
    /// the state of a model without it is unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_mask_rng: Option<MaskRng>,
}

impl StateStore {
    /// Writes the state of a fit in progress (atomically); this process has trained for
    /// `seconds` on top of the state's `train_seconds`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn save_progress(
        &self,
        label: &str,
        model: &mut Mlp<f32>,
        adam: &Adam<f32>,
        state: &FitState,
        seconds: f64,
    ) -> Result<()> {
        let params = parameters(model);
        let mut tensors: Vec<(String, &[f32])> = slots("param", &params);
        for (k, _) in params.iter().enumerate() {
            if let Some((m, v)) = adam.moments(k) {
                tensors.push((format!("adam.m.{k}"), m));
                tensors.push((format!("adam.v.{k}"), v));
            }
        }
        tensors.extend(slots("best", &state.best_weights));
        let scalars = Scalars {
            settings: self.settings.clone(),
            finished: false,
            epoch: state.epoch,
            batches_done: state.batches_done,
            sums: state.sums.clone(),
            correct: state.correct,
            epoch_seconds: state.epoch_seconds,
            train_seconds: state.train_seconds + seconds,
            history: state.history.clone(),
            epochs_run: state.epochs_run,
            best_epoch: state.stopping.best_epoch(),
            stopping: state.stopping.clone(),
            adam_steps: adam.steps(),
            mask_rng: model.mask_rng().clone(),
            input_mask_rng: input_mask_rng(model),
        };
        self.write(label, &tensors, &scalars)
    }

    /// Writes the state of a finished fit: the model's final weights and the outcome.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn save_finished(
        &self,
        label: &str,
        model: &mut Mlp<f32>,
        outcome: &FitOutcome,
    ) -> Result<()> {
        let params = parameters(model);
        let scalars = Scalars {
            settings: self.settings.clone(),
            finished: true,
            epoch: outcome.epochs_run,
            batches_done: 0,
            sums: Vec::new(),
            correct: 0,
            epoch_seconds: 0.0,
            train_seconds: outcome.train_seconds,
            history: outcome.history.clone(),
            epochs_run: outcome.epochs_run,
            best_epoch: outcome.best_epoch,
            stopping: EarlyStopping::new(0),
            adam_steps: 0,
            mask_rng: model.mask_rng().clone(),
            input_mask_rng: input_mask_rng(model),
        };
        self.write(label, &slots("param", &params), &scalars)
    }

    fn write(&self, label: &str, tensors: &[(String, &[f32])], scalars: &Scalars) -> Result<()> {
        let path = self.path(label);
        let metadata = BTreeMap::from([
            ("format".to_string(), STATE_FORMAT.to_string()),
            ("version".to_string(), "1".to_string()),
            (
                "state".to_string(),
                serde_json::to_string(scalars).expect("a state is plain data"),
            ),
        ]);
        let views = tensors
            .iter()
            .map(|(name, values)| (name.clone(), ArrayView1::from(*values).into_dyn()))
            .collect();
        let bytes = encode_tensors(views, &metadata).map_err(|reason| Error::State {
            path: path.clone(),
            reason,
        })?;
        write_atomic(&path, &bytes)
    }

    /// Reads the state of `label`, if there is one, into `model` and `adam`.
    ///
    /// # Errors
    /// [`Error::ResumeMismatch`] naming the first setting that differs from the stored ones;
    /// [`Error::State`] for a file that is damaged or does not fit the model (`terms` objective
    /// terms); [`Error::Io`].
    pub(crate) fn load(
        &self,
        label: &str,
        model: &mut Mlp<f32>,
        adam: &mut Adam<f32>,
        terms: usize,
    ) -> Result<Loaded> {
        let path = self.path(label);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Fresh),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let bad = |reason: String| Error::State {
            path: path.clone(),
            reason,
        };
        let mut file = decode_tensors(&bytes).map_err(bad)?;
        if file.metadata.get("format").map(String::as_str) != Some(STATE_FORMAT) {
            return Err(bad(format!("not a {STATE_FORMAT} file")));
        }
        let scalars: Scalars = file
            .metadata
            .get("state")
            .ok_or_else(|| "no state metadata".to_string())
            .and_then(|s| serde_json::from_str(s).map_err(|e| format!("state metadata: {e}")))
            .map_err(bad)?;
        if let Some((setting, stored, current)) =
            first_difference(&scalars.settings, &self.settings, "")
        {
            return Err(Error::ResumeMismatch {
                path: path.clone(),
                setting,
                stored: stored.to_string(),
                current: current.to_string(),
            });
        }
        let sizes = slot_sizes(model);
        let mut take = |prefix| take_slots(&mut file.tensors, prefix, &sizes).map_err(bad);
        let params = take("param")?.ok_or_else(|| bad("no parameters".into()))?;
        let m = take("adam.m")?;
        let v = take("adam.v")?;
        let best = take("best")?.unwrap_or_default();
        if let Some(name) = file.tensors.keys().next() {
            return Err(bad(format!(
                "unexpected tensor {name} (the model has {} slots)",
                sizes.len()
            )));
        }
        if !scalars.finished && scalars.sums.len() != terms {
            return Err(bad(format!(
                "{} loss sums, but the objective has {terms} terms",
                scalars.sums.len()
            )));
        }
        if scalars.epoch == 0 {
            return Err(bad("epoch 0: epochs count from 1".into()));
        }
        model.visit_parameters(|k, p, _| p.copy_from_slice(&params[k]));
        model.set_mask_rng(scalars.mask_rng);
        if let Some(rng) = scalars.input_mask_rng {
            model.set_input_mask_rng(rng);
        }
        if scalars.finished {
            return Ok(Loaded::Finished(FitOutcome {
                history: scalars.history,
                epochs_run: scalars.epochs_run,
                best_epoch: scalars.best_epoch,
                train_seconds: scalars.train_seconds,
            }));
        }
        let moments = match (m, v) {
            (Some(m), Some(v)) => m.into_iter().zip(v).map(Some).collect(),
            (None, None) => Vec::new(),
            _ => return Err(bad("Adam's m and v must come together".into())),
        };
        adam.restore(scalars.adam_steps, moments);
        Ok(Loaded::Resumed(FitState {
            history: scalars.history,
            stopping: scalars.stopping,
            best_weights: best,
            epochs_run: scalars.epochs_run,
            epoch: scalars.epoch,
            batches_done: scalars.batches_done,
            sums: scalars.sums,
            correct: scalars.correct,
            epoch_seconds: scalars.epoch_seconds,
            train_seconds: scalars.train_seconds,
        }))
    }
}

/// Every parameter slot's values, in slot order.
fn parameters(model: &mut Mlp<f32>) -> Vec<Vec<f32>> {
    let mut params = Vec::new();
    model.visit_parameters(|_, p, _| params.push(p.to_vec()));
    params
}

fn slot_sizes(model: &mut Mlp<f32>) -> Vec<usize> {
    let mut sizes = Vec::new();
    model.visit_parameters(|_, p, _| sizes.push(p.len()));
    sizes
}

/// Removes `prefix.{k}` for every slot `k` from `tensors`: `None` when there is none, an error
/// when only some are there or a length differs from the slot's.
fn take_slots(
    tensors: &mut BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    prefix: &str,
    sizes: &[usize],
) -> std::result::Result<Option<Vec<Vec<f32>>>, String> {
    let found: Vec<Option<Vec<f32>>> = (0..sizes.len())
        .map(|k| tensors.remove(&format!("{prefix}.{k}")).map(|(_, v)| v))
        .collect();
    if found.iter().all(Option::is_none) {
        return Ok(None);
    }
    found
        .into_iter()
        .zip(sizes)
        .enumerate()
        .map(|(k, (values, &n))| match values {
            None => Err(format!("{prefix}.{k} is missing")),
            Some(v) if v.len() != n => Err(format!(
                "{prefix}.{k} holds {} values but slot {k} of the model has {n}: another model's state",
                v.len()
            )),
            Some(v) => Ok(v),
        })
        .collect::<std::result::Result<_, _>>()
        .map(Some)
}

/// `(prefix.k, values_k)` for every slot.
fn slots<'a>(prefix: &str, values: &'a [Vec<f32>]) -> Vec<(String, &'a [f32])> {
    values
        .iter()
        .enumerate()
        .map(|(k, v)| (format!("{prefix}.{k}"), v.as_slice()))
        .collect()
}

/// The first setting (a dotted key path, in key order) whose value differs between `stored`
/// and `current`, with both values (`null` for a key one side lacks).
pub fn first_difference(
    stored: &Value,
    current: &Value,
    path: &str,
) -> Option<(String, Value, Value)> {
    match (stored, current) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                first_difference(
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    &child,
                )
            })
        }
        (a, b) if a == b => None,
        (a, b) => Some((path.to_string(), a.clone(), b.clone())),
    }
}

/// The input-dropout stream of a model that has input dropout.
fn input_mask_rng(model: &Mlp<f32>) -> Option<MaskRng> {
    (model.input_dropout() > 0.0).then(|| model.input_mask_rng().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::AdamConfig;
    use serde_json::json;

    #[test]
    fn the_first_differing_setting_is_named_by_its_key_path() {
        let stored = json!({"train": {"epochs": 3, "seed": 42}, "teacher": {"hidden": [64]}});
        assert_eq!(first_difference(&stored, &stored, ""), None);
        let current = json!({"train": {"epochs": 5, "seed": 42}, "teacher": {"hidden": [32]}});
        assert_eq!(
            first_difference(&stored, &current, ""),
            Some(("teacher.hidden".into(), json!([64]), json!([32]))) // key order: teacher < train
        );
        let epochs = json!({"train": {"epochs": 5, "seed": 42}, "teacher": {"hidden": [64]}});
        assert_eq!(
            first_difference(&stored, &epochs, ""),
            Some(("train.epochs".into(), json!(3), json!(5)))
        );
        let added =
            json!({"train": {"epochs": 3, "seed": 42, "jitter": 2}, "teacher": {"hidden": [64]}});
        assert_eq!(
            first_difference(&stored, &added, ""),
            Some(("train.jitter".into(), Value::Null, json!(2)))
        );
    }

    /// A state saved before Adam's first step has no moment tensors (the format's "only once a
    /// step was taken"): it loads, and the optimiser continues from `t = 0` with no moments.
    #[test]
    fn a_state_saved_before_the_first_step_loads_without_moments() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), &json!({"epochs": 2}), Stop::default());
        let mut saved = Mlp::<f32>::new(&[4, 3, 2], 0.5, 7);
        let fresh = Adam::<f32>::new(AdamConfig::default());
        store
            .save_progress("m", &mut saved, &fresh, &FitState::new(1, 2), 0.25)
            .unwrap();

        let mut model = Mlp::<f32>::new(&[4, 3, 2], 0.5, 8);
        let mut adam = Adam::<f32>::new(AdamConfig::default());
        adam.begin_step();
        adam.update(0, &mut [0.0; 12], &[1.0; 12]);
        let state = match store.load("m", &mut model, &mut adam, 1).unwrap() {
            Loaded::Resumed(state) => state,
            other => panic!("expected a state in progress, got {other:?}"),
        };
        assert_eq!((state.epoch, state.train_seconds), (1, 0.25));
        assert_eq!((adam.steps(), adam.moments(0)), (0, None));
        assert_eq!(parameters(&mut model), parameters(&mut saved));
    }

    #[test]
    fn a_stop_request_remembers_its_signal() {
        let stop = Stop::default();
        let shared = stop.clone();
        assert_eq!(stop.requested(), None);
        shared.request(15);
        assert_eq!(stop.requested(), Some(15));
    }
}
