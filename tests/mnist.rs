//! Data sets: loading and cross-checks on small folders built here, splits, batches, shuffles,
//! checksums, and the shipped MNIST with its known counts.

mod idx_builder;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use distill::data::checksum::{idx_sha256, read_sums, PAYLOAD_SUMS_FILE};
use distill::data::{
    default_data_dir, shuffled_indices, verify_payloads, Mnist, MnistFiles, PayloadCheck, Split,
    CLASSES,
};
use distill::Error;
use idx_builder::{gzip, pixels, small_set, u8_idx, write_set, SplitFiles};
use ndarray::Array2;
use sha2::{Digest, Sha256};

#[test]
fn loads_raw_and_gzip_folders_alike() {
    for gz in [false, true] {
        let dir = small_set(gz);
        let mnist = Mnist::load(dir.path()).unwrap();
        assert_eq!((mnist.train.len(), mnist.test.len()), (6, 4));
        assert_eq!(mnist.train.image_shape(), (3, 2));
        assert_eq!(mnist.train.input_size(), 6);
        assert_eq!(mnist.train.pixels().dim(), (6, 6));
        assert_eq!(mnist.train.pixels().as_slice().unwrap(), pixels(36));
        assert_eq!(mnist.train.labels(), &[0, 1, 2, 3, 4, 5]);
        assert_eq!(mnist.test.labels(), &[0, 1, 2, 3]);
    }
}

#[test]
fn missing_file_is_named() {
    let dir = small_set(true);
    fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    match Mnist::load(dir.path()) {
        Err(e @ Error::Missing { .. }) => {
            let message = e.to_string();
            assert!(message.contains("t10k-labels-idx1-ubyte"), "{message}");
        }
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn missing_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("nowhere");
    match Mnist::load(&absent) {
        Err(Error::Missing { path, .. }) => assert_eq!(path, absent),
        other => panic!("expected Missing, got {other:?}"),
    }
}

#[test]
fn raw_file_is_preferred_over_gz() {
    let dir = small_set(true);
    let labels: Vec<u8> = vec![9; 6];
    fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        u8_idx(&[6], &labels),
    )
    .unwrap();
    let files = MnistFiles::find(dir.path()).unwrap();
    assert_eq!(
        files.train_labels,
        dir.path().join("train-labels-idx1-ubyte")
    );
    assert_eq!(Mnist::load_files(&files).unwrap().train.labels(), labels);
}

#[test]
fn image_label_count_mismatch() {
    let dir = small_set(false);
    let labels_path = dir.path().join("train-labels-idx1-ubyte");
    fs::write(&labels_path, u8_idx(&[5], &[0, 1, 2, 3, 4])).unwrap();
    match Mnist::load(dir.path()) {
        Err(Error::CountMismatch {
            images,
            labels,
            labels_path: p,
            ..
        }) => {
            assert_eq!((images, labels), (6, 5));
            assert_eq!(p, labels_path);
        }
        other => panic!("expected CountMismatch, got {other:?}"),
    }
}

#[test]
fn label_out_of_range() {
    let dir = small_set(false);
    fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        u8_idx(&[4], &[0, 1, 10, 3]),
    )
    .unwrap();
    match Mnist::load(dir.path()) {
        Err(Error::LabelOutOfRange {
            index,
            label,
            classes,
            ..
        }) => assert_eq!((index, label, classes), (2, 10, CLASSES)),
        other => panic!("expected LabelOutOfRange, got {other:?}"),
    }
}

#[test]
fn train_test_shape_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    write_set(
        dir.path(),
        &SplitFiles::new(6, 3, 2),
        &SplitFiles::new(4, 2, 3),
        false,
    );
    match Mnist::load(dir.path()) {
        Err(Error::ImageShapeMismatch {
            train_rows,
            train_cols,
            test_rows,
            test_cols,
        }) => assert_eq!((train_rows, train_cols, test_rows, test_cols), (3, 2, 2, 3)),
        other => panic!("expected ImageShapeMismatch, got {other:?}"),
    }
}

#[test]
fn images_must_be_3d_and_labels_1d() {
    let dir = small_set(false);
    let images = dir.path().join("train-images-idx3-ubyte");
    fs::write(&images, u8_idx(&[6, 6], &pixels(36))).unwrap();
    match Mnist::load(dir.path()) {
        Err(Error::BadShape { path, .. }) => assert_eq!(path, images),
        other => panic!("expected BadShape for 2-D images, got {other:?}"),
    }

    let dir = small_set(false);
    let labels = dir.path().join("train-labels-idx1-ubyte");
    fs::write(&labels, u8_idx(&[6, 1], &[0; 6])).unwrap();
    match Mnist::load(dir.path()) {
        Err(Error::BadShape { path, .. }) => assert_eq!(path, labels),
        other => panic!("expected BadShape for 2-D labels, got {other:?}"),
    }
}

