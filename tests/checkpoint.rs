//! Checkpoints: round trips, byte determinism, interop with files not written by us, and every
//! way a file can fail to be a checkpoint, each with its message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use distill::checkpoint::{load, mlp_metadata, save, Checkpoint};
use distill::Error;
use ndarray::{array, Array1, Array2};
use proptest::prelude::*;

/// Layers of sizes `sizes` with distinct, awkward values (subnormals, −0, extremes) in each.
fn layers(sizes: &[usize]) -> Vec<(Array2<f32>, Array1<f32>)> {
    let specials = [
        -0.0,
        f32::MIN_POSITIVE / 3.0,
        f32::MAX,
        f32::MIN,
        1e-30,
        0.1,
    ];
    let mut k = 0usize;
    let mut next = || {
        k += 1;
        specials
            .get(k % 17)
            .copied()
            .unwrap_or((k as f32).sin() * 3.7)
    };
    sizes
        .windows(2)
        .map(|d| {
            (
                Array2::from_shape_fn((d[0], d[1]), |_| next()),
                Array1::from_shape_fn(d[1], |_| next()),
            )
        })
        .collect()
}

fn views(
    layers: &[(Array2<f32>, Array1<f32>)],
) -> Vec<(ndarray::ArrayView2<'_, f32>, ndarray::ArrayView1<'_, f32>)> {
    layers.iter().map(|(w, b)| (w.view(), b.view())).collect()
}

fn metadata(sizes: &[usize]) -> BTreeMap<String, String> {
    let mut m = mlp_metadata(sizes, 0.25, r#"{"seed":7,"note":"quotes \" and ünïcode"}"#);
    for key in ["zeta", "alpha", "mid", "z2", "a2", "b", "y"] {
        m.insert(key.to_string(), format!("value of {key}"));
    }
    m
}

/// Hand-assembled safetensors bytes, as numpy/PyTorch write them: length, JSON, raw LE data.
fn assemble(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// One tensor's header entry.
fn entry(name: &str, dtype: &str, shape: &[usize], start: usize, end: usize) -> String {
    format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape:?},"data_offsets":[{start},{end}]}}"#)
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A valid hand-assembled file of one layer [2, 3] with bias [3]; weight data first.
fn one_layer_file() -> Vec<u8> {
    let header = format!(
        "{{{},{}}}",
        entry("layers.0.weight", "F32", &[2, 3], 0, 24),
        entry("layers.0.bias", "F32", &[3], 24, 36)
    );
    let mut data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    data.extend(f32_bytes(&[-1.0, 0.5, 0.25]));
    assemble(&header, &data)
}

/// Writes `bytes` to `dir/name` and loads it.
fn load_bytes(dir: &Path, name: &str, bytes: &[u8]) -> distill::Result<Checkpoint> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    load(&path)
}

/// The reason of an `Error::Checkpoint`, after checking it names `path`.
fn reason<T: std::fmt::Debug>(result: distill::Result<T>, path: &Path) -> String {
    match result {
        Err(Error::Checkpoint { path: p, reason }) => {
            assert_eq!(p, path);
            reason
        }
        other => panic!("expected Error::Checkpoint, got {other:?}"),
    }
}

/// Loads a hand-assembled file expected to be refused; returns the reason.
fn refused(header: &str, data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    reason(
        load_bytes(dir.path(), "bad.safetensors", &assemble(header, data)),
        &path,
    )
}

