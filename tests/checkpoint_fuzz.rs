//! The checkpoint reader on hostile and damaged files, as the IDX reader is fuzzed: random
//! bytes, random and hostile headers (huge lengths, overlapping or out-of-range offsets, wrong
//! dtypes, shapes whose product overflows, NaN/Inf weights, metadata that is not JSON or not
//! strings), every truncation and bit flip of a real checkpoint. Each gives an error naming the
//! file or a valid model, never a panic, and no single allocation beyond what the file's size
//! justifies (a counting allocator measures it).
//!
//! `cargo test --release` runs 256 cases per property; a longer soak:
//! `PROPTEST_CASES=20000 cargo test --release --test checkpoint_fuzz`.

mod largest_alloc;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use distill::checkpoint::{load, mlp_metadata, save};
use distill::Error;
use largest_alloc::largest_allocation;
use ndarray::{Array1, Array2};
use proptest::prelude::*;

/// The tests of this file measure one at a time (the allocator is global).
static SERIAL: Mutex<()> = Mutex::new(());

/// Loads `bytes` as `dir/fuzzed.safetensors`; checks the outcome is an error naming the file or
/// a valid model, and that no allocation exceeded twice the file plus 64 KiB. Returns the
/// model's sizes when it loaded.
fn check(dir: &Path, bytes: &[u8]) -> Result<Option<Vec<usize>>, TestCaseError> {
    let path = dir.join("fuzzed.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let (result, largest) = largest_allocation(|| load(&path));
    prop_assert!(
        largest <= 2 * bytes.len() + 64 * 1024,
        "{largest} bytes allocated for a {}-byte file",
        bytes.len()
    );
    match result {
        Err(Error::Checkpoint { path: p, .. }) => prop_assert_eq!(p, path),
        Err(other) => prop_assert!(false, "not a checkpoint error: {other:?}"),
        Ok(ckpt) => {
            prop_assert!(!ckpt.layers.is_empty());
            for (w, b) in &ckpt.layers {
                prop_assert_eq!(w.ncols(), b.len());
                prop_assert!(w.iter().chain(b.iter()).all(|v| v.is_finite()));
            }
            prop_assert!(ckpt
                .layers
                .windows(2)
                .all(|l| l[0].0.ncols() == l[1].0.nrows()));
            return Ok(Some(ckpt.sizes()));
        }
    }
    Ok(None)
}

/// A real checkpoint as `distill` writes it: an MLP [3, 2, 2] with its metadata.
fn real_checkpoint() -> Vec<u8> {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(write_real_checkpoint).clone()
}

fn write_real_checkpoint() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.safetensors");
    let sizes = [3usize, 2, 2];
    let layers: Vec<(Array2<f32>, Array1<f32>)> = sizes
        .windows(2)
        .map(|w| {
            let weight = Array2::from_shape_fn((w[0], w[1]), |(i, j)| (i * 7 + j) as f32 * 0.1);
            (weight, Array1::from_elem(w[1], -0.5))
        })
        .collect();
    let views: Vec<_> = layers.iter().map(|(w, b)| (w.view(), b.view())).collect();
    let metadata = mlp_metadata(&sizes, 0.5, r#"{"train":{"seed":42}}"#);
    save(&path, &views, &metadata).unwrap();
    std::fs::read(path).unwrap()
}

/// `N | header | data` with the given header length field.
fn framed(length: u64, header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = length.to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Sizes and offsets a hostile header may use: small, and huge enough to overflow.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..48,
        1 => Just(1u64 << 32),
        1 => Just(1u64 << 62),
        1 => Just(u64::MAX),
    ]
}

fn tensor_entry() -> impl Strategy<Value = String> {
    (
        "(layers\\.[0-2]\\.(weight|bias)|layers\\.01\\.weight|x)",
        "(F32|F64|F16|BF16|I8|U8|BOOL|I64|XX)",
        prop::collection::vec(number(), 0..4),
        number(),
        number(),
    )
        .prop_map(|(name, dtype, shape, start, end)| {
            format!(
                r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{start},{end}]}}"#
            )
        })
}

