//! Training on the real data: one optimiser step of the teacher and of the student at batch 64
//! (forward(Train) + loss + backward + Adam), the one-off teacher-logit cache, and a whole
//! distillation epoch over the 54,000 training examples with cached logits.
//!
//! Throughput is in examples (criterion prints elem/s = examples/s). Compare with
//! `../shared/BASELINES.md`: a PyTorch eager distillation epoch with precomputed logits takes
//! 1.9 s, i.e. ~28,000 examples/s. Run with `cargo bench --bench training -- --noplot`.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use distill::config::{ModelConfig, TrainConfig};
use distill::data::{default_data_dir, CLASSES};
use distill::experiment::Prepared;
use distill::loss::DistillLoss;
use distill::nn::{Gradients, Mlp, Mode};
use distill::optim::{Adam, AdamConfig};
use distill::train::{fit, CrossEntropy, Distillation, Objective, Part, Progress, TeacherLogits};
use ndarray::Array2;

const BATCH: usize = 64;

/// Times `iters` calls of `f` on a worker of the global rayon pool, as the `distill` binary
/// runs its commands (a parallel region then starts on the calling thread).
fn on_pool<R>(iters: u64, f: &mut (impl FnMut() -> R + Send)) -> Duration {
    rayon::scope(|_| {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        start.elapsed()
    })
}

fn data() -> Prepared {
    Prepared::load(&default_data_dir(), &TrainConfig::default()).expect("shipped MNIST loads")
}

/// One full optimiser step on the first batch, as `fit` does it.
fn bench_step(c: &mut Criterion, data: &Prepared, name: &str, model: &ModelConfig) {
    let mut mlp = Mlp::<f32>::new(&model.sizes(data.input_size(), CLASSES), model.dropout, 1);
    let mut adam = Adam::<f32>::new(AdamConfig::default());
    let indices: Vec<usize> = (0..BATCH).collect();
    let mut x = Array2::<f32>::zeros((BATCH, data.input_size()));
    let mut y = Vec::new();
    data.train.gather_into(&indices, x.view_mut(), &mut y);
    let mut step = || {
        let z = mlp.forward(x.view(), Mode::Train);
        let loss = CrossEntropy.batch(z, &y, &indices, Part::Train);
        adam.begin_step();
        mlp.backward_then_update(loss.dz.view(), Gradients::Overwrite, |slot, p, g| {
            adam.update(slot, p, g)
        });
        loss.total()
    };
    // Check before timing: repeated steps on one batch drive its loss down.
    let first = step();
    let later = (0..20).map(|_| step()).last().unwrap();
    assert!(later < first, "{name}: loss {first} -> {later}");

    let mut group = c.benchmark_group("train_step");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(name, |b| b.iter_custom(|iters| on_pool(iters, &mut step)));
    group.finish();
}

/// One Adam step over the teacher's 2,395,210 parameters (element-wise, memory-bound).
fn bench_adam(c: &mut Criterion) {
    let sizes = ModelConfig::teacher().sizes(784, CLASSES);
    let mut mlp = Mlp::<f32>::new(&sizes, 0.5, 1);
    let x = Array2::<f32>::from_elem((BATCH, 784), 0.5);
    let z = mlp.forward(x.view(), Mode::Train).to_owned();
    mlp.backward_with(z.view(), Gradients::Overwrite); // some non-zero gradients
    let mut adam = Adam::<f32>::new(AdamConfig::default());
    let mut group = c.benchmark_group("adam");
    group.throughput(Throughput::Elements(mlp.parameter_count() as u64));
    group.bench_function("step_teacher_parameters", |b| {
        let mut step = || {
            adam.begin_step();
            mlp.visit_parameters(|slot, p, g| adam.update(slot, p, g));
        };
        b.iter_custom(|iters| on_pool(iters, &mut step))
    });
    group.finish();
}

fn training(c: &mut Criterion) {
    let data = data();
    bench_step(
        c,
        &data,
        "teacher_784-1200-1200-10",
        &ModelConfig::teacher(),
    );
    bench_step(c, &data, "student_784-300-10", &ModelConfig::student());

    let sizes = ModelConfig::teacher().sizes(data.input_size(), CLASSES);
    let teacher = Mlp::<f32>::new(&sizes, 0.5, 2);
    let cache = TeacherLogits::compute(&teacher, &data.train, &data.validation);
    assert_eq!(cache.train.dim(), (data.train.len(), CLASSES));
    let mut group = c.benchmark_group("distillation");
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        (data.train.len() + data.validation.len()) as u64,
    ));
    group.bench_function("teacher_logit_cache", |b| {
        let mut cache = || TeacherLogits::compute(&teacher, &data.train, &data.validation);
        b.iter_custom(|iters| on_pool(iters, &mut cache))
    });

    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let student = ModelConfig::student().sizes(data.input_size(), CLASSES);
    group.throughput(Throughput::Elements(data.train.len() as u64));
    group.bench_function("epoch_cached_logits", |b| {
        let mut epoch = || {
            let mut mlp = Mlp::<f32>::new(&student, 0.0, 3);
            let mut objective = Distillation::new(DistillLoss::default(), &cache);
            let quiet = Progress { quiet: true };
            fit(
                &mut mlp,
                &data.train,
                &data.validation,
                &mut objective,
                &config,
                "bench",
                quiet,
                None,
            )
            .expect("a distillation epoch trains")
        };
        b.iter_custom(|iters| on_pool(iters, &mut epoch))
    });
    group.finish();
}

criterion_group!(benches, bench_adam, training);
criterion_main!(benches);
