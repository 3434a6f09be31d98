//! Checkpoints: the dense layers of an MLP in a safetensors file that numpy and PyTorch read as is.
//!
//! ```text
//! file     = N: u64 LE | header: N bytes of JSON, space-padded to a multiple of 8 | data
//! header   = {"__metadata__": {string: string},  name: {"dtype", "shape", "data_offsets": [s, e]}, ..}
//! tensors  layers.{i}.weight  F32 [D_in, D_out]    layers.{i}.bias  F32 [D_out]    i = 0..L−1
//! data     each tensor's values row-major, little-endian, at data[s..e]; tensors sorted by name
//! sizes    [D_in of layer 0, D_out of layer 0, .., D_out of layer L−1] = [input, hidden.., output]
//! ```
//!
//! The metadata is the caller's (see [`mlp_metadata`] for the keys `distill` writes); a file with
//! no metadata at all, as `safetensors.numpy.save_file` writes it, loads just as well: the
//! architecture follows from the shapes (ReLU between dense layers, dropout irrelevant at eval).
//!
//! Two things are done here rather than by the `safetensors` crate, which provides the header
//! types. Writing: the crate keeps the metadata in a `HashMap`, so its key order, and thus the
//! file's bytes, change from one call to the next; we write the same layout (tensors sorted by
//! name, header padded with spaces) from a `BTreeMap`, so equal content gives equal bytes.
//! Reading: the crate's `read_metadata` reports only an error kind (`InvalidHeaderDeserialization`)
//! and adds unchecked offsets (overflow panic in debug builds on a crafted header); we check the
//! framing with checked arithmetic and messages that name the tensor and the numbers.
//!
//! Files by job: `write.rs` lays out the bytes, `read.rs` frames and parses them, and
//! `validate.rs` holds the checks both directions share (so `save` refuses exactly what `load`
//! would refuse).

mod read;
mod validate;
mod write;

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use read::decode;
pub(crate) use read::decode_tensors;
use validate::{check_finite, check_layers, check_metadata_sizes};
use write::encode;
pub(crate) use write::encode_tensors;

/// The `format` metadata value of a checkpoint written by `distill`.
pub const FORMAT: &str = "distill-mlp";

/// A loaded checkpoint: validated dense layers and the file's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// `(weight, bias)` per dense layer: weight `(D_in, D_out)`, bias `(D_out)`, shapes chained.
    pub layers: Vec<(Array2<f32>, Array1<f32>)>,
    /// The `__metadata__` map of the file (empty when it has none).
    pub metadata: BTreeMap<String, String>,
}

impl Checkpoint {
    /// The layer sizes `[input, hidden.., output]`, as `Mlp::sizes` gives them.
    ///
    /// ```text
    /// sizes = [rows(W_0), cols(W_0), cols(W_1), .., cols(W_{L−1})]
    /// ```
    /// Empty when there are no layers (never after [`load`]).
    pub fn sizes(&self) -> Vec<usize> {
        let input = self.layers.first().map(|(w, _)| w.nrows());
        input
            .into_iter()
            .chain(self.layers.iter().map(|(w, _)| w.ncols()))
            .collect()
    }

    /// Checks that the checkpoint takes inputs of `expected` values (the data's pixels per image).
    ///
    /// ```text
    /// ok  ⇔  sizes[0] = expected
    /// ```
    /// `path` is the checkpoint's, for the message.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] saying both sizes when they differ.
    pub fn check_input_size(&self, path: &Path, expected: usize) -> Result<()> {
        let found = self.sizes().first().copied();
        check_size(path, found, expected, |found| {
            format!("the checkpoint takes inputs of {found} values but the data's examples have {expected}")
        })
    }

    /// Checks that the checkpoint gives `expected` logits per example (the data's classes).
    ///
    /// ```text
    /// ok  ⇔  sizes[L] = expected
    /// ```
    /// A model with fewer outputs than there are classes would meet labels it has no logit for
    /// (the losses and the confusion matrix assert on that); call this on every loaded model
    /// before evaluating or distilling from it. `path` is the checkpoint's, for the message.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] saying both sizes when they differ.
    pub fn check_output_size(&self, path: &Path, expected: usize) -> Result<()> {
        let found = self.sizes().last().copied();
        check_size(path, found, expected, |found| {
            format!("the checkpoint gives {found} logits per example but the data has {expected} classes")
        })
    }
}

