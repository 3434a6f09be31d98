//! MNIST-style data sets: a directory of four IDX files, loaded and cross-checked.
//!
//! Any IDX image set with these four names loads: MNIST, Fashion-MNIST, or any other with
//! `rows × cols` u8 images and labels `0..CLASSES`.

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::data::idx::{read_idx, Idx};
use crate::data::split::Split;
use crate::data::CLASSES;
use crate::error::{Error, Result};

/// The four standard file names, without `.gz`, in the order train images, train labels,
/// test images, test labels.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The four files of a data set directory, each either raw or gzip-compressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistFiles {
    /// `train-images-idx3-ubyte[.gz]`
    pub train_images: PathBuf,
    /// `train-labels-idx1-ubyte[.gz]`
    pub train_labels: PathBuf,
    /// `t10k-images-idx3-ubyte[.gz]`
    pub test_images: PathBuf,
    /// `t10k-labels-idx1-ubyte[.gz]`
    pub test_labels: PathBuf,
}

impl MnistFiles {
    /// Finds the four standard names in `dir`, each as `name` or `name.gz`.
    ///
    /// ```text
    /// path(name) = dir/name if it exists, else dir/name.gz if it exists, else Missing
    /// ```
    ///
    /// # Errors
    /// [`Error::Missing`] naming the directory, or the first file found under neither name.
    pub fn find(dir: &Path) -> Result<MnistFiles> {
        if !dir.is_dir() {
            return Err(Error::Missing {
                path: dir.to_path_buf(),
                hint: Some("data directory not found".into()),
            });
        }
        let find = |name: &str| -> Result<PathBuf> {
            let raw = dir.join(name);
            if raw.is_file() {
                return Ok(raw);
            }
            let gz = dir.join(format!("{name}.gz"));
            if gz.is_file() {
                return Ok(gz);
            }
            Err(Error::Missing {
                path: gz,
                hint: Some(format!("looked for {name} and {name}.gz")),
            })
        };
        Ok(MnistFiles {
            train_images: find(FILE_NAMES[0])?,
            train_labels: find(FILE_NAMES[1])?,
            test_images: find(FILE_NAMES[2])?,
            test_labels: find(FILE_NAMES[3])?,
        })
    }

    /// The four paths in the order of [`FILE_NAMES`].
    ///
    /// ```text
    /// [train_images, train_labels, test_images, test_labels]
    /// ```
    pub fn paths(&self) -> [&Path; 4] {
        [
            &self.train_images,
            &self.train_labels,
            &self.test_images,
            &self.test_labels,
        ]
    }
}

/// A data set: the training and the test split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    /// 60,000 examples for MNIST.
    pub train: Split,
    /// 10,000 examples for MNIST.
    pub test: Split,
}

impl Mnist {
    /// Loads and validates the data set in `dir` (see [`MnistFiles::find`] for the names).
    ///
    /// ```text
    /// images: (n, rows, cols) u8     labels: (n) u8, each < CLASSES
    /// train and test images: the same (rows, cols)
    /// ```
    ///
    /// # Errors
    /// Every error names a file: [`Error::Missing`], any error of [`crate::data::idx::read_idx`],
    /// [`Error::BadShape`] (images not 3-D, labels not 1-D, empty images, no images at all),
    /// [`Error::CountMismatch`], [`Error::LabelOutOfRange`], [`Error::ImageShapeMismatch`].
    pub fn load(dir: &Path) -> Result<Mnist> {
        Mnist::load_files(&MnistFiles::find(dir)?)
    }

    /// Loads and validates the four given files; the train and test splits decode in parallel.
    ///
    /// ```text
    /// train = (train_images, train_labels)   test = (test_images, test_labels)   checks as load
    /// ```
    ///
    /// # Errors
    /// As [`Mnist::load`], without the search for names.
    pub fn load_files(files: &MnistFiles) -> Result<Mnist> {
        Mnist::load_with(files, read_idx)
    }

    /// As [`Mnist::load_files`], each file decoded by `read` (from disk, or from memory).
    ///
    /// # Errors
    /// As [`Mnist::load_files`].
    pub fn load_with(
        files: &MnistFiles,
        read: impl Fn(&Path) -> Result<Idx> + Sync,
    ) -> Result<Mnist> {
        let (train, test) = rayon::join(
            || load_split(&read, &files.train_images, &files.train_labels),
            || load_split(&read, &files.test_images, &files.test_labels),
        );
        let (train, test) = (train?, test?);
        let ((train_rows, train_cols), (test_rows, test_cols)) =
            (train.image_shape(), test.image_shape());
        if (train_rows, train_cols) != (test_rows, test_cols) {
            return Err(Error::ImageShapeMismatch {
                train_rows,
                train_cols,
                test_rows,
                test_cols,
            });
        }
        Ok(Mnist { train, test })
    }
}

/// One split from its image file and its label file.
fn load_split(
    read: &(impl Fn(&Path) -> Result<Idx> + Sync),
    images_path: &Path,
    labels_path: &Path,
) -> Result<Split> {
    let (images, labels) = rayon::join(|| read(images_path), || read(labels_path));
    let (image_dims, pixels) = images?.into_parts();
    let (label_dims, labels) = labels?.into_parts();
    let bad_shape = |path: &Path, reason: String| Error::BadShape {
        path: path.to_path_buf(),
        reason,
    };
    let &[n, rows, cols] = image_dims.as_slice() else {
        return Err(bad_shape(
            images_path,
            format!("images must have 3 dimensions (count, rows, cols), found {image_dims:?}"),
        ));
    };
    if rows == 0 || cols == 0 {
        return Err(bad_shape(
            images_path,
            format!("images must not be empty, found {rows}x{cols}"),
        ));
    }
    if n == 0 {
        // Every consumer needs examples: a mean loss over no rows, a fit with no batches and an
        // evaluation with no predictions are all undefined (the evaluation used to panic).
        return Err(bad_shape(
            images_path,
            "the file holds no images (count 0)".to_string(),
        ));
    }
    if label_dims.len() != 1 {
        return Err(bad_shape(
            labels_path,
            format!("labels must have 1 dimension (count), found {label_dims:?}"),
        ));
    }
    if labels.len() != n {
        return Err(Error::CountMismatch {
            images_path: images_path.to_path_buf(),
            images: n,
            labels_path: labels_path.to_path_buf(),
            labels: labels.len(),
        });
    }
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &y)| usize::from(y) >= CLASSES)
    {
        return Err(Error::LabelOutOfRange {
            path: labels_path.to_path_buf(),
            index,
            label,
            classes: CLASSES,
        });
    }
    let pixels = Array2::from_shape_vec((n, rows * cols), pixels)
        .expect("read_idx returns exactly n·rows·cols bytes");
    Ok(Split::new(pixels, labels, (rows, cols)))
}
