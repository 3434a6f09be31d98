//! The IDX reader never allocates for a size it has only been promised.
//!
//! A counting global allocator records the largest single allocation; this file holds one test,
//! so nothing else runs in the process while it measures.

mod idx_builder;
mod largest_alloc;

use std::fs;

use distill::data::idx::read_idx;
use distill::Error;
use idx_builder::{gzip, noise, u8_idx};
use largest_alloc::largest_allocation;

#[test]
fn promised_sizes_are_never_allocated() {
    let dir = tempfile::tempdir().unwrap();
    // Noise does not compress: the gzip file is about as big as its content.
    let noise = noise(200_000);
    let mb = 1 << 20;

    // Promises 2^31 images of 28×28 (1.7 TB): beyond 1032 × the file, rejected from the header.
    let huge = dir.path().join("huge.gz");
    fs::write(&huge, gzip(&u8_idx(&[1 << 31, 28, 28], &noise))).unwrap();
    let (result, largest) = largest_allocation(|| read_idx(&huge));
    assert!(matches!(result, Err(Error::TooLarge { .. })), "{result:?}");
    assert!(largest < mb, "allocated {largest} bytes");

    // Promises 100 MB, within 1032 × the ~200 KB file, but the stream holds 200 KB: the buffer
    // grows with what arrives and stays near the real size.
    let plausible = dir.path().join("plausible.gz");
    fs::write(&plausible, gzip(&u8_idx(&[100_000, 1000], &noise))).unwrap();
    let (result, largest) = largest_allocation(|| read_idx(&plausible));
    assert!(
        matches!(result, Err(Error::Truncated { found: 200_000, .. })),
        "{result:?}"
    );
    assert!(largest < 2 * mb, "allocated {largest} bytes");

    // The same promise in a raw file: found from the file size, nothing read.
    let raw = dir.path().join("raw");
    fs::write(&raw, u8_idx(&[1 << 31, 28, 28], &noise)).unwrap();
    let (result, largest) = largest_allocation(|| read_idx(&raw));
    assert!(matches!(result, Err(Error::Truncated { .. })), "{result:?}");
    assert!(largest < mb, "allocated {largest} bytes");
}
