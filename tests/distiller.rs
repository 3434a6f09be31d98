//! The distiller's batches: each student row meets the teacher row of ITS example (by index, not
//! by batch position), from the part (training or validation) the batch comes from, and the
//! cached teacher logits equal a teacher run on each batch.

use distill::config::{ModelConfig, TrainConfig};
use distill::data::{default_data_dir, shuffled_indices};
use distill::experiment::{train_plain, Prepared};
use distill::loss::{DistillLoss, SoftScale};
use distill::nn::Mode;
use distill::train::{Distillation, Objective, Part, Progress, TeacherLogits};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const CLASSES: usize = 10;

fn random_logits(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((rows, CLASSES), |_| rng.gen_range(-8.0..8.0))
}

fn random_labels(rows: usize, seed: u64) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..rows).map(|_| rng.gen_range(0..CLASSES as u8)).collect()
}

/// The loss of the notebook, at T = 4 so every soft term differs visibly between teacher rows.
fn loss() -> DistillLoss {
    DistillLoss {
        alpha: 0.1,
        temperature: 4.0,
        soft_scale: SoftScale::One,
    }
}

/// `Distillation::batch` must equal `DistillLoss::compute` on exactly the teacher rows
/// `cache[indices[b]]` of the batch's own part, bit for bit.
#[test]
fn each_row_meets_the_teacher_row_of_its_example_in_both_parts() {
    // Two parts of different sizes whose rows all differ: a row taken by batch position, or from
    // the other part, changes the loss.
    let cache = TeacherLogits {
        train: random_logits(40, 1),
        validation: random_logits(15, 2),
        seconds: 0.0,
    };
    let mut objective = Distillation::new(loss(), &cache);
    // Shuffled indices, batches of decreasing and increasing size (the row buffer is reused),
    // and a validation batch whose indices are all valid training rows too.
    let train_order = shuffled_indices(40, 42, 1);
    let val_order = shuffled_indices(15, 42, 2);
    let batches: [(Part, &[usize]); 4] = [
        (Part::Train, &train_order[..16]),
        (Part::Train, &train_order[16..21]),
        (Part::Validation, &val_order),
        (Part::Train, &train_order[21..]),
    ];
    for (k, (part, indices)) in batches.into_iter().enumerate() {
        assert!(
            indices.iter().enumerate().any(|(b, &i)| b != i),
            "the test needs indices that are not batch positions"
        );
        let z_s = random_logits(indices.len(), 10 + k as u64);
        let labels = random_labels(indices.len(), 20 + k as u64);
        let got = objective.batch(z_s.view(), &labels, indices, part);

        let rows = match part {
            Part::Train => &cache.train,
            Part::Validation => &cache.validation,
        };
        let z_t = rows.select(Axis(0), indices); // z_t[b] = cache[indices[b]]
        let want = loss().compute(z_s.view(), z_t.view(), &labels);
        let terms = [want.student, want.distill, want.total].map(f64::from);
        assert_eq!(got.terms, terms, "batch {k} ({part:?}): loss terms");
        assert_eq!(got.dz, want.dz_s, "batch {k} ({part:?}): ∂L/∂z_s");
    }
}

/// The cache is the teacher's logits; a distillation that ran the teacher on every batch (the
/// Keras notebook's `Distiller`) would see the same rows: eval-mode forward of the batch's
/// examples, gathered in shuffled order.
#[test]
fn cached_teacher_logits_equal_a_teacher_run_on_each_batch() {
    let config = TrainConfig {
        epochs: 1,
        train_limit: Some(700),
        ..TrainConfig::default()
    };
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let teacher_shape = ModelConfig {
        hidden: vec![64, 32],
        dropout: 0.5,
    };
    let quiet = Progress { quiet: true };
    let teacher = train_plain(&data, &teacher_shape, &config, 5, "teacher", quiet, None)
        .unwrap()
        .model;
    let cache = TeacherLogits::compute(&teacher, &data.train, &data.validation);

    let mut forward = teacher.clone(); // forward needs &mut for its buffers
    for (part, split, rows) in [
        (Part::Train, &data.train, &cache.train),
        (Part::Validation, &data.validation, &cache.validation),
    ] {
        let order = shuffled_indices(split.len(), 3, 1);
        for indices in order.chunks(64) {
            let mut x = Array2::<f32>::zeros((indices.len(), split.input_size()));
            let mut y = Vec::new();
            split.gather_into(indices, x.view_mut(), &mut y);
            let z_t = forward.forward(x.view(), Mode::Eval);
            assert_eq!(
                z_t,
                rows.select(Axis(0), indices),
                "{part:?}: cached rows differ from a teacher run on the batch"
            );
        }
    }
}
