//! Resumable training (src/train/state.rs): a fit stopped after every single batch and resumed
//! each time ends bit-identical to an uninterrupted one; a finished state is skipped; different
//! settings and damaged state files are refused with a clear error.

use std::path::Path;

use distill::config::{ModelConfig, TrainConfig};
use distill::data::default_data_dir;
use distill::experiment::{train_distilled, train_plain, Prepared, Trained};
use distill::loss::DistillLoss;
use distill::nn::Mlp;
use distill::train::{FitOutcome, Progress, StateStore, Stop};
use distill::Error;

const QUIET: Progress = Progress { quiet: true };

/// 5 batches of 64 per epoch (the last one short), 3 epochs, early stopping on.
fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        train_limit: Some(330),
        patience: 1,
        ..TrainConfig::default()
    }
}

/// A teacher with dropout, so the mask stream must be restored too.
fn teacher() -> ModelConfig {
    ModelConfig {
        hidden: vec![32, 16],
        dropout: 0.5,
    }
}

fn parameters(model: &mut Mlp<f32>) -> Vec<Vec<f32>> {
    let mut all = Vec::new();
    model.visit_parameters(|_, p, _| all.push(p.to_vec()));
    all
}

/// The outcome without its timings (`seconds`, `train_seconds`), which a resumed fit adds up.
fn untimed(outcome: &FitOutcome) -> FitOutcome {
    let mut o = outcome.clone();
    o.history.remove("seconds");
    o.train_seconds = 0.0;
    o
}

/// Trains `label` into `dir`, stopping after every batch and resuming, until it finishes;
/// returns the result and how many times it was interrupted.
fn train_in_steps(
    dir: &Path,
    settings: &TrainConfig,
    mut train: impl FnMut(&StateStore) -> distill::Result<Trained>,
) -> (Trained, usize) {
    let mut interruptions = 0;
    loop {
        let stop = Stop::default();
        stop.request(2); // before the fit starts: it stops after its first batch
        match train(&StateStore::new(dir, settings, stop)) {
            Ok(trained) => return (trained, interruptions),
            Err(Error::Interrupted { signal, state }) => {
                assert_eq!(signal, 2);
                assert!(state.starts_with(dir) && state.exists());
                interruptions += 1;
                assert!(interruptions < 100, "no progress");
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

/// Trains the teacher once straight through and once stopped after every batch and resumed from
/// its state in `dir`; asserts both give the same weights and outcome, and returns both.
fn teacher_resumes_bit_identically(
    dir: &Path,
    data: &Prepared,
    config: &TrainConfig,
) -> (Trained, Trained) {
    let mut plain = train_plain(data, &teacher(), config, 42, "teacher", QUIET, None).unwrap();
    let (mut resumed, stops) = train_in_steps(dir, config, |store| {
        train_plain(data, &teacher(), config, 42, "teacher", QUIET, Some(store))
    });
    // every batch of every epoch run (early stopping may end it before the last epoch)
    assert_eq!(stops, 5 * plain.outcome.epochs_run);
    assert_eq!(parameters(&mut resumed.model), parameters(&mut plain.model));
    assert_eq!(untimed(&resumed.outcome), untimed(&plain.outcome));
    // the timings add up over the processes: each epoch's seconds lie within the whole fit's
    let epochs: f64 = resumed.outcome.history["seconds"].iter().sum();
    let whole = resumed.outcome.train_seconds;
    assert!(
        0.0 < epochs && epochs <= whole,
        "Σ epochs {epochs} s, fit {whole} s"
    );
    (plain, resumed)
}

#[test]
fn a_fit_resumed_after_every_batch_is_bit_identical_to_an_uninterrupted_one() {
    let config = config();
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut plain, resumed) = teacher_resumes_bit_identically(dir.path(), &data, &config);

    // The distilled student likewise, from the teacher just trained.
    let loss = DistillLoss::default();
    let student = ModelConfig::student();
    let (mut plain_student, _) = train_distilled(
        &data,
        &plain.model,
        &student,
        &loss,
        &config,
        "distilled",
        QUIET,
        None,
    )
    .unwrap();
    let (mut resumed_student, _) = train_in_steps(dir.path(), &config, |store| {
        train_distilled(
            &data,
            &plain.model,
            &student,
            &loss,
            &config,
            "distilled",
            QUIET,
            Some(store),
        )
        .map(|(trained, _)| trained)
    });
    assert_eq!(
        parameters(&mut resumed_student.model),
        parameters(&mut plain_student.model)
    );
    assert_eq!(
        untimed(&resumed_student.outcome),
        untimed(&plain_student.outcome)
    );

    // Both are finished now: a further call trains nothing and gives the same again, even
    // with a stop request (a finished model needs no batch).
    let (mut again, stops) = train_in_steps(dir.path(), &config, |store| {
        train_plain(
            &data,
            &teacher(),
            &config,
            42,
            "teacher",
            QUIET,
            Some(store),
        )
    });
    assert_eq!(stops, 0);
    assert_eq!(parameters(&mut again.model), parameters(&mut plain.model));
    assert_eq!(again.outcome, resumed.outcome);
}

#[test]
fn different_settings_or_a_damaged_state_are_refused() {
    let config = config();
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stop = Stop::default();
    stop.request(15);
    let store = StateStore::new(dir.path(), &config, stop);
    let first = train_plain(&data, &teacher(), &config, 1, "t", QUIET, Some(&store));
    assert!(matches!(first, Err(Error::Interrupted { signal: 15, .. })));

    let more = TrainConfig {
        epochs: 4,
        ..config.clone()
    };
    let store = StateStore::new(dir.path(), &more, Stop::default());
    match train_plain(&data, &teacher(), &more, 1, "t", QUIET, Some(&store)) {
        Err(Error::ResumeMismatch {
            setting,
            stored,
            current,
            ..
        }) => assert_eq!(
            (setting.as_str(), &*stored, &*current),
            ("epochs", "3", "4")
        ),
        other => panic!("expected ResumeMismatch, got {other:?}"),
    }

    // the same settings but a model of another shape: its tensors do not fit
    let store = StateStore::new(dir.path(), &config, Stop::default());
    let wider = ModelConfig {
        hidden: vec![33, 16],
        ..teacher()
    };
    match train_plain(&data, &wider, &config, 1, "t", QUIET, Some(&store)) {
        Err(Error::State { path, reason }) => {
            assert!(path.ends_with("t.state"), "{path:?}");
            assert!(reason.contains("param.0"), "{reason}");
        }
        other => panic!("expected State, got {other:?}"),
    }

    // every truncation of a state file is an error naming it, never a panic
    let path = store.path("t");
    let bytes = std::fs::read(&path).unwrap();
    for cut in (0..bytes.len()).step_by(bytes.len() / 50) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        match train_plain(&data, &teacher(), &config, 1, "t", QUIET, Some(&store)) {
            Err(Error::State { path: p, .. }) => assert_eq!(p, path),
            other => panic!("cut at {cut}: expected State, got {other:?}"),
        }
    }
}

#[test]
fn a_regularised_fit_resumed_after_every_batch_is_bit_identical() {
    // Input dropout has its own mask stream, which the state must carry too; jitter and the
    // cosine schedule are functions of the epoch, max-norm of the weights.
    let config = TrainConfig {
        lr_schedule: distill::config::LrSchedule::Cosine,
        regularisation: distill::config::Regularisation {
            input_dropout: 0.2,
            max_norm: Some(1.0),
            jitter: 2,
        },
        ..config()
    };
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    teacher_resumes_bit_identically(dir.path(), &data, &config);
}