/// `Ok` when `found == Some(expected)`, else [`Error::Checkpoint`] with `reason(found)`, where
/// `found` is the size or "no".
fn check_size(
    path: &Path,
    found: Option<usize>,
    expected: usize,
    reason: impl FnOnce(String) -> String,
) -> Result<()> {
    match found {
        Some(size) if size == expected => Ok(()),
        found => Err(Error::Checkpoint {
            path: path.to_path_buf(),
            reason: reason(found.map_or_else(|| "no".to_string(), |n| n.to_string())),
        }),
    }
}

/// The metadata `distill` stores beside the tensors: architecture and training config, as JSON.
///
/// ```text
/// format = "distill-mlp"   sizes = "[784,1200,1200,10]"   activation = "relu"
/// dropout = "0.5"          config = config_json (the caller's serialized training config)
/// ```
pub fn mlp_metadata(sizes: &[usize], dropout: f64, config_json: &str) -> BTreeMap<String, String> {
    let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
    BTreeMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("sizes".to_string(), format!("[{}]", sizes.join(","))),
        ("activation".to_string(), "relu".to_string()),
        ("dropout".to_string(), format!("{dropout:?}")),
        ("config".to_string(), config_json.to_string()),
    ])
}

/// Saves dense layers and metadata to `path` as safetensors, atomically.
///
/// ```text
/// layers.{i}.weight ← W_i (D_in, D_out)   layers.{i}.bias ← b_i (D_out)   __metadata__ ← metadata
/// ```
/// Views may be strided (a transposed view is written in its logical row-major order). Equal
/// content gives byte-identical files. The file is written to a temporary file beside `path`,
/// synced and renamed: `path` holds the old checkpoint or the new one, never a part.
///
/// # Errors
/// [`Error::Checkpoint`] when the layers would not load back: none, a zero-sized dimension, a
/// bias that disagrees with its weight, shapes that do not chain, a non-finite value, metadata
/// `format = "distill-mlp"` whose `sizes` differ from the layers'; nothing is written then. [`Error::Io`] when the file cannot be written.
pub fn save(
    path: &Path,
    layers: &[(ArrayView2<f32>, ArrayView1<f32>)],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let refuse = |reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("refusing to write: {reason}"),
    };
    let shapes: Vec<(&[usize], &[usize])> =
        layers.iter().map(|(w, b)| (w.shape(), b.shape())).collect();
    check_layers(&shapes).map_err(refuse)?;
    let sizes: Vec<usize> = shapes
        .first()
        .map(|(w, _)| w[0])
        .into_iter()
        .chain(shapes.iter().map(|(w, _)| w[1]))
        .collect();
    check_metadata_sizes(metadata, &sizes).map_err(refuse)?;
    for (i, (w, b)) in layers.iter().enumerate() {
        check_finite(&tensor_name(i, "weight"), w.iter().copied()).map_err(refuse)?;
        check_finite(&tensor_name(i, "bias"), b.iter().copied()).map_err(refuse)?;
    }
    let bytes = encode(layers, metadata).map_err(refuse)?;
    write_atomic(path, &bytes)
}

/// Loads and validates a checkpoint written by [`save`], numpy or PyTorch.
///
/// ```text
/// accepted  ⇔  tensors are exactly layers.{0..L−1}.{weight,bias}, L ≥ 1, dtype F32 (F64 converted),
///              W_i (D_in, D_out), b_i (D_out), all dims > 0, D_out(i) = D_in(i+1), all finite
/// ```
/// The file is read whole (its size bounds the memory used; header lengths are checked against
/// it before use). When the metadata says `format = "distill-mlp"`, its `sizes` must match.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Checkpoint`] saying what does not match:
/// empty file, not safetensors, damaged header, truncated or trailing data, missing
/// `layers.0.weight`, a gap in the layer indices, unexpected tensor names, wrong rank, a dtype
/// other than F32/F64, weight/bias or layer-to-layer shape disagreement, zero-sized dimensions,
/// NaN or infinite values (naming the tensor), an F64 value beyond the f32 range.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|reason| Error::Checkpoint {
        path: path.to_path_buf(),
        reason,
    })
}

/// `layers.{i}.{kind}`.
fn tensor_name(i: usize, kind: &str) -> String {
    format!("layers.{i}.{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_strings_are_json() {
        let m = mlp_metadata(&[784, 1200, 10], 0.5, r#"{"seed":1}"#);
        assert_eq!(m["sizes"], "[784,1200,10]");
        assert_eq!(serde_json::from_str::<f64>(&m["dropout"]).unwrap(), 0.5);
        assert_eq!(
            serde_json::from_str::<f64>(&mlp_metadata(&[1, 1], 0.0, "{}")["dropout"]).unwrap(),
            0.0
        );
        assert_eq!(m["format"], FORMAT);
    }
}
