//! The IDX reader on damaged bytes: any byte sequence, any truncation, any bit flip of a valid
//! file (raw or gzip) gives `Ok` or an error, never a panic; and whatever it accepts is
//! self-consistent (the payload is exactly the product of the dims).

mod idx_builder;

use std::fs;

use distill::data::idx::read_idx;
use idx_builder::{gzip, pixels, u8_idx};
use proptest::prelude::*;

/// Reads `bytes` from a file; panics (fails the test) only if the reader itself panics.
fn read(bytes: &[u8]) -> Result<(Vec<usize>, usize), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f-idx3-ubyte");
    fs::write(&path, bytes).unwrap();
    read_idx(&path)
        .map(|idx| (idx.dims().to_vec(), idx.data().len()))
        .map_err(|e| e.to_string())
}

fn valid(gzipped: bool) -> Vec<u8> {
    let raw = u8_idx(&[3, 4, 5], &pixels(60));
    if gzipped {
        gzip(&raw)
    } else {
        raw
    }
}

/// Whatever the reader accepts holds exactly Π dims bytes.
fn consistent(result: Result<(Vec<usize>, usize), String>) {
    if let Ok((dims, len)) = result {
        assert_eq!(dims.iter().product::<usize>(), len, "dims {dims:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        consistent(read(&bytes));
    }

    #[test]
    fn random_headers_never_panic(dtype in any::<u8>(), ndims in 0u8..6, dims in proptest::collection::vec(any::<u32>(), 0..6), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = vec![0, 0, dtype, ndims];
        dims.iter().for_each(|d| bytes.extend_from_slice(&d.to_be_bytes()));
        bytes.extend_from_slice(&tail);
        consistent(read(&bytes));
        consistent(read(&gzip(&bytes)));
    }

    #[test]
    fn damaged_valid_files_never_panic(gzipped in any::<bool>(), cut in 0usize..400, flip in 0usize..3200) {
        let good = valid(gzipped);
        let mut flipped = good.clone();
        let bit = flip % (flipped.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        consistent(read(&flipped));
        consistent(read(&good[..cut.min(good.len())]));
    }
}

#[test]
fn the_undamaged_files_load() {
    for gzipped in [false, true] {
        assert_eq!(read(&valid(gzipped)), Ok((vec![3, 4, 5], 60)));
    }
}
