//! Mlp forward(Train) + backward at batch 64 in f32: the teacher (784-1200-1200-10, dropout 0.5)
//! and the student (784-300-10). Throughput is in FLOPs of the matrix products (criterion prints
//! it as elem/s: read Gelem/s as GFLOP/s); the elementwise passes are not counted.
//!
//! ```text
//! forward  2·B·Σ_l D_{l−1}·D_l        backward  2·B·Σ_l D_{l−1}·D_l (dW) + 2·B·Σ_{l>1} D_{l−1}·D_l (dx)
//! ```
//! Run with `cargo bench --bench layers -- --noplot`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use distill::nn::{Mlp, Mode};
use ndarray::{Array, Array2};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

const BATCH: usize = 64;

fn flops(sizes: &[usize], backward: bool) -> u64 {
    let products: Vec<u64> = sizes
        .windows(2)
        .map(|w| (2 * BATCH * w[0] * w[1]) as u64)
        .collect();
    let forward: u64 = products.iter().sum();
    match backward {
        true => 2 * forward + products[1..].iter().sum::<u64>(),
        false => forward,
    }
}

fn bench_mlp(c: &mut Criterion, name: &str, sizes: &[usize], dropout: f64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let x: Array2<f32> = Array::random_using((BATCH, sizes[0]), Uniform::new(0.0, 1.0), &mut rng);
    let dlogits: Array2<f32> = Array::random_using(
        (BATCH, sizes[sizes.len() - 1]),
        Uniform::new(-0.1, 0.1),
        &mut rng,
    );
    let mut mlp = Mlp::<f32>::new(sizes, dropout, 1);
    // Check before timing: the training forward (Eval) agrees with predict, logits are finite.
    let eval = mlp.forward(x.view(), Mode::Eval).to_owned();
    assert_eq!(eval, mlp.predict(x.view()));
    assert!(eval.iter().all(|v| v.is_finite()));

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(flops(sizes, false)));
    group.bench_function("forward_train", |b| {
        b.iter(|| {
            black_box(mlp.forward(x.view(), Mode::Train));
        })
    });
    group.throughput(Throughput::Elements(flops(sizes, true)));
    group.bench_function("forward_train+backward", |b| {
        b.iter(|| {
            mlp.forward(x.view(), Mode::Train);
            mlp.backward(dlogits.view());
        })
    });
    group.finish();
}

fn layers(c: &mut Criterion) {
    bench_mlp(
        c,
        "teacher_784-1200-1200-10_b64",
        &[784, 1200, 1200, 10],
        0.5,
    );
    bench_mlp(c, "student_784-300-10_b64", &[784, 300, 10], 0.0);
}

criterion_group!(benches, layers);
criterion_main!(benches);
