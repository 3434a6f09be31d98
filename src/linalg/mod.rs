//! Dense linear algebra: one general matrix multiply, threaded deterministically.

mod gemm;

pub use gemm::gemm;