fn bits(a: &Array2<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn round_trip_is_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let original = layers(&[5, 4, 3]);
    save(&path, &views(&original), &metadata(&[5, 4, 3])).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.metadata, metadata(&[5, 4, 3]));
    assert_eq!(loaded.sizes(), vec![5, 4, 3]);
    for ((w, b), (lw, lb)) in original.iter().zip(&loaded.layers) {
        assert_eq!(bits(w), bits(lw));
        assert_eq!(
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            lb.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn empty_metadata_round_trips_without_a_metadata_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(&path, &views(&layers(&[2, 2])), &BTreeMap::new()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("__metadata__"));
    assert!(load(&path).unwrap().metadata.is_empty());
}

#[test]
fn equal_content_gives_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let mut reversed = BTreeMap::new(); // same map built in another insertion order
    for (k, v) in metadata(&[3, 12, 2]).into_iter().rev() {
        reversed.insert(k, v);
    }
    save(&a, &views(&layers(&[3, 12, 2])), &metadata(&[3, 12, 2])).unwrap();
    save(&b, &views(&layers(&[3, 12, 2])), &reversed).unwrap();
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn golden_file_pins_the_format() {
    // tests/fixtures/distill_tiny.safetensors was written by this save(); Python verification of
    // the same file is in tests/fixtures/README.md.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.safetensors");
    let w0 = array![[0.5f32, -1.0], [0.25, 2.0], [-0.125, 3.0]];
    let b0 = array![0.0f32, -0.5];
    let w1 = array![[1.5f32], [-2.5]];
    let b1 = array![0.75f32];
    let meta = mlp_metadata(&[3, 2, 1], 0.5, r#"{"epochs":50,"seed":0}"#);
    save(
        &path,
        &[(w0.view(), b0.view()), (w1.view(), b1.view())],
        &meta,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(fixture("distill_tiny.safetensors")).unwrap()
    );
}

#[test]
fn our_bytes_are_the_safetensors_crate_bytes_and_it_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let original = layers(&[4, 3, 2]);
    let one_key = BTreeMap::from([("format".to_string(), "distill-mlp".to_string())]);
    save(&path, &views(&original), &one_key).unwrap();
    let ours = std::fs::read(&path).unwrap();

    // The crate's serializer, fed the same tensors (it sorts them by name, as we do).
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = original
        .iter()
        .enumerate()
        .flat_map(|(i, (w, b))| {
            [
                (
                    format!("layers.{i}.weight"),
                    f32_bytes(&w.iter().copied().collect::<Vec<_>>()),
                    w.shape().to_vec(),
                ),
                (
                    format!("layers.{i}.bias"),
                    f32_bytes(&b.to_vec()),
                    b.shape().to_vec(),
                ),
            ]
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, bytes, shape)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                    .unwrap(),
            )
        })
        .collect();
    let theirs =
        safetensors::serialize(views, &Some(one_key.clone().into_iter().collect())).unwrap();
    assert_eq!(ours, theirs);

    let read = safetensors::SafeTensors::deserialize(&ours).unwrap();
    assert_eq!(read.tensor("layers.1.weight").unwrap().shape(), &[3, 2]);
    assert_eq!(
        read.tensor("layers.0.bias").unwrap().data(),
        f32_bytes(&original[0].1.to_vec())
    );
}

#[test]
fn transposed_views_are_saved_in_logical_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let stored = Array2::from_shape_fn((3, 4), |(r, c)| (10 * r + c) as f32); // saved as its transpose
    let strided = Array1::from_shape_fn(6, |k| k as f32); // bias = every other element
    let bias = strided.slice(ndarray::s![..;2]);
    save(&path, &[(stored.t(), bias)], &BTreeMap::new()).unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.layers[0].0, stored.t());
    assert_eq!(loaded.layers[0].1, array![0.0f32, 2.0, 4.0]);
}

#[test]
fn a_refused_save_writes_nothing_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save(&path, &views(&layers(&[2, 2])), &BTreeMap::new()).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut bad = layers(&[2, 3]);
    bad[0].0[[1, 2]] = f32::NAN;
    let r = reason(save(&path, &views(&bad), &BTreeMap::new()), &path);
    assert!(
        r.contains("layers.0.weight holds a non-finite value NaN at flat index 5"),
        "{r}"
    );
    let mismatched = [layers(&[2, 3]).remove(0), layers(&[4, 1]).remove(0)];
    let r = reason(save(&path, &views(&mismatched), &BTreeMap::new()), &path);
    assert!(
        r.contains("layers.1.weight is [4, 1] but layers.0 outputs 3"),
        "{r}"
    );
    let r = reason(save(&path, &[], &BTreeMap::new()), &path);
    assert!(r.contains("no layers"), "{r}");
    let r = reason(
        save(&path, &views(&layers(&[2, 3])), &metadata(&[2, 4])),
        &path,
    );
    assert!(
        r.contains("metadata sizes [2,4] but the tensors give [2, 3]"),
        "{r}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn save_into_a_missing_folder_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/m.safetensors");
    assert!(matches!(
        save(&path, &views(&layers(&[2, 2])), &BTreeMap::new()),
        Err(Error::Io { .. })
    ));
}

