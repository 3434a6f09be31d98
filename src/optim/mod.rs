//! Optimisers and what runs after them. Adam, in Keras 3's exact form (see `docs/math.md`,
//! "Adam"); the max-norm projection applied after each step (`constraint.rs`).

mod adam;
mod constraint;

pub use adam::{Adam, AdamConfig};
pub use constraint::{max_norm_columns, COLUMN_BLOCK};
