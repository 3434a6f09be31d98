//! `distill`: knowledge distillation (Hinton, Vinyals & Dean 2015) on MNIST with a hand-written,
//! gradient-checked numeric engine.

pub mod atomic;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod gradcheck;
pub mod linalg;
pub mod loss;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod report;
pub mod scalar;
pub mod train;

pub use error::{Error, Result};
pub use scalar::Scalar;