#[test]
fn hand_assembled_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = load_bytes(dir.path(), "hand.safetensors", &one_layer_file()).unwrap();
    assert_eq!(
        ckpt.layers[0].0,
        array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]
    );
    assert_eq!(ckpt.layers[0].1, array![-1.0f32, 0.5, 0.25]);
    assert!(ckpt.metadata.is_empty());
    assert_eq!(ckpt.sizes(), vec![2, 3]);
}

/// The fixture formula (tests/fixtures/make_numpy_fixtures.py).
fn numpy_layers(sizes: &[usize]) -> Vec<(Array2<f32>, Array1<f32>)> {
    sizes
        .windows(2)
        .enumerate()
        .map(|(i, d)| {
            let w =
                Array2::from_shape_fn((d[0], d[1]), |(r, c)| ((r * d[1] + c) as f32 - 5.0) / 8.0);
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            (
                w,
                Array1::from_shape_fn(d[1], |c| sign * (c as f32 + 1.0) / 4.0),
            )
        })
        .collect()
}

#[test]
fn numpy_f32_file_loads() {
    let ckpt = load(&fixture("numpy_f32.safetensors")).unwrap();
    assert_eq!(ckpt.sizes(), vec![5, 4, 3, 2]);
    assert_eq!(ckpt.layers, numpy_layers(&[5, 4, 3, 2]));
    assert!(ckpt.metadata.is_empty());
}

#[test]
fn numpy_f64_file_loads_converted_to_f32() {
    let ckpt = load(&fixture("numpy_f64.safetensors")).unwrap();
    assert_eq!(ckpt.layers, numpy_layers(&[3, 2]));
    assert_eq!(
        ckpt.metadata,
        BTreeMap::from([("source".to_string(), "numpy".to_string())])
    );
}

#[test]
fn check_input_size_compares_with_the_data() {
    let ckpt = Checkpoint {
        layers: layers(&[784, 3, 10]),
        metadata: BTreeMap::new(),
    };
    assert_eq!(ckpt.sizes(), vec![784, 3, 10]);
    ckpt.check_input_size(Path::new("t.safetensors"), 784)
        .unwrap();
    let r = reason(
        ckpt.check_input_size(Path::new("t.safetensors"), 400),
        Path::new("t.safetensors"),
    );
    assert_eq!(
        r,
        "the checkpoint takes inputs of 784 values but the data's examples have 400"
    );
}

#[test]
fn check_output_size_compares_with_the_classes() {
    // A 5-logit model on 10-class labels used to panic in `distill eval` (cross-entropy's label
    // assert); the loader's caller refuses it with this check instead.
    let path = Path::new("t.safetensors");
    let ckpt = Checkpoint {
        layers: layers(&[784, 3, 10]),
        metadata: BTreeMap::new(),
    };
    ckpt.check_output_size(path, 10).unwrap();
    let five = Checkpoint {
        layers: layers(&[784, 5]),
        metadata: BTreeMap::new(),
    };
    assert_eq!(
        reason(five.check_output_size(path, 10), path),
        "the checkpoint gives 5 logits per example but the data has 10 classes"
    );
    let empty = Checkpoint {
        layers: Vec::new(),
        metadata: BTreeMap::new(),
    };
    assert_eq!(
        reason(empty.check_output_size(path, 10), path),
        "the checkpoint gives no logits per example but the data has 10 classes"
    );
}

// ----- refusals: each reason names what does not match ----------------------------------------

#[test]
fn empty_and_short_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    assert_eq!(
        reason(load_bytes(dir.path(), "e", b""), &path("e")),
        "empty file"
    );
    assert!(reason(load_bytes(dir.path(), "s", b"{}"), &path("s"))
        .contains("not a safetensors file: 2 bytes"));
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    assert!(reason(load_bytes(dir.path(), "p", png), &path("p"))
        .contains("not a safetensors file, or truncated"));
    assert!(matches!(load(&path("missing")), Err(Error::Io { .. })));
}

