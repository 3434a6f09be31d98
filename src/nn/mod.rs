//! Layers, each with its forward and backward side by side, and the MLP that stacks them.

/// Whether a forward pass trains (dropout active) or evaluates (dropout is the identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dropout draws a fresh seeded mask; activations are cached for backward.
    Train,
    /// Dropout is the identity; the pass is deterministic.
    Eval,
}

/// Whether a backward pass adds the batch's parameter gradients to `dW`, `db` or replaces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gradients {
    /// `dW += xᵀ·dy`: gradients of several backward passes sum up (zero them first).
    Accumulate,
    /// `dW = xᵀ·dy`: the same as zeroing then accumulating, without the extra pass that zeroes
    /// (and the extra read of) every gradient buffer. What one optimiser step per batch needs.
    Overwrite,
}

pub mod bias_shift;
pub mod dense;
pub mod dropout;
pub mod mlp;
pub mod relu;

pub use bias_shift::BiasShift;
pub use dense::Dense;
pub use dropout::{input_mask_stream, mask_stream, Dropout, MaskRng};
pub use mlp::{Mlp, PREDICT_CHUNK};
pub use relu::{relu_backward, relu_forward};
