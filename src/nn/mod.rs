//! Layers, each with its forward and backward side by side, and the MLP that stacks them.

/// Whether a forward pass trains (dropout active) or evaluates (dropout is the identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dropout draws a fresh seeded mask; activations are cached for backward.
    Train,
    /// Dropout is the identity; the pass is deterministic.
    Eval,
}

pub mod dense;
pub mod dropout;
pub mod mlp;
pub mod relu;

pub use dense::Dense;
pub use dropout::{mask_stream, Dropout, MaskRng};
pub use mlp::{Mlp, PREDICT_CHUNK};
pub use relu::{relu_backward, relu_forward};