#[test]
fn damaged_header_is_refused() {
    assert!(refused("{\"layers.0.weight\":{", b"").contains("damaged safetensors header"));
    assert!(refused(
        r#"{"layers.0.weight":{"dtype":"F99","shape":[1,1],"data_offsets":[0,4]}}"#,
        &[0; 4]
    )
    .contains("damaged safetensors header"));
    assert!(refused("[1,2]", b"").contains("damaged safetensors header"));
}

#[test]
fn truncated_and_trailing_data_are_refused() {
    let file = one_layer_file();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let r = reason(load_bytes(dir.path(), "f", &file[..file.len() - 3]), &path);
    assert!(
        r.contains("truncated data: the header describes 36 data bytes but the file holds 33"),
        "{r}"
    );
    let mut longer = file.clone();
    longer.push(0);
    let r = reason(load_bytes(dir.path(), "f", &longer), &path);
    assert!(r.contains("1 trailing bytes"), "{r}");
}

#[test]
fn inconsistent_offsets_are_refused() {
    let overlap = format!(
        "{{{},{}}}",
        entry("layers.0.weight", "F32", &[1, 1], 0, 4),
        entry("layers.0.bias", "F32", &[1], 2, 6)
    );
    assert!(refused(&overlap, &[0; 6]).contains("do not start where the previous tensor ends"));
    let size = format!(
        "{{{},{}}}",
        entry("layers.0.weight", "F32", &[1, 2], 0, 4),
        entry("layers.0.bias", "F32", &[2], 4, 12)
    );
    assert!(refused(&size, &[0; 12]).contains("layers.0.weight: shape [1, 2] of F32 needs 8 bytes"));
    // An end offset near usize::MAX: refused, no overflow (the crate's reader would add to it).
    let huge = entry("x", "U8", &[usize::MAX], 0, usize::MAX);
    assert!(refused(&format!("{{{huge}}}"), &[0; 4]).contains("truncated data"));
    let overflow = entry("x", "F32", &[usize::MAX / 2, 3], 0, 4);
    assert!(refused(&format!("{{{overflow}}}"), &[0; 4]).contains("overflows"));
}

#[test]
fn missing_first_weight_is_refused() {
    assert!(refused("{}", b"").contains("no tensor layers.0.weight"));
    let only_second = format!(
        "{{{},{}}}",
        entry("layers.1.weight", "F32", &[1, 1], 0, 4),
        entry("layers.1.bias", "F32", &[1], 4, 8)
    );
    assert!(refused(&only_second, &[0; 8]).contains("no tensor layers.0.weight"));
}

/// A file with the given (name, shape) F32 tensors, all values 0.5.
fn file_of(tensors: &[(&str, &[usize])]) -> (String, Vec<u8>) {
    let mut offset = 0;
    let entries: Vec<String> = tensors
        .iter()
        .map(|(name, shape)| {
            let end = offset + 4 * shape.iter().product::<usize>();
            let e = entry(name, "F32", shape, offset, end);
            offset = end;
            e
        })
        .collect();
    (
        format!("{{{}}}", entries.join(",")),
        f32_bytes(&vec![0.5; offset / 4]),
    )
}

fn refused_tensors(tensors: &[(&str, &[usize])]) -> String {
    let (header, data) = file_of(tensors);
    refused(&header, &data)
}

#[test]
fn gaps_and_missing_halves_are_refused() {
    let r = refused_tensors(&[
        ("layers.0.weight", &[2, 2]),
        ("layers.0.bias", &[2]),
        ("layers.2.weight", &[2, 2]),
        ("layers.2.bias", &[2]),
    ]);
    assert_eq!(
        r,
        "gap in the layer indices: layers.1.weight is missing but layers.2.weight exists"
    );
    let r = refused_tensors(&[
        ("layers.0.weight", &[2, 2]),
        ("layers.0.bias", &[2]),
        ("layers.1.weight", &[2, 2]),
    ]);
    assert_eq!(r, "layers.1.weight has no layers.1.bias");
    let r = refused_tensors(&[
        ("layers.0.weight", &[2, 2]),
        ("layers.0.bias", &[2]),
        ("layers.1.bias", &[2]),
    ]);
    assert_eq!(r, "layers.1.bias has no layers.1.weight");
    // A huge index is a gap, found without counting up to it.
    let r = refused_tensors(&[
        ("layers.0.weight", &[2, 2]),
        ("layers.0.bias", &[2]),
        ("layers.9999999999999.weight", &[2, 2]),
    ]);
    assert!(
        r.contains("layers.1.weight is missing but layers.9999999999999.weight exists"),
        "{r}"
    );
}

