//! This machine's f32 FMA peak on 1 and 2 threads: the floor a training epoch is measured
//! against in docs/benchmarks.md ("epoch FLOPs / 2-thread peak").
//!
//! Each thread runs `ACCUMULATORS` independent vector recurrences `acc ← acc·a + b` with one
//! fused multiply-add each per iteration, enough of them to cover the FMA latency on every
//! pipe (Zen 3: 2 pipes × 4 cycles = 8 in flight; Intel: 2 × 4), with nothing else in the loop:
//! ```text
//! FLOP per iteration = ACCUMULATORS · lanes · 2        (an FMA is a multiply and an add)
//! ```
//! Throughput is declared as `Elements(FLOP)`, so criterion's "elem/s" reads as FLOP/s. Every
//! lane's final value is checked against the same recurrence in scalar `f32::mul_add` (one
//! rounding per step, as the vector FMA), so the loop provably ran every FMA it is credited with.
//!
//! Run: `cargo bench --bench peak -- --noplot`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Independent accumulators per thread (registers: 12 of AVX2's 16, of AVX-512's 32).
const ACCUMULATORS: usize = 12;
/// Iterations of the recurrence per thread and per measured call.
const ITERATIONS: u64 = 1 << 20;
/// The recurrence's constants: `acc ← acc·A + B` stays finite and away from denormals.
const A: f32 = 0.999_9;
const B: f32 = 0.000_1;

/// A vector width this CPU can run, with its FMA loop.
struct Width {
    name: &'static str,
    lanes: usize,
    /// Runs `iterations` steps of every accumulator from 1.0 and returns each one's first lane.
    run: fn(u64) -> [f32; ACCUMULATORS],
}

/// The widths this CPU supports, widest last.
fn widths() -> Vec<Width> {
    let mut widths = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA detected just above.
            widths.push(Width {
                name: "avx2_fma_8_lanes",
                lanes: 8,
                run: |n| unsafe { x86::fma_avx2(n) },
            });
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F detected just above.
            widths.push(Width {
                name: "avx512_16_lanes",
                lanes: 16,
                run: |n| unsafe { x86::fma_avx512(n) },
            });
        }
    }
    widths
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{A, ACCUMULATORS, B};
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn fma_avx2(iterations: u64) -> [f32; ACCUMULATORS] {
        // Opaque inputs, one per accumulator: nothing for the compiler to fold or merge.
        let (a, b) = (_mm256_set1_ps(black_box(A)), _mm256_set1_ps(black_box(B)));
        let acc: [_; ACCUMULATORS] = std::array::from_fn(|_| _mm256_set1_ps(black_box(1.0)));
        let mut acc = black_box(acc);
        for _ in 0..iterations {
            for r in &mut acc {
                *r = _mm256_fmadd_ps(*r, a, b); // r ← r·a + b, one rounding
            }
        }
        acc.map(|r| _mm256_cvtss_f32(r))
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn fma_avx512(iterations: u64) -> [f32; ACCUMULATORS] {
        // Opaque inputs, one per accumulator: nothing for the compiler to fold or merge.
        let (a, b) = (_mm512_set1_ps(black_box(A)), _mm512_set1_ps(black_box(B)));
        let acc: [_; ACCUMULATORS] = std::array::from_fn(|_| _mm512_set1_ps(black_box(1.0)));
        let mut acc = black_box(acc);
        for _ in 0..iterations {
            for r in &mut acc {
                *r = _mm512_fmadd_ps(*r, a, b); // r ← r·a + b, one rounding
            }
        }
        acc.map(|r| _mm512_cvtss_f32(r))
    }
}

/// The recurrence in scalar code: what every lane must hold after `iterations` steps.
fn expected(iterations: u64) -> f32 {
    (0..iterations).fold(1.0f32, |r, _| r.mul_add(A, B))
}

/// Runs `width` once on every thread of `pool` at the same time and returns their results.
fn run_on(pool: &rayon::ThreadPool, width: &Width, iterations: u64) -> Vec<[f32; ACCUMULATORS]> {
    pool.broadcast(|_| (width.run)(black_box(iterations)))
}

fn bench_peak(crit: &mut Criterion) {
    let mut group = crit.benchmark_group("fma_peak_f32");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let want = expected(ITERATIONS);
    for width in widths() {
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a rayon pool");
            for got in run_on(&pool, &width, ITERATIONS) {
                assert_eq!(
                    got, [want; ACCUMULATORS],
                    "{}: the FMA loop's result",
                    width.name
                );
            }
            let flops = ITERATIONS * (ACCUMULATORS * width.lanes * 2 * threads) as u64;
            group.throughput(Throughput::Elements(flops));
            let id = BenchmarkId::new(width.name, format!("{threads}_threads"));
            group.bench_function(id, |bench| bench.iter(|| run_on(&pool, &width, ITERATIONS)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_peak);
criterion_main!(benches);
