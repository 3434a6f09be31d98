//! Builds small IDX files and data set folders inside tests, byte by byte, independently of the
//! reader under test.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::fs;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

/// `00 00 dtype ndims`, big-endian u32 dims, then `payload`.
pub fn idx_bytes(dtype: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, dtype, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(payload);
    bytes
}

/// A u8 IDX file.
pub fn u8_idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    idx_bytes(0x08, dims, payload)
}

/// `bytes` as one gzip member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Pseudo-random bytes (xorshift64) that do not compress: a gzip of them is as big as they are.
pub fn noise(n: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Deterministic pixel bytes covering 0..=255.
pub fn pixels(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 37 % 256) as u8).collect()
}

/// One split as IDX files: `n` images of `rows × cols` and labels `i % 10`.
pub struct SplitFiles {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl SplitFiles {
    pub fn new(n: u32, rows: u32, cols: u32) -> Self {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        SplitFiles {
            images: u8_idx(&[n, rows, cols], &pixels((n * rows * cols) as usize)),
            labels: u8_idx(&[n], &labels),
        }
    }
}

/// Writes a data set folder; `gz` chooses `name.gz` (gzip) or `name` (raw) for all four files.
pub fn write_set(dir: &Path, train: &SplitFiles, test: &SplitFiles, gz: bool) {
    let files = [
        ("train-images-idx3-ubyte", &train.images),
        ("train-labels-idx1-ubyte", &train.labels),
        ("t10k-images-idx3-ubyte", &test.images),
        ("t10k-labels-idx1-ubyte", &test.labels),
    ];
    for (name, bytes) in files {
        if gz {
            fs::write(dir.join(format!("{name}.gz")), gzip(bytes)).unwrap();
        } else {
            fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

/// A temporary folder with a small valid set: 6 train and 4 test images of 3×2.
pub fn small_set(gz: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_set(
        dir.path(),
        &SplitFiles::new(6, 3, 2),
        &SplitFiles::new(4, 3, 2),
        gz,
    );
    dir
}