#[test]
fn unexpected_names_are_listed() {
    let r = refused_tensors(&[
        ("layers.0.weight", &[2, 2]),
        ("layers.0.bias", &[2]),
        ("0.weight", &[2]),
        ("layers.01.bias", &[2]),
        ("layers.0.gamma", &[2]),
    ]);
    assert_eq!(
        r,
        r#"unexpected tensors ["0.weight", "layers.0.gamma", "layers.01.bias"]: expected only layers.{i}.weight and layers.{i}.bias"#
    );
}

#[test]
fn wrong_ranks_are_refused() {
    let r = refused_tensors(&[("layers.0.weight", &[2, 2, 1]), ("layers.0.bias", &[2])]);
    assert_eq!(
        r,
        "layers.0.weight has rank 3 (shape [2, 2, 1]); expected 2: [D_in, D_out]"
    );
    let r = refused_tensors(&[("layers.0.weight", &[2, 2]), ("layers.0.bias", &[1, 2])]);
    assert_eq!(
        r,
        "layers.0.bias has rank 2 (shape [1, 2]); expected 1: [D_out]"
    );
    let r = refused_tensors(&[("layers.0.weight", &[4]), ("layers.0.bias", &[])]);
    assert!(r.starts_with("layers.0.weight has rank 1"), "{r}");
}

#[test]
fn zero_sized_dimensions_are_refused() {
    let r = refused_tensors(&[("layers.0.weight", &[0, 2]), ("layers.0.bias", &[2])]);
    assert_eq!(
        r,
        "layer 0 has a zero-sized dimension: weight [0, 2], bias [2]"
    );
    let r = refused_tensors(&[("layers.0.weight", &[3, 0]), ("layers.0.bias", &[0])]);
    assert!(r.contains("zero-sized dimension"), "{r}");
}

#[test]
fn shape_disagreements_are_refused() {
    let r = refused_tensors(&[("layers.0.weight", &[3, 2]), ("layers.0.bias", &[3])]);
    assert_eq!(
        r,
        "layers.0.bias is [3] but layers.0.weight is [3, 2]: expected [2]"
    );
    let r = refused_tensors(&[
        ("layers.0.weight", &[6, 12]),
        ("layers.0.bias", &[12]),
        ("layers.1.weight", &[10, 1]),
        ("layers.1.bias", &[1]),
    ]);
    assert_eq!(r, "layers.1.weight is [10, 1] but layers.0 outputs 12");
}

#[test]
fn dtypes_other_than_f32_and_f64_are_named() {
    for (dtype, size) in [("F16", 2), ("BF16", 2), ("I32", 4), ("U8", 1)] {
        let header = format!(
            "{{{},{}}}",
            entry("layers.0.weight", "F32", &[1, 2], 0, 8),
            entry("layers.0.bias", dtype, &[2], 8, 8 + 2 * size)
        );
        let r = refused(&header, &vec![0; 8 + 2 * size]);
        assert_eq!(
            r,
            format!("layers.0.bias has dtype {dtype}; expected F32 (F64 is converted)")
        );
    }
}

