//! `gemm` against a naive triple loop, over a grid of shapes, transposes, strides, alphas and
//! betas; bit-identical results for any rayon thread count; shape checks.
//!
//! The reference accumulates in f64 from the very same inputs. The tolerance is the classical
//! bound for a dot product of length K plus the alpha and beta roundings:
//!
//! ```text
//! |C − C_ref| ≤ (K + 3)·ε·(|α|·Σ_k |A[i,k]|·|B[k,j]| + |β|·|C0[i,j]|)
//! ```
//! with ε the machine epsilon of the type under test, so f32 is checked at f32 precision and
//! f64 at f64 precision; nothing is widened.

use distill::linalg::gemm;
use distill::Scalar;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Sizes of the exhaustive grid: empty, one, odd, one tile (16) and just over one or two tiles.
const SIZES: [usize; 8] = [0, 1, 2, 3, 7, 16, 17, 33];
const ALPHAS: [f64; 2] = [1.0, -0.5];
const BETAS: [f64; 3] = [0.0, 1.0, 0.5];

/// How an operand's view is laid out in memory.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Contiguous, row-major.
    RowMajor,
    /// `x.t()` of a row-major (cols, rows) array: column-major.
    Transposed,
    /// `s![..;2, ..]` of a (2·rows, cols) array: row stride 2·cols.
    EveryOtherRow,
    /// `s![..;-1, ..]`: negative row stride.
    ReversedRows,
    /// A transposed view with its columns reversed: unit row stride, negative column stride.
    TransposedReversedCols,
}

const LAYOUTS: [Layout; 5] = [
    Layout::RowMajor,
    Layout::Transposed,
    Layout::EveryOtherRow,
    Layout::ReversedRows,
    Layout::TransposedReversedCols,
];

/// A (rows, cols) matrix stored behind a [`Layout`]; the logical matrix is what `view` shows.
struct Operand<A> {
    store: Array2<A>,
    layout: Layout,
}

impl<A: Scalar> Operand<A> {
    /// Uniform values in [-1, 1), stored with `layout`.
    fn new(rows: usize, cols: usize, layout: Layout, rng: &mut Xoshiro256PlusPlus) -> Self {
        let dim = match layout {
            Layout::RowMajor | Layout::ReversedRows => (rows, cols),
            Layout::Transposed | Layout::TransposedReversedCols => (cols, rows),
            Layout::EveryOtherRow => (2 * rows, cols),
        };
        let store = Array2::from_shape_simple_fn(dim, || A::of(rng.gen_range(-1.0..1.0)));
        Self { store, layout }
    }

    fn view(&self) -> ArrayView2<'_, A> {
        match self.layout {
            Layout::RowMajor => self.store.view(),
            Layout::Transposed => self.store.t(),
            Layout::EveryOtherRow => self.store.slice(s![..;2, ..]),
            Layout::ReversedRows => self.store.slice(s![..;-1, ..]),
            Layout::TransposedReversedCols => self.store.slice(s![..;-1, ..]).reversed_axes(),
        }
    }

    fn view_mut(&mut self) -> ArrayViewMut2<'_, A> {
        match self.layout {
            Layout::RowMajor => self.store.view_mut(),
            Layout::Transposed => self.store.view_mut().reversed_axes(),
            Layout::EveryOtherRow => self.store.slice_mut(s![..;2, ..]),
            Layout::ReversedRows => self.store.slice_mut(s![..;-1, ..]),
            Layout::TransposedReversedCols => self.store.slice_mut(s![..;-1, ..]).reversed_axes(),
        }
    }
}

fn f64_of<A: Scalar>(x: A) -> f64 {
    x.to_f64().expect("f32 and f64 convert to f64")
}