fn metadata_entry() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        r#""__metadata__":{"format":"distill-mlp","sizes":"[2,3]"}"#,
        r#""__metadata__":{"format":"distill-mlp","sizes":"not json"}"#,
        r#""__metadata__":{"format":"distill-mlp","sizes":"[18446744073709551615]"}"#,
        r#""__metadata__":{"dropout":1}"#,
        r#""__metadata__":[1,2]"#,
        r#""__metadata__":"text""#,
        r#""__metadata__":null"#,
    ])
    .prop_map(String::from)
}

/// Data bytes with NaN, ±Inf and huge F64 patterns among random bytes.
fn data() -> impl Strategy<Value = Vec<u8>> {
    let special = prop::sample::select(vec![
        f32::NAN.to_le_bytes().to_vec(),
        f32::INFINITY.to_le_bytes().to_vec(),
        f32::NEG_INFINITY.to_le_bytes().to_vec(),
        1.0f32.to_le_bytes().to_vec(),
        1e300f64.to_le_bytes().to_vec(),
        f64::NAN.to_le_bytes().to_vec(),
    ]);
    prop::collection::vec(
        prop_oneof![special, prop::collection::vec(any::<u8>(), 1..8)],
        0..12,
    )
    .prop_map(|chunks| chunks.concat())
}

fn hostile_file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(tensor_entry(), 0..5),
        prop::option::of(metadata_entry()),
        data(),
        prop_oneof![3 => Just(None), 1 => number().prop_map(Some)],
    )
        .prop_map(|(tensors, metadata, data, length)| {
            let entries: Vec<String> = metadata.into_iter().chain(tensors).collect();
            let header = format!("{{{}}}", entries.join(","));
            framed(length.unwrap_or(header.len() as u64), &header, &data)
        })
}

fn damaged_real_file() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(edits, cut)| {
            let mut file = real_checkpoint();
            for (at, byte) in edits {
                let i = at.index(file.len());
                file[i] = byte;
            }
            file.truncate(cut.index(file.len() + 1));
            file
        })
}

proptest! {
    // ProptestConfig::default(): 256 cases, or PROPTEST_CASES
    #[test]
    fn any_file_is_an_error_naming_it_or_a_valid_model(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            hostile_file(),
            damaged_real_file(),
        ]
    ) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        check(dir.path(), &bytes)?;
    }
}

#[test]
fn every_truncation_and_bit_flip_of_a_real_checkpoint() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = real_checkpoint();
    assert_eq!(check(dir.path(), &file).unwrap(), Some(vec![3, 2, 2]));
    for len in 0..file.len() {
        let loaded = check(dir.path(), &file[..len]).unwrap();
        assert_eq!(loaded, None, "truncated to {len} bytes, it loaded");
    }
    for bit in 0..file.len() * 8 {
        let mut flipped = file.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        if let Some(found) = check(dir.path(), &flipped).unwrap() {
            assert_eq!(found, vec![3, 2, 2], "bit {bit} changed the architecture");
        }
    }
}

#[test]
fn distill_eval_on_a_damaged_checkpoint_prints_one_line_naming_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = real_checkpoint();
    let mut header_flip = file.clone();
    header_flip[20] ^= 0x40;
    let mut nan = file.clone();
    let at = file.len() - 4;
    nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
    let cases: BTreeMap<&str, Vec<u8>> = BTreeMap::from([
        ("empty", Vec::new()),
        ("truncated", file[..file.len() / 2].to_vec()),
        ("header-flip", header_flip),
        ("nan", nan),
        ("huge-length", framed(u64::MAX, "{}", &[])),
    ]);
    for (name, bytes) in cases {
        let path = dir.path().join(format!("{name}.safetensors"));
        std::fs::write(&path, bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_distill"))
            .arg("eval")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: {}", path.display())),
            "{name}: {stderr}"
        );
    }
}