#[test]
fn non_finite_values_are_named() {
    for (bad, shown) in [
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let header = format!(
            "{{{},{}}}",
            entry("layers.0.weight", "F32", &[1, 2], 0, 8),
            entry("layers.0.bias", "F32", &[2], 8, 16)
        );
        let r = refused(&header, &f32_bytes(&[1.0, 2.0, 0.0, bad]));
        assert_eq!(
            r,
            format!("layers.0.bias holds a non-finite value {shown} at flat index 1")
        );
    }
    let header = format!(
        "{{{},{}}}",
        entry("layers.0.weight", "F64", &[1, 1], 0, 8),
        entry("layers.0.bias", "F32", &[1], 8, 12)
    );
    let mut data = 1e300f64.to_le_bytes().to_vec();
    data.extend(f32_bytes(&[0.0]));
    assert_eq!(
        refused(&header, &data),
        "layers.0.weight holds 1e300 at flat index 0, beyond the f32 range"
    );
}

#[test]
fn metadata_sizes_must_match_the_tensors() {
    let (body, data) = file_of(&[("layers.0.weight", &[2, 3]), ("layers.0.bias", &[3])]);
    let with = |meta: &str| format!(r#"{{"__metadata__":{meta},{}"#, &body[1..]);
    let dir = tempfile::tempdir().unwrap();
    load_bytes(
        dir.path(),
        "ok",
        &assemble(&with(r#"{"format":"distill-mlp","sizes":"[2,3]"}"#), &data),
    )
    .unwrap();
    load_bytes(
        dir.path(),
        "other",
        &assemble(&with(r#"{"format":"pt","sizes":"whatever"}"#), &data),
    )
    .unwrap();
    let r = refused(&with(r#"{"format":"distill-mlp","sizes":"[2,4]"}"#), &data);
    assert_eq!(r, "metadata sizes [2,4] but the tensors give [2, 3]");
    assert!(
        refused(&with(r#"{"format":"distill-mlp","sizes":"two"}"#), &data)
            .contains("is not a JSON list of sizes")
    );
    assert!(refused(&with(r#"{"format":1}"#), &data).contains("damaged safetensors header"));
}

// ----- never a panic, whatever the bytes ----------------------------------------------------------

#[test]
fn every_truncation_of_a_valid_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    save(&path, &views(&layers(&[3, 2, 2])), &metadata(&[3, 2, 2])).unwrap();
    let file = std::fs::read(&path).unwrap();
    for len in 0..file.len() {
        assert!(
            load_bytes(dir.path(), "cut", &file[..len]).is_err(),
            "truncated to {len} bytes"
        );
    }
}

#[test]
fn every_single_bit_flip_is_refused_or_keeps_the_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let file = one_layer_file();
    for bit in 0..file.len() * 8 {
        let mut flipped = file.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        // A flip in the data can leave a valid float; in the header it must never go unnoticed
        // as a different architecture.
        if let Ok(ckpt) = load_bytes(dir.path(), "flip", &flipped) {
            assert_eq!(ckpt.sizes(), vec![2, 3], "bit {bit}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().unwrap();
        prop_assert!(load_bytes(dir.path(), "r", &bytes).is_err());
    }

    #[test]
    fn random_headers_never_panic(
        tensors in prop::collection::vec(
            ("(layers\\.[0-3]\\.(weight|bias)|x)", "(F32|F64|F16|I8)", prop::collection::vec(0usize..4, 0..4), 0usize..40, 0usize..40),
            0..5,
        ),
        data in prop::collection::vec(any::<u8>(), 0..160),
    ) {
        let entries: Vec<String> = tensors.iter().map(|(n, d, s, a, b)| entry(n, d, s, *a, *b)).collect();
        let dir = tempfile::tempdir().unwrap();
        if let Ok(ckpt) = load_bytes(dir.path(), "h", &assemble(&format!("{{{}}}", entries.join(",")), &data)) {
            prop_assert!(!ckpt.layers.is_empty());
            prop_assert!(ckpt.layers.windows(2).all(|l| l[0].0.ncols() == l[1].0.nrows()));
        }
    }

    #[test]
    fn random_damage_to_a_valid_file_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut file = one_layer_file();
        for (at, byte) in edits {
            let i = at.index(file.len());
            file[i] = byte;
        }
        file.truncate(1 + cut.index(file.len()));
        let dir = tempfile::tempdir().unwrap();
        if let Ok(ckpt) = load_bytes(dir.path(), "d", &file) {
            prop_assert_eq!(ckpt.sizes(), vec![2, 3]);
        }
    }
}