/// Naive `alpha·A·B + beta·C0` in f64, and the error bound of each element (see the module doc).
fn reference<A: Scalar>(
    alpha: f64,
    a: ArrayView2<A>,
    b: ArrayView2<A>,
    beta: f64,
    c0: ArrayView2<A>,
) -> (Array2<f64>, Array2<f64>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let eps = f64_of(A::epsilon());
    let mut value = Array2::zeros((m, n));
    let mut bound = Array2::zeros((m, n));
    for i in 0..m {
        for j in 0..n {
            let (mut dot, mut abs) = (0.0, 0.0);
            for p in 0..k {
                let term = f64_of(a[[i, p]]) * f64_of(b[[p, j]]);
                dot += term;
                abs += term.abs();
            }
            // beta = 0 never reads C0 (it may hold NaN).
            let (c_term, c_abs) = if beta == 0.0 {
                (0.0, 0.0)
            } else {
                let c = f64_of(c0[[i, j]]);
                (beta * c, (beta * c).abs())
            };
            value[[i, j]] = alpha * dot + c_term;
            bound[[i, j]] = (k as f64 + 3.0) * eps * (alpha.abs() * abs + c_abs);
        }
    }
    (value, bound)
}

/// Runs one gemm on operands laid out as given and checks every element against the reference.
/// With `beta = 0`, C starts as NaN: the result must not see it.
#[allow(clippy::too_many_arguments)]
fn check_case<A: Scalar>(
    (m, k, n): (usize, usize, usize),
    layouts: [Layout; 3],
    alpha: f64,
    beta: f64,
    rng: &mut Xoshiro256PlusPlus,
) {
    let a = Operand::<A>::new(m, k, layouts[0], rng);
    let b = Operand::<A>::new(k, n, layouts[1], rng);
    let mut c = Operand::<A>::new(m, n, layouts[2], rng);
    if beta == 0.0 {
        c.store.fill(A::nan());
    }
    let (expected, bound) = reference(alpha, a.view(), b.view(), beta, c.view());

    gemm(A::of(alpha), a.view(), b.view(), A::of(beta), c.view_mut());

    let case = format!(
        "{} {m}x{k}x{n} {layouts:?} alpha {alpha} beta {beta}",
        A::NAME
    );
    for ((&got, &want), &tol) in c.view().iter().zip(&expected).zip(&bound) {
        let got = f64_of(got);
        assert!(
            (got - want).abs() <= tol,
            "{case}: got {got}, expected {want} ± {tol}"
        );
    }
}

/// The four transpose combinations of `op(A)·op(B)`, C row-major.
fn transposes() -> impl Iterator<Item = [Layout; 3]> {
    let plain_or_t = [Layout::RowMajor, Layout::Transposed];
    plain_or_t
        .into_iter()
        .flat_map(move |la| plain_or_t.map(|lb| [la, lb, Layout::RowMajor]))
}

