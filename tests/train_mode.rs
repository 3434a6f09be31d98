//! `fit` trains in training mode: dropout is applied to the logits the objective sees, so the
//! dropout rate changes the trained weights, and the objective gets the examples `fit` names.

use distill::config::{ModelConfig, TrainConfig};
use distill::data::default_data_dir;
use distill::experiment::{train_plain, Prepared};
use distill::nn::{Mlp, Mode};
use distill::train::{fit, BatchLoss, CrossEntropy, Objective, Part, Progress};
use ndarray::{Array2, ArrayView2};

const QUIET: Progress = Progress { quiet: true };

fn config(limit: usize) -> TrainConfig {
    TrainConfig {
        epochs: 1,
        train_limit: Some(limit),
        ..TrainConfig::default()
    }
}

fn parameters(model: &mut Mlp<f32>) -> Vec<f32> {
    let mut all = Vec::new();
    model.visit_parameters(|_, p, _| all.extend_from_slice(p));
    all
}

#[test]
fn the_dropout_rate_changes_the_trained_weights() {
    // Same seed, so the same initial weights and batch order: only the dropout differs. Were
    // the forward pass run in eval mode, dropout would be a no-op and the weights equal.
    let config = config(640);
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let mut trained = [0.5, 0.0].map(|dropout| {
        let shape = ModelConfig {
            hidden: vec![32],
            dropout,
        };
        train_plain(&data, &shape, &config, 9, "x", QUIET, None)
            .unwrap()
            .model
    });
    let [with, without] = &mut trained;
    let (with, without) = (parameters(with), parameters(without));
    let differing = with.iter().zip(&without).filter(|(a, b)| a != b).count();
    assert!(
        differing > with.len() / 2,
        "only {differing} of {} parameters differ between dropout 0.5 and 0",
        with.len()
    );
}

/// Cross-entropy that records what `fit` hands it.
#[derive(Default)]
struct Spy {
    /// Logits, indices and labels of the first training batch.
    first: Option<(Array2<f32>, Vec<usize>, Vec<u8>)>,
    /// Every training index, in the order the batches came.
    train_indices: Vec<usize>,
    /// Every training label, in the same order.
    train_labels: Vec<u8>,
    /// Indices of each validation call.
    validation_calls: Vec<Vec<usize>>,
}

impl Objective for Spy {
    fn terms(&self) -> &'static [&'static str] {
        CrossEntropy.terms()
    }

    fn batch(&mut self, z: ArrayView2<f32>, labels: &[u8], idx: &[usize], part: Part) -> BatchLoss {
        match part {
            Part::Train => {
                if self.first.is_none() {
                    self.first = Some((z.to_owned(), idx.to_vec(), labels.to_vec()));
                }
                self.train_indices.extend_from_slice(idx);
                self.train_labels.extend_from_slice(labels);
            }
            Part::Validation => self.validation_calls.push(idx.to_vec()),
        }
        CrossEntropy.batch(z, labels, idx, part)
    }
}

#[test]
fn the_objective_sees_training_mode_logits_of_the_examples_fit_names() {
    let config = config(640);
    let data = Prepared::load(&default_data_dir(), &config).unwrap();
    let mut model = Mlp::<f32>::new(&[784, 48, 10], 0.5, 11);
    // A copy before training: same weights and the same dropout-mask stream, so its first
    // training-mode forward draws the masks fit's first batch drew.
    let mut before = model.clone();
    let mut spy = Spy::default();
    fit(
        &mut model,
        &data.train,
        &data.validation,
        &mut spy,
        &config,
        "spy",
        QUIET,
        None,
    )
    .unwrap();

    let (z, indices, labels) = spy.first.expect("fit ran a training batch");
    let mut x = Array2::<f32>::zeros((indices.len(), data.train.input_size()));
    let mut y = Vec::new();
    data.train.gather_into(&indices, x.view_mut(), &mut y);
    assert_eq!(labels, y, "labels are those of the named examples");
    let eval = before.clone().forward(x.view(), Mode::Eval).to_owned();
    let train = before.forward(x.view(), Mode::Train).to_owned();
    assert_eq!(z, train, "the objective sees training-mode logits");
    assert_ne!(z, eval, "dropout 0.5 changes the logits");

    // One epoch: every training example exactly once, each with its own label, shuffled.
    let mut sorted = spy.train_indices.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..data.train.len()).collect::<Vec<_>>());
    assert_ne!(spy.train_indices, sorted, "the batches are shuffled");
    let expected: Vec<u8> = spy
        .train_indices
        .iter()
        .map(|&i| data.train.labels()[i])
        .collect();
    assert_eq!(spy.train_labels, expected);
    // Validation: once per epoch, over the whole validation part.
    assert_eq!(
        spy.validation_calls,
        vec![(0..data.validation.len()).collect::<Vec<_>>()]
    );
}
