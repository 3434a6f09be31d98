//! Where a data set comes from: the MNIST embedded in the binary (the default, so `distill`
//! runs from any folder after `cargo install`), or a folder of four IDX files (`--data DIR`).
//!
//! ```text
//! Embedded   data/mnist/*.gz and PAYLOAD_SHA256SUMS, compiled in with include_bytes! (~11 MB),
//!            named "<embedded MNIST>/<file>" in messages
//! Dir(path)  MnistFiles::find(path): each file raw or .gz; PAYLOAD_SHA256SUMS if present
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::checksum::{check_payloads, parse_sums, verify_payloads, PAYLOAD_SUMS_FILE};
use crate::data::idx::read_idx_bytes;
use crate::data::mnist::{Mnist, MnistFiles};
use crate::data::PayloadCheck;
use crate::error::{Error, Result};

/// The folder name the embedded files are reported under.
pub const EMBEDDED_DIR: &str = "<embedded MNIST>";

/// The shipped MNIST files, by name, as compiled into the binary.
const EMBEDDED: [(&str, &[u8]); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist/train-images-idx3-ubyte.gz"),
    ),
    (
        "train-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist/train-labels-idx1-ubyte.gz"),
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        include_bytes!("../../data/mnist/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../data/mnist/t10k-labels-idx1-ubyte.gz"),
    ),
];

/// The shipped `PAYLOAD_SHA256SUMS`, the digests of the decoded embedded files.
const EMBEDDED_SUMS: &str = include_str!("../../data/mnist/PAYLOAD_SHA256SUMS");

/// Where a data set comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DataSource {
    /// The MNIST compiled into the binary (the default).
    #[default]
    Embedded,
    /// A folder of the four IDX files.
    Dir(PathBuf),
}

impl DataSource {
    /// `--data DIR` when given, else the embedded MNIST.
    pub fn from_flag(dir: Option<&Path>) -> Self {
        dir.map_or(DataSource::Embedded, |d| DataSource::Dir(d.to_path_buf()))
    }

    /// The four files (for the embedded set, their names under [`EMBEDDED_DIR`]).
    ///
    /// # Errors
    /// As [`MnistFiles::find`] for a folder.
    pub fn files(&self) -> Result<MnistFiles> {
        match self {
            DataSource::Dir(dir) => MnistFiles::find(dir),
            DataSource::Embedded => {
                let path = |k: usize| Path::new(EMBEDDED_DIR).join(EMBEDDED[k].0);
                Ok(MnistFiles {
                    train_images: path(0),
                    train_labels: path(1),
                    test_images: path(2),
                    test_labels: path(3),
                })
            }
        }
    }

    /// Loads and validates the data set (see [`Mnist::load`]).
    ///
    /// # Errors
    /// As [`Mnist::load`].
    pub fn load(&self) -> Result<Mnist> {
        self.load_files(&self.files()?)
    }

    /// Loads the given files of this source.
    ///
    /// # Errors
    /// As [`Mnist::load_files`].
    pub fn load_files(&self, files: &MnistFiles) -> Result<Mnist> {
        match self {
            DataSource::Dir(_) => Mnist::load_files(files),
            DataSource::Embedded => Mnist::load_with(files, |path| {
                let bytes = EMBEDDED
                    .iter()
                    .find(|(name, _)| path.file_name() == Some(name.as_ref()))
                    .map(|(_, bytes)| *bytes)
                    .ok_or_else(|| Error::Missing {
                        path: path.to_path_buf(),
                        hint: Some("not one of the embedded files".into()),
                    })?;
                read_idx_bytes(path, bytes)
            }),
        }
    }

    /// Checks the decoded files against the source's payload digests.
    ///
    /// # Errors
    /// As [`verify_payloads`].
    pub fn verify(&self, files: &MnistFiles, mnist: &Mnist) -> Result<PayloadCheck> {
        match self {
            DataSource::Dir(dir) => verify_payloads(dir, files, mnist),
            DataSource::Embedded => {
                let path = Path::new(EMBEDDED_DIR).join(PAYLOAD_SUMS_FILE);
                check_payloads(&parse_sums(&path, EMBEDDED_SUMS)?, files, mnist)
            }
        }
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Embedded => write!(f, "the MNIST embedded in the binary"),
            DataSource::Dir(dir) => write!(f, "the folder {}", dir.display()),
        }
    }
}

/// In configs and reports: the folder's path, or `"<embedded MNIST>"`.
impl Serialize for DataSource {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            DataSource::Embedded => s.serialize_str(EMBEDDED_DIR),
            DataSource::Dir(dir) => dir.serialize(s),
        }
    }
}

/// Reads what [`Serialize`] writes (a sweep's plan.json holds its data source).
impl<'de> Deserialize<'de> for DataSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let path = PathBuf::deserialize(d)?;
        Ok(match path.to_str() {
            Some(EMBEDDED_DIR) => DataSource::Embedded,
            _ => DataSource::Dir(path),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mnist::FILE_NAMES;

    #[test]
    fn the_embedded_files_are_the_shipped_ones_in_order() {
        for ((name, bytes), expected) in EMBEDDED.iter().zip(FILE_NAMES) {
            assert_eq!(*name, format!("{expected}.gz"));
            let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data/mnist")
                .join(name);
            assert!(std::fs::read(shipped).unwrap() == *bytes, "{name}");
        }
        for source in [DataSource::Embedded, DataSource::Dir("/data/mnist".into())] {
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(serde_json::from_str::<DataSource>(&json).unwrap(), source);
        }
        assert_eq!(
            serde_json::to_string(&DataSource::Embedded).unwrap(),
            format!("\"{EMBEDDED_DIR}\"")
        );
    }
}