#[test]
fn a_set_with_no_images_is_refused() {
    // Used to load, then panic in the test-set evaluation ("an empty batch has no mean loss").
    for (train_n, test_n, named) in [
        (6, 0, "t10k-images-idx3-ubyte"),
        (0, 4, "train-images-idx3-ubyte"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_set(
            dir.path(),
            &SplitFiles::new(train_n, 3, 2),
            &SplitFiles::new(test_n, 3, 2),
            false,
        );
        match Mnist::load(dir.path()) {
            Err(e @ Error::BadShape { .. }) => {
                let message = e.to_string();
                assert!(message.contains(named), "{message}");
                assert!(message.contains("no images"), "{message}");
            }
            other => panic!("expected BadShape for {named}, got {other:?}"),
        }
    }
}

#[test]
fn images_with_no_rows_or_no_columns_are_refused() {
    for (rows, cols) in [(0, 2), (3, 0), (0, 0)] {
        let dir = tempfile::tempdir().unwrap();
        write_set(
            dir.path(),
            &SplitFiles::new(6, rows, cols),
            &SplitFiles::new(4, 3, 2),
            false,
        );
        match Mnist::load(dir.path()) {
            Err(e @ Error::BadShape { .. }) => {
                let message = e.to_string();
                assert!(message.contains("train-images-idx3-ubyte"), "{message}");
                assert!(
                    message.contains(&format!("must not be empty, found {rows}x{cols}")),
                    "{message}"
                );
            }
            other => panic!("expected BadShape for {rows}x{cols} images, got {other:?}"),
        }
    }
}

#[test]
fn a_corrupt_file_inside_a_set_is_named() {
    let dir = small_set(true);
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    let bytes = u8_idx(&[6, 3, 2], &pixels(36));
    fs::write(&path, gzip(&bytes[..bytes.len() - 1])).unwrap();
    let message = Mnist::load(dir.path()).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}: truncated: header promises 36 payload bytes, found 35",
            path.display()
        )
    );
}

/// A split of `n` one-pixel-row images `[i, i+1]` labelled `i % 10`, built by hand.
fn counting_split(n: usize) -> Split {
    let pixels = Array2::from_shape_fn((n, 2), |(i, j)| (i + j) as u8);
    Split::new(pixels, (0..n).map(|i| (i % 10) as u8).collect(), (1, 2))
}

#[test]
fn take_first_is_the_train_limit() {
    let split = counting_split(10);
    let first = split.take_first(3);
    assert_eq!(first.labels(), &[0, 1, 2]);
    assert_eq!(first.pixels(), split.pixels().slice(ndarray::s![..3, ..]));
    assert_eq!(split.take_first(99), split);
}

