//! Data: IDX files -> validated MNIST-style splits -> shuffled, scaled batches.
//!
//! ```text
//! idx.rs       bytes (raw or gzip) -> header + u8 payload, validated before allocating
//! mnist.rs     a directory of four IDX files -> Mnist { train, test }, cross-checked
//! split.rs     Split: u8 pixels (n, rows·cols) + labels; train limit, validation split, batches
//! shuffle.rs   seeded Fisher–Yates, a fresh permutation per epoch
//! augment.rs   jitter: integer shifts of the u8 image, seeded per (seed, epoch, example)
//! transfer.rs  transfer sets: a split without some classes, or with only some
//! checksum.rs  SHA-256 of decoded files against PAYLOAD_SHA256SUMS
//! source.rs    where a data set comes from: the MNIST embedded in the binary, or a folder
//! summary.rs   the report `distill data` prints
//! ```

use std::path::PathBuf;

pub mod augment;
pub mod checksum;
pub mod idx;
pub mod mnist;
pub mod shuffle;
pub mod source;
pub mod split;
pub mod summary;
pub mod transfer;

pub use augment::Jitter;
pub use checksum::{verify_payloads, PayloadCheck};
pub use mnist::{Mnist, MnistFiles};
pub use shuffle::shuffled_indices;
pub use source::DataSource;
pub use split::{validation_split_at, Split};
pub use summary::DataSummary;
pub use transfer::TransferSet;

/// Number of classes (digits 0–9; the ten Fashion-MNIST articles).
pub const CLASSES: usize = 10;

/// The shipped MNIST directory of the source tree (tests and benches read it; the binary's
/// default is the [`DataSource::Embedded`] copy of the same files).
///
/// ```text
/// <CARGO_MANIFEST_DIR>/data/mnist   if it exists (so `cargo run` works from the repository root)
/// data/mnist                        otherwise, relative to the working directory
/// ```
pub fn default_data_dir() -> PathBuf {
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    if shipped.is_dir() {
        shipped
    } else {
        PathBuf::from("data/mnist")
    }
}
