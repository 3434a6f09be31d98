//! The scalar type the engine is generic over: `f32` to train, `f64` to check gradients.
//!
//! One code path serves both: every layer, loss and optimiser is written once over `A: Scalar`,
//! so the code a gradient check verifies in f64 is the code that trains in f32.

use std::fmt::{Debug, Display};
use std::iter::Sum;

use ndarray::{LinalgScalar, ScalarOperand};
use ndarray_rand::rand_distr::uniform::SampleUniform;
use num_traits::{Float, FromPrimitive};

/// A floating-point element type of the engine (`f32` or `f64`).
pub trait Scalar:
    LinalgScalar
    + Float
    + FromPrimitive
    + ScalarOperand
    + SampleUniform
    + Sum
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + std::ops::DivAssign
    + 'static
{
    /// The type's name as safetensors and reports spell it (`"F32"`, `"F64"`).
    const NAME: &'static str;

    /// `C <- alpha·A·B + beta·C` on raw strided memory: matrixmultiply's `sgemm`/`dgemm`.
    ///
    /// ```text
    /// A: (m, k) strides (rsa, csa)   B: (k, n) strides (rsb, csb)   C: (m, n) strides (rsc, csc)
    /// ```
    /// With `beta == 0`, `C` is written without being read (NaN in `C` does not propagate).
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping matrices of those shapes;
    /// `C` must be writable. [`crate::linalg::gemm`] is the safe entry point.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );

    /// Converts an `f64` constant (a hyper-parameter, a literal) to this type.
    fn of(x: f64) -> Self {
        <Self as FromPrimitive>::from_f64(x).expect("every f64 converts to a float type")
    }
}

macro_rules! impl_scalar {
    ($t:ty, $name:literal, $gemm:path) => {
        impl Scalar for $t {
            const NAME: &'static str = $name;

            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded verbatim; the caller upholds the contract above.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_scalar!(f32, "F32", matrixmultiply::sgemm);
impl_scalar!(f64, "F64", matrixmultiply::dgemm);
