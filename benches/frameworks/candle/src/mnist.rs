//! The shipped MNIST, split as `common.py` splits it: the IDX gz files in `<repo>/data/mnist`
//! (found from this crate's location, never downloaded), pixels scaled by 1/255 and flattened to
//! 784; validation = the LAST 10% of the training set, unshuffled (Keras' `validation_split`);
//! `train_limit` keeps the first N training examples before the split; test = t10k.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

pub const INPUT_SIZE: usize = 784;
const VALIDATION_SPLIT: f64 = 0.1;

/// One split: row-major images (n × 784) in [0, 1] and labels.
pub struct Split {
    pub x: Vec<f32>,
    pub y: Vec<u32>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    fn rows(&self, range: std::ops::Range<usize>) -> Split {
        Split {
            x: self.x[range.start * INPUT_SIZE..range.end * INPUT_SIZE].to_vec(),
            y: self.y[range].to_vec(),
        }
    }
}

pub struct Mnist {
    pub train: Split,
    pub val: Split,
    pub test: Split,
}

/// `<repo>/data/mnist`, from this crate's own folder (`benches/frameworks/candle`).
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../data/mnist")
}

/// An unsigned-byte IDX gz file: (dimensions, bytes).
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), String> {
    let mut raw = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| GzDecoder::new(f).read_to_end(&mut raw))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if raw.len() < 4 || raw[0] != 0 || raw[1] != 0 || raw[2] != 0x08 {
        return Err(format!("{}: not an unsigned-byte IDX file", path.display()));
    }
    let ndim = usize::from(raw[3]);
    let header = 4 + 4 * ndim;
    if raw.len() < header {
        return Err(format!("{}: truncated header", path.display()));
    }
    let dims: Vec<usize> = raw[4..header]
        .chunks(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    if raw.len() - header != expected {
        return Err(format!(
            "{}: {} bytes of data, header says {expected}",
            path.display(),
            raw.len() - header
        ));
    }
    raw.drain(..header);
    Ok((dims, raw))
}

fn split(dir: &Path, images: &str, labels: &str) -> Result<Split, String> {
    let (dims, pixels) = read_idx(&dir.join(images))?;
    let (_, y) = read_idx(&dir.join(labels))?;
    if dims.first() != Some(&y.len()) || pixels.len() != y.len() * INPUT_SIZE {
        return Err(format!(
            "{}: {images} and {labels} do not match",
            dir.display()
        ));
    }
    Ok(Split {
        x: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        y: y.into_iter().map(u32::from).collect(),
    })
}

pub fn load(train_limit: Option<usize>) -> Result<Mnist, String> {
    let dir = data_dir();
    let all = split(
        &dir,
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    )?;
    let test = split(
        &dir,
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )?;
    let n = train_limit.map_or(all.len(), |limit| limit.min(all.len()));
    // Keras: the split index is int(n · (1 − validation_split)): 54,000 of 60,000.
    let cut = (n as f64 * (1.0 - VALIDATION_SPLIT)) as usize;
    Ok(Mnist {
        train: all.rows(0..cut),
        val: all.rows(cut..n),
        test,
    })
}
