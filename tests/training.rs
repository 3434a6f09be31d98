//! Training on a slice of the shipped MNIST: learning, early stopping's restore, the distiller's
//! frozen teacher and cache, non-finite losses, and bit-identical results for 1, 2, 3, 4 and 16 threads.

use distill::config::{ModelConfig, TrainConfig};
use distill::data::default_data_dir;
use distill::experiment::{train_distilled, train_plain, Prepared, Trained};
use distill::loss::{DistillLoss, SoftScale};
use distill::nn::Mlp;
use distill::train::{fit, logits, CrossEntropy, Objective, Part, Progress, TeacherLogits};
use distill::Error;

const QUIET: Progress = Progress { quiet: true };

fn config(limit: usize, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        train_limit: Some(limit),
        ..TrainConfig::default()
    }
}

fn data(config: &TrainConfig) -> Prepared {
    Prepared::load(&default_data_dir(), config).expect("shipped MNIST loads")
}

fn small_teacher() -> ModelConfig {
    ModelConfig {
        hidden: vec![256, 256],
        dropout: 0.5,
    }
}

fn notebook_loss() -> DistillLoss {
    DistillLoss {
        alpha: 0.1,
        temperature: 10.0,
        soft_scale: SoftScale::One,
    }
}

/// Every parameter, flattened, in slot order.
fn parameters(model: &mut Mlp<f32>) -> Vec<Vec<f32>> {
    let mut all = Vec::new();
    model.visit_parameters(|_, p, _| all.push(p.to_vec()));
    all
}

#[test]
fn a_student_learns_from_a_slice_of_mnist() {
    let config = config(3000, 3);
    let data = data(&config);
    let t = train_plain(
        &data,
        &ModelConfig::student(),
        &config,
        7,
        "scratch",
        QUIET,
        None,
    )
    .unwrap();
    let h = &t.outcome.history;
    let loss = &h["loss"];
    assert!(loss[2] < loss[0], "training loss falls: {loss:?}");
    assert!(
        h["val_accuracy"][2] > 0.85,
        "val accuracy {:?}",
        h["val_accuracy"]
    );
    for key in ["loss", "accuracy", "val_loss", "val_accuracy", "seconds"] {
        assert_eq!(h[key].len(), 3, "{key}");
    }
    assert_eq!(t.outcome.epochs_run, 3);
}

#[test]
fn the_restored_weights_are_the_best_epochs() {
    // A high learning rate makes the validation loss wander, so the best epoch is often not the
    // last; either way the final weights must reproduce the best epoch's validation loss exactly.
    let mut config = config(1500, 6);
    config.learning_rate = 0.01;
    config.patience = 2;
    let data = data(&config);
    let t = train_plain(
        &data,
        &ModelConfig::student(),
        &config,
        3,
        "scratch",
        QUIET,
        None,
    )
    .unwrap();
    let best = t.outcome.best_epoch;
    let val = &t.outcome.history["val_loss"];
    assert!(best >= 1 && best <= t.outcome.epochs_run);
    assert_eq!(
        val[best - 1],
        val.iter().copied().fold(f64::INFINITY, f64::min)
    );
    let z = logits(&t.model, &data.validation);
    let all: Vec<usize> = (0..data.validation.len()).collect();
    let now = CrossEntropy.batch(z.view(), data.validation.labels(), &all, Part::Validation);
    assert_eq!(
        now.total(),
        val[best - 1],
        "weights restored from epoch {best}"
    );
}

