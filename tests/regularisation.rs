//! The teacher's regularisers in a real fit on a slice of MNIST: jitter, input dropout and
//! max-norm together give bit-identical models for any thread count, each one changes the
//! training when on, max-norm's bound holds after every step, and the cosine schedule is
//! recorded.

use distill::config::{LrSchedule, ModelConfig, Regularisation, TrainConfig};
use distill::data::default_data_dir;
use distill::experiment::{train_plain, Prepared, Trained};
use distill::nn::Mlp;
use distill::train::Progress;

const QUIET: Progress = Progress { quiet: true };
const MAX_NORM: f64 = 0.9; // below the Glorot columns' norms (≈ 0.9–1.3 here): it binds at once

fn regularised(regularisation: Regularisation) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        train_limit: Some(1200),
        lr_schedule: LrSchedule::Cosine,
        regularisation,
        ..TrainConfig::default()
    }
}

fn all_on() -> Regularisation {
    Regularisation {
        input_dropout: 0.2,
        max_norm: Some(MAX_NORM),
        jitter: 2,
    }
}

fn teacher(config: &TrainConfig, threads: usize) -> Trained {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let data = Prepared::load(&default_data_dir(), config).unwrap();
        let model = ModelConfig {
            hidden: vec![64, 64],
            dropout: 0.5,
        };
        train_plain(&data, &model, config, 42, "teacher", QUIET, None).unwrap()
    })
}

fn parameters(model: &mut Mlp<f32>) -> Vec<f32> {
    let mut all = Vec::new();
    model.visit_parameters(|_, p, _| all.extend_from_slice(p));
    all
}

#[test]
fn regularised_training_is_bit_identical_for_one_two_and_three_threads() {
    let config = regularised(all_on());
    let mut reference = teacher(&config, 1);
    for threads in [2, 3] {
        let mut other = teacher(&config, threads);
        assert!(
            parameters(&mut reference.model) == parameters(&mut other.model),
            "{threads} threads"
        );
        let strip = |t: &Trained| {
            let mut h = t.outcome.history.clone();
            h.remove("seconds");
            h
        };
        assert_eq!(strip(&reference), strip(&other));
    }
}

#[test]
fn each_regulariser_changes_training_when_on() {
    let mut off = teacher(&regularised(Regularisation::default()), 2);
    let variants = [
        Regularisation {
            input_dropout: 0.2,
            ..Regularisation::default()
        },
        Regularisation {
            max_norm: Some(MAX_NORM),
            ..Regularisation::default()
        },
        Regularisation {
            jitter: 2,
            ..Regularisation::default()
        },
    ];
    for r in variants {
        let mut on = teacher(&regularised(r), 2);
        assert!(
            parameters(&mut on.model) != parameters(&mut off.model),
            "{r:?} made no difference"
        );
    }
}

#[test]
fn max_norm_bounds_every_hidden_column_and_leaves_the_output_layer_free() {
    let t = teacher(&regularised(all_on()), 2);
    let layers = t.model.layers();
    let norms = |l: usize| -> Vec<f64> {
        let w = &layers[l].weight;
        w.columns()
            .into_iter()
            .map(|c| c.iter().map(|&w| f64::from(w).powi(2)).sum::<f64>().sqrt())
            .collect()
    };
    for l in 0..layers.len() - 1 {
        for norm in norms(l) {
            assert!(
                norm <= MAX_NORM * (1.0 + 1e-5),
                "a hidden column of norm {norm}"
            );
        }
    }
    let output = norms(layers.len() - 1); // Glorot 64 → 10: column norms ≈ 1.3
    assert!(
        output.iter().any(|&n| n > MAX_NORM),
        "output columns {output:?}"
    );
    let history = &t.outcome.history;
    let rates = &history["learning_rate"];
    assert_eq!(rates, &vec![1e-3, LrSchedule::Cosine.rate(1e-3, 2, 2)]);
    assert!(
        history["val_accuracy"][1] > 0.3,
        "it still learns: {history:?}"
    ); // chance 0.1
}
