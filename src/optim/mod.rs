//! Optimisers. One: Adam, in Keras 3's exact form (see `docs/math.md`, "Adam").

mod adam;

pub use adam::{Adam, AdamConfig};