fn grid<A: Scalar>(seed: u64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for m in SIZES {
        for k in SIZES {
            for n in SIZES {
                for layouts in transposes() {
                    for alpha in ALPHAS {
                        for beta in BETAS {
                            check_case::<A>((m, k, n), layouts, alpha, beta, &mut rng);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn small_grid_matches_reference_f64() {
    grid::<f64>(1);
}

#[test]
fn small_grid_matches_reference_f32() {
    grid::<f32>(2);
}

#[test]
fn strided_and_negative_stride_views_match_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let sizes = [0, 1, 3, 17, 33];
    for m in sizes {
        for k in sizes {
            for n in sizes {
                for la in LAYOUTS {
                    for lb in LAYOUTS {
                        for lc in LAYOUTS {
                            check_case::<f32>((m, k, n), [la, lb, lc], -0.5, 0.5, &mut rng);
                        }
                    }
                }
                check_case::<f64>(
                    (m, k, n),
                    LAYOUTS[2..5].try_into().unwrap(),
                    1.0,
                    0.0,
                    &mut rng,
                );
            }
        }
    }
}

/// Shapes above the parallel threshold (2·M·K·N ≥ 8 MFLOP, `PARALLEL_MIN_FLOPS` in
/// src/linalg/gemm.rs), split along M or along N, and one below it; run in pools of 2 and 3
/// threads so the blocked path is the one checked.
#[test]
fn threaded_shapes_match_reference() {
    let shapes = [
        (64, 784, 130),  // N split, 13 MFLOP
        (130, 300, 130), // M split (M = N), 10 MFLOP
        (257, 65, 257),  // M split, odd, 8.6 MFLOP
        (33, 400, 401),  // N split, odd, 10.6 MFLOP
        (1, 3000, 2000), // a single row, N split, 12 MFLOP
        (130, 64, 70),   // serial, 1.2 MFLOP
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
    for threads in [2, 3] {
        pool(threads).install(|| {
            for shape in shapes {
                for layouts in transposes() {
                    for (alpha, beta) in [(1.0, 0.0), (-0.5, 1.0), (1.0, 0.5)] {
                        check_case::<f32>(shape, layouts, alpha, beta, &mut rng);
                    }
                }
                let strided = [
                    Layout::ReversedRows,
                    Layout::EveryOtherRow,
                    Layout::Transposed,
                ];
                check_case::<f32>(shape, strided, -0.5, 0.5, &mut rng);
                check_case::<f64>(shape, strided, 1.0, 0.0, &mut rng);
            }
        });
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// The bits of `-0.5·op(A)·op(B) + 1·C0` computed in a pool of `threads` threads.
fn product_bits(
    threads: usize,
    shape: (usize, usize, usize),
    layouts: [Layout; 3],
    seed: u64,
) -> Vec<u32> {
    let (m, k, n) = shape;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let a = Operand::<f32>::new(m, k, layouts[0], &mut rng);
    let b = Operand::<f32>::new(k, n, layouts[1], &mut rng);
    let mut c = Operand::<f32>::new(m, n, layouts[2], &mut rng);
    pool(threads).install(|| gemm(-0.5, a.view(), b.view(), 1.0, c.view_mut()));
    c.view().iter().map(|x| x.to_bits()).collect()
}

fn assert_bit_identical_across_pools(shape: (usize, usize, usize), layouts: [Layout; 3]) {
    let one = product_bits(1, shape, layouts, 5);
    for threads in [2, 3, 4, 16] {
        let many = product_bits(threads, shape, layouts, 5);
        assert!(
            one == many,
            "{shape:?} {layouts:?}: {threads} threads differ from 1 thread"
        );
    }
}

#[test]
fn odd_shapes_are_bit_identical_for_1_2_3_4_16_threads() {
    let row_major = [Layout::RowMajor; 3];
    for shape in [
        (333, 517, 131), // M split
        (301, 77, 299),  // M split, M ≈ N
        (67, 301, 257),  // N split
        (17, 999, 303),  // N split, M below one tile
    ] {
        assert_bit_identical_across_pools(shape, row_major);
    }
    let strided = [
        Layout::Transposed,
        Layout::ReversedRows,
        Layout::EveryOtherRow,
    ];
    assert_bit_identical_across_pools((333, 517, 131), strided);
    assert_bit_identical_across_pools((67, 301, 257), strided);
}

/// The teacher's (784-1200-1200-10, batch 64) forward, dW and dx products.
#[test]
fn teacher_shapes_are_bit_identical_for_1_2_3_4_16_threads() {
    use Layout::{RowMajor as R, Transposed as T};
    for (shape, layouts) in [
        ((64, 784, 1200), [R, R, R]),  // y1 = x·W1
        ((64, 1200, 1200), [R, R, R]), // y2 = h1·W2
        ((64, 1200, 10), [R, R, R]),   // z = h2·W3
        ((784, 64, 1200), [T, R, R]),  // dW1 = xᵀ·dy1
        ((1200, 64, 1200), [T, R, R]), // dW2 = h1ᵀ·dy2
        ((1200, 64, 10), [T, R, R]),   // dW3 = h2ᵀ·dz
        ((64, 1200, 1200), [R, T, R]), // dh1 = dy2·W2ᵀ
        ((64, 1200, 784), [R, T, R]),  // dx = dy1·W1ᵀ
        ((64, 10, 1200), [R, T, R]),   // dh2 = dz·W3ᵀ
    ] {
        assert_bit_identical_across_pools(shape, layouts);
    }
}

#[test]
#[should_panic(expected = "gemm: A is 3x4 but B is 5x2")]
fn inner_dimension_mismatch_panics() {
    let (a, b) = (Array2::<f32>::zeros((3, 4)), Array2::<f32>::zeros((5, 2)));
    let mut c = Array2::<f32>::zeros((3, 2));
    gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
}

#[test]
#[should_panic(expected = "gemm: C is (2, 3), expected (3, 2)")]
fn output_shape_mismatch_panics() {
    let (a, b) = (Array2::<f64>::zeros((3, 4)), Array2::<f64>::zeros((4, 2)));
    let mut c = Array2::<f64>::zeros((2, 3));
    gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
}