#[test]
fn split_last_is_keras_validation_split() {
    // Keras 3: split_at = floor(10 * (1 - 0.25)) = 7; validation is the last 3, unshuffled.
    let split = counting_split(10);
    let (train, val) = split.split_last(0.25);
    assert_eq!(train.labels(), &[0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(val.labels(), &[7, 8, 9]);
    assert_eq!(val.pixels().row(0).to_vec(), vec![7, 8]);
    let (all, none) = split.split_last(0.0);
    assert_eq!((all.len(), none.len()), (10, 0));
}

#[test]
#[should_panic(expected = "not enough")]
fn split_last_refuses_an_empty_side() {
    let _ = counting_split(1).split_last(0.5);
}

#[test]
fn gather_into_scales_by_255_and_collects_labels() {
    let pixels = Array2::from_shape_vec((3, 2), vec![0, 255, 51, 102, 1, 254]).unwrap();
    let split = Split::new(pixels, vec![4, 5, 6], (2, 1));
    let mut x = Array2::<f32>::from_elem((2, 2), f32::NAN);
    let mut y = vec![9, 9, 9];
    split.gather_into(&[2, 0], x.view_mut(), &mut y);
    assert_eq!(y, vec![6, 4]);
    assert_eq!(x.row(0).to_vec(), vec![1.0 / 255.0, 254.0 / 255.0]);
    assert_eq!(x.row(1).to_vec(), vec![0.0, 1.0]);

    let mut x = Array2::<f64>::zeros((1, 2));
    split.gather_into(&[1], x.view_mut(), &mut y);
    assert_eq!(x.row(0).to_vec(), vec![51.0 / 255.0, 102.0 / 255.0]);
    assert_eq!(split.to_float::<f64>().row(1), x.row(0));
}

#[test]
#[should_panic(expected = "x must be (batch, input_size)")]
fn gather_into_checks_the_batch_shape() {
    let split = counting_split(4);
    split.gather_into(
        &[0, 1],
        Array2::<f32>::zeros((3, 2)).view_mut(),
        &mut Vec::new(),
    );
}

#[test]
fn shuffled_indices_is_a_deterministic_permutation_per_epoch() {
    let n = 1000;
    let p = shuffled_indices(n, 42, 0);
    let mut sorted = p.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    assert_ne!(p, sorted, "a shuffle of 1000 is not the identity");
    assert_eq!(
        p,
        shuffled_indices(n, 42, 0),
        "same (seed, epoch), same order"
    );
    assert_ne!(p, shuffled_indices(n, 42, 1), "a fresh order each epoch");
    assert_ne!(p, shuffled_indices(n, 43, 0), "the seed matters");
    assert!(shuffled_indices(0, 1, 2).is_empty());
    assert_eq!(shuffled_indices(1, 1, 2), vec![0]);
}

#[test]
fn shuffled_indices_moves_every_element_uniformly() {
    // Position of element 0 over many epochs: each of 4 slots about 1/4 of the time.
    let mut seen = [0usize; 4];
    for epoch in 0..4000 {
        let p = shuffled_indices(4, 7, epoch);
        seen[p.iter().position(|&i| i == 0).unwrap()] += 1;
    }
    for count in seen {
        assert!((850..1150).contains(&count), "{seen:?}");
    }
}

/// Lowercase hex SHA-256 of a file's bytes, independent of the code under test.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn payload_checksums_verify_mismatch_and_absence() {
    let dir = small_set(true);
    let train = SplitFiles::new(6, 3, 2);
    let test = SplitFiles::new(4, 3, 2);
    let files = MnistFiles::find(dir.path()).unwrap();
    let mnist = Mnist::load_files(&files).unwrap();
    assert_eq!(
        verify_payloads(dir.path(), &files, &mnist).unwrap(),
        PayloadCheck::NoChecksumFile
    );

    let sums = format!(
        "{}  train-images-idx3-ubyte\n{} *train-labels-idx1-ubyte\n\n{}  t10k-images-idx3-ubyte\n",
        sha256_hex(&train.images),
        sha256_hex(&train.labels),
        sha256_hex(&test.images),
    );
    fs::write(dir.path().join(PAYLOAD_SUMS_FILE), &sums).unwrap();
    assert_eq!(
        verify_payloads(dir.path(), &files, &mnist).unwrap(),
        PayloadCheck::Verified {
            verified: vec![
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte"
            ],
            unlisted: vec!["t10k-labels-idx1-ubyte"],
        }
    );

    let wrong = format!(
        "{}  t10k-labels-idx1-ubyte\n",
        sha256_hex(b"something else")
    );
    fs::write(dir.path().join(PAYLOAD_SUMS_FILE), wrong).unwrap();
    match verify_payloads(dir.path(), &files, &mnist) {
        Err(Error::ChecksumMismatch { path, found, .. }) => {
            assert_eq!(path, files.test_labels);
            assert_eq!(found, sha256_hex(&test.labels));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
}

#[test]
fn malformed_checksum_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(PAYLOAD_SUMS_FILE);
    fs::write(&path, format!("{}  a\nnot a checksum\n", "0".repeat(64))).unwrap();
    match read_sums(&path) {
        Err(Error::ChecksumFile { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected ChecksumFile, got {other:?}"),
    }
    assert_eq!(read_sums(&dir.path().join("absent")).unwrap(), None);
}

#[test]
fn idx_sha256_hashes_the_decoded_file() {
    let bytes = u8_idx(&[2, 3], &pixels(6));
    assert_eq!(idx_sha256(&[2, 3], &pixels(6)), sha256_hex(&bytes));
}

// ----- the shipped MNIST --------------------------------------------------------------------

/// The shipped data set, loaded once for all tests of this file.
fn shipped() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| Mnist::load(&shipped_dir()).expect("the shipped MNIST loads"))
}

fn shipped_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

#[test]
fn default_data_dir_is_the_shipped_folder() {
    assert_eq!(default_data_dir(), shipped_dir());
}

#[test]
fn shipped_mnist_has_the_known_counts() {
    let mnist = shipped();
    assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
    assert_eq!(mnist.train.image_shape(), (28, 28));
    assert_eq!(mnist.test.image_shape(), (28, 28));
    assert_eq!(
        mnist.train.class_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        mnist.test.class_counts(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert_eq!(&mnist.train.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
}

#[test]
fn shipped_mnist_mean_pixel() {
    let mean = shipped().train.mean_pixel().unwrap();
    assert_eq!(format!("{mean:.2}"), "33.32");
}

#[test]
fn shipped_mnist_matches_its_payload_checksums() {
    let files = MnistFiles::find(&shipped_dir()).unwrap();
    match verify_payloads(&shipped_dir(), &files, shipped()).unwrap() {
        PayloadCheck::Verified { verified, unlisted } => {
            assert_eq!(verified.len(), 4);
            assert!(unlisted.is_empty());
        }
        other => panic!("expected all four verified, got {other:?}"),
    }
}
