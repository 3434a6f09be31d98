//! f32 gemm on the teacher's and student's batch-64 shapes: matrixmultiply alone on one thread
//! against our rayon-split `gemm` on two.
//!
//! Throughput is declared as `Elements(2·M·K·N)`, the product's floating-point operations, so
//! criterion's "elem/s" column reads as FLOP/s (e.g. "150 Gelem/s" = 150 GFLOP/s).
//!
//! Run: `cargo bench --bench gemm -- --noplot`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use distill::linalg::gemm;
use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// One benchmarked product `C = op(A)·op(B)`, C: (m, n), contraction over k.
struct Case {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    transpose_a: bool,
    transpose_b: bool,
}

const CASES: [Case; 7] = [
    case("64x784x1200 y1=x.W1", 64, 784, 1200, false, false),
    case("64x1200x1200 y2=h1.W2", 64, 1200, 1200, false, false),
    case("784x64x1200 dW1=xT.dy1", 784, 64, 1200, true, false),
    case("64x1200x784 dx=dy1.W1T", 64, 1200, 784, false, true),
    case("64x1200x10 z=h2.W3", 64, 1200, 10, false, false),
    case("64x784x300 student y1", 64, 784, 300, false, false),
    case("784x64x300 student dW1", 784, 64, 300, true, false),
];

const fn case(name: &'static str, m: usize, k: usize, n: usize, ta: bool, tb: bool) -> Case {
    Case {
        name,
        m,
        k,
        n,
        transpose_a: ta,
        transpose_b: tb,
    }
}

/// Operands of a case; a transposed operand is stored the other way round and viewed with `.t()`.
struct Operands {
    a: Array2<f32>,
    b: Array2<f32>,
}

impl Case {
    fn operands(&self) -> Operands {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
        let mut random =
            |rows, cols| Array2::from_shape_simple_fn((rows, cols), || rng.gen_range(-1.0f32..1.0));
        let a = if self.transpose_a {
            random(self.k, self.m)
        } else {
            random(self.m, self.k)
        };
        let b = if self.transpose_b {
            random(self.n, self.k)
        } else {
            random(self.k, self.n)
        };
        Operands { a, b }
    }

    fn a<'a>(&self, ops: &'a Operands) -> ArrayView2<'a, f32> {
        if self.transpose_a {
            ops.a.t()
        } else {
            ops.a.view()
        }
    }

    fn b<'a>(&self, ops: &'a Operands) -> ArrayView2<'a, f32> {
        if self.transpose_b {
            ops.b.t()
        } else {
            ops.b.view()
        }
    }

    fn flops(&self) -> u64 {
        (2 * self.m * self.k * self.n) as u64
    }
}

/// `C <- A·B` by one plain `matrixmultiply::sgemm` call on the calling thread.
fn matrixmultiply_serial(a: ArrayView2<f32>, b: ArrayView2<f32>, mut c: ArrayViewMut2<f32>) {
    let ((m, k), n) = (a.dim(), b.ncols());
    let (sa, sb, sc) = (a.strides(), b.strides(), c.strides().to_owned());
    // SAFETY: the views describe valid m×k, k×n and m×n matrices; C is uniquely borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            sa[0],
            sa[1],
            b.as_ptr(),
            sb[0],
            sb[1],
            0.0,
            c.as_mut_ptr(),
            sc[0],
            sc[1],
        );
    }
}

/// Panics unless `c` is `A·B` within the f32 error bound `(K + 3)·ε·Σ_k |A[i,k]·B[k,j]|`.
fn check(name: &str, a: ArrayView2<f32>, b: ArrayView2<f32>, c: ArrayView2<f32>) {
    let k = a.ncols();
    for ((i, j), &got) in c.indexed_iter() {
        let (mut dot, mut abs) = (0.0f64, 0.0f64);
        for p in 0..k {
            let term = f64::from(a[[i, p]]) * f64::from(b[[p, j]]);
            dot += term;
            abs += term.abs();
        }
        let tol = (k as f64 + 3.0) * f64::from(f32::EPSILON) * abs;
        assert!(
            (f64::from(got) - dot).abs() <= tol,
            "{name}: C[{i},{j}] = {got}, expected {dot} ± {tol}"
        );
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

fn bench_gemm(crit: &mut Criterion) {
    let (one, two) = (pool(1), pool(2));
    let mut group = crit.benchmark_group("gemm_f32");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for case in &CASES {
        let ops = case.operands();
        let (a, b) = (case.a(&ops), case.b(&ops));
        let mut c = Array2::from_elem((case.m, case.n), f32::NAN);
        group.throughput(Throughput::Elements(case.flops()));

        one.install(|| matrixmultiply_serial(a, b, c.view_mut()));
        check(case.name, a, b, c.view());
        group.bench_function(BenchmarkId::new("matrixmultiply_1t", case.name), |bench| {
            one.install(|| bench.iter(|| matrixmultiply_serial(a, b, c.view_mut())))
        });

        c.fill(f32::NAN);
        two.install(|| gemm(1.0, a, b, 0.0, c.view_mut()));
        check(case.name, a, b, c.view());
        group.bench_function(BenchmarkId::new("ours_2t", case.name), |bench| {
            two.install(|| bench.iter(|| gemm(1.0, a, b, 0.0, c.view_mut())))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);