#[test]
fn a_non_finite_loss_stops_training_with_its_epoch_and_batch() {
    let mut config = config(640, 2);
    config.learning_rate = 1e30;
    let data = data(&config);
    match train_plain(
        &data,
        &ModelConfig::student(),
        &config,
        1,
        "scratch",
        QUIET,
        None,
    ) {
        Err(Error::NonFinite { epoch, batch, loss }) => {
            assert_eq!(epoch, 1);
            assert!(batch >= 2, "the first batch starts from finite weights");
            assert!(!loss.is_finite());
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn distillation_leaves_the_teacher_untouched_and_its_cache_matches_fresh_logits() {
    let config = config(1200, 2);
    let data = data(&config);
    let mut teacher = train_plain(&data, &small_teacher(), &config, 5, "teacher", QUIET, None)
        .unwrap()
        .model;
    let before = parameters(&mut teacher);
    let (student, cache) = train_distilled(
        &data,
        &teacher,
        &ModelConfig::student(),
        &notebook_loss(),
        &config,
        QUIET,
        None,
    )
    .unwrap();
    assert_eq!(
        parameters(&mut teacher),
        before,
        "teacher parameters changed"
    );
    assert!(student.outcome.history["val_total_loss"]
        .iter()
        .all(|v| v.is_finite()));

    // The cache equals the eval-mode logits of a fresh pass, one example at a time.
    let fresh = TeacherLogits::compute(&teacher, &data.train, &data.validation);
    assert_eq!(cache.train, fresh.train);
    assert_eq!(cache.validation, fresh.validation);
    for i in [0, 17, data.train.len() - 1] {
        let x = data
            .train
            .to_float::<f32>()
            .row(i)
            .to_owned()
            .insert_axis(ndarray::Axis(0));
        let one = teacher.predict(x.view());
        assert_eq!(one.row(0), cache.train.row(i), "example {i}");
    }
}

/// What must not depend on the thread count: every parameter, the history (timings aside) and
/// the best epoch.
type Fingerprint = (Vec<Vec<f32>>, distill::train::History, usize);

fn fingerprint(mut t: Trained) -> Fingerprint {
    let mut history = t.outcome.history.clone();
    history.remove("seconds");
    (parameters(&mut t.model), history, t.outcome.best_epoch)
}

/// Teacher, distilled student and scratch student, in a pool of `threads` workers.
fn three_trainings(threads: usize) -> Vec<Fingerprint> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let config = config(1300, 2);
        let data = data(&config);
        let teacher_config = ModelConfig {
            hidden: vec![1200, 1200],
            dropout: 0.5,
        };
        let teacher =
            train_plain(&data, &teacher_config, &config, 42, "teacher", QUIET, None).unwrap();
        let (distilled, _) = train_distilled(
            &data,
            &teacher.model,
            &ModelConfig::student(),
            &notebook_loss(),
            &config,
            QUIET,
            None,
        )
        .unwrap();
        let scratch = train_plain(
            &data,
            &ModelConfig::student(),
            &config,
            43,
            "scratch",
            QUIET,
            None,
        )
        .unwrap();
        [teacher, distilled, scratch]
            .into_iter()
            .map(fingerprint)
            .collect()
    })
}

#[test]
fn the_same_seed_gives_bit_identical_models_for_1_2_3_4_and_16_threads() {
    let reference = three_trainings(1);
    for threads in [2, 3, 4, 16] {
        assert!(
            reference == three_trainings(threads),
            "results differ with {threads} threads"
        );
    }
}

#[test]
fn fit_refuses_an_invalid_config_before_training() {
    let config = config(640, 1);
    let data = data(&config);
    let mut model = Mlp::<f32>::new(&[784, 8, 10], 0.0, 1);
    let bad = TrainConfig {
        batch_size: 0,
        ..config
    };
    let err = fit(
        &mut model,
        &data.train,
        &data.validation,
        &mut CrossEntropy,
        &bad,
        "x",
        QUIET,
        None,
    );
    assert!(matches!(
        err,
        Err(Error::InvalidConfig {
            field: "batch-size",
            ..
        })
    ));
}

/// Cross-entropy in training, NaN on validation: a broken validation loss must stop training.
struct NanOnValidation;

impl Objective for NanOnValidation {
    fn terms(&self) -> &'static [&'static str] {
        &["loss"]
    }

    fn batch(
        &mut self,
        z: ndarray::ArrayView2<f32>,
        labels: &[u8],
        indices: &[usize],
        part: Part,
    ) -> distill::train::BatchLoss {
        let mut loss = CrossEntropy.batch(z, labels, indices, part);
        if part == Part::Validation {
            loss.terms[0] = f64::NAN;
        }
        loss
    }
}

#[test]
fn a_non_finite_validation_loss_stops_training_with_its_epoch() {
    let config = config(640, 3);
    let data = data(&config);
    let mut model = Mlp::<f32>::new(&[784, 16, 10], 0.0, 1);
    let err = fit(
        &mut model,
        &data.train,
        &data.validation,
        &mut NanOnValidation,
        &config,
        "x",
        QUIET,
        None,
    );
    match err {
        Err(Error::NonFiniteValidation { epoch, loss }) => assert!(epoch == 1 && loss.is_nan()),
        other => panic!("expected NonFiniteValidation, got {other:?}"),
    }
}
