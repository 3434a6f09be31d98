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

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewD};
use safetensors::tensor::{Dtype, Metadata, TensorInfo};
use serde::Serialize;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// The `format` metadata value of a checkpoint written by `distill`.
pub const FORMAT: &str = "distill-mlp";

/// The largest header the safetensors readers accept (the crate's `MAX_HEADER_SIZE`).
const MAX_HEADER_BYTES: u64 = 100_000_000;

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
        match self.sizes().first() {
            Some(&input) if input == expected => Ok(()),
            found => Err(Error::Checkpoint {
                path: path.to_path_buf(),
                reason: format!(
                    "the checkpoint takes inputs of {} values but the data's examples have {expected}",
                    found.map_or_else(|| "no".to_string(), usize::to_string)
                ),
            }),
        }
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

/// The header as written: metadata first (omitted when empty), then the tensors by name.
#[derive(Serialize)]
struct Header<'a> {
    #[serde(rename = "__metadata__", skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    #[serde(flatten)]
    tensors: BTreeMap<String, TensorInfo>,
}

/// Serializes checked layers: length, padded header, then each tensor's data in name order.
fn encode(
    layers: &[(ArrayView2<f32>, ArrayView1<f32>)],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut tensors: Vec<(String, ArrayViewD<f32>)> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (w, b))| {
            [
                (tensor_name(i, "weight"), w.view().into_dyn()),
                (tensor_name(i, "bias"), b.view().into_dyn()),
            ]
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0)); // the data order must be the header's (BTreeMap) order
    let mut offset = 0;
    let infos = tensors
        .iter()
        .map(|(name, t)| {
            let start = offset;
            offset += t.len() * Dtype::F32.size();
            let info = TensorInfo {
                dtype: Dtype::F32,
                shape: t.shape().to_vec(),
                data_offsets: (start, offset),
            };
            (name.clone(), info)
        })
        .collect();
    let header = Header {
        metadata: Some(metadata).filter(|m| !m.is_empty()),
        tensors: infos,
    };
    let mut json = serde_json::to_vec(&header).map_err(|e| format!("header: {e}"))?;
    json.resize(json.len().next_multiple_of(8), b' '); // the crate's alignment padding
    let mut bytes = Vec::with_capacity(8 + json.len() + offset);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for (_, t) in &tensors {
        for v in t.iter() {
            bytes.extend_from_slice(&v.to_le_bytes()); // logical row-major order, whatever the strides
        }
    }
    Ok(bytes)
}

/// Parses and validates a whole file; the error is the reason, the caller adds the path.
fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    let (header, data) = split_header(bytes)?;
    let parsed: Metadata =
        serde_json::from_slice(header).map_err(|e| format!("damaged safetensors header: {e}"))?;
    let infos = parsed.tensors();
    check_offsets(&infos, data.len())?;
    let count = layer_count(infos.keys())?;
    let info = |i: usize, kind: &str| infos[&tensor_name(i, kind)];
    let shapes: Vec<(&[usize], &[usize])> = (0..count)
        .map(|i| {
            (
                info(i, "weight").shape.as_slice(),
                info(i, "bias").shape.as_slice(),
            )
        })
        .collect();
    check_layers(&shapes)?;
    let layers = (0..count)
        .map(|i| {
            let (w, b) = (info(i, "weight"), info(i, "bias"));
            let w_values = values(&tensor_name(i, "weight"), w, data)?;
            let b_values = values(&tensor_name(i, "bias"), b, data)?;
            let w = Array2::from_shape_vec((w.shape[0], w.shape[1]), w_values)
                .map_err(|e| format!("layers.{i}.weight: {e}"))?;
            Ok((w, Array1::from(b_values)))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let metadata: BTreeMap<String, String> = parsed
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let checkpoint = Checkpoint { layers, metadata };
    check_metadata_sizes(&checkpoint.metadata, &checkpoint.sizes())?;
    Ok(checkpoint)
}

/// Splits `N | header | data`, checking `N` against the file's size before using it.
fn split_header(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let Some((n, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(format!(
            "not a safetensors file: {} bytes, fewer than the 8 of the header length",
            bytes.len()
        ));
    };
    let n = u64::from_le_bytes(*n);
    if n > rest.len() as u64 {
        return Err(format!(
            "not a safetensors file, or truncated: the first 8 bytes announce a {n}-byte header \
             but only {} bytes follow",
            rest.len()
        ));
    }
    if n > MAX_HEADER_BYTES {
        return Err(format!(
            "header of {n} bytes exceeds the safetensors limit of {MAX_HEADER_BYTES}"
        ));
    }
    Ok(rest.split_at(n as usize)) // n ≤ rest.len(), so it fits in usize
}

/// The crate's offset rules with checked arithmetic: tensors tile `data` exactly, in offset order.
fn check_offsets(
    infos: &std::collections::HashMap<String, &TensorInfo>,
    data_len: usize,
) -> Result<(), String> {
    let mut by_offset: Vec<(&String, &TensorInfo)> = infos.iter().map(|(k, v)| (k, *v)).collect();
    by_offset.sort_by(|a, b| a.1.data_offsets.cmp(&b.1.data_offsets).then(a.0.cmp(b.0)));
    let mut end = 0;
    for (name, info) in by_offset {
        let (s, e) = info.data_offsets;
        if s != end || e < s {
            return Err(format!(
                "tensor {name}: data_offsets [{s}, {e}] do not start where the previous tensor ends ({end})"
            ));
        }
        let bytes = info
            .shape
            .iter()
            .try_fold(info.dtype.size(), |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor {name}: shape {:?} overflows", info.shape))?;
        if e - s != bytes {
            return Err(format!(
                "tensor {name}: shape {:?} of {:?} needs {bytes} bytes but data_offsets [{s}, {e}] span {}",
                info.shape,
                info.dtype,
                e - s
            ));
        }
        end = e;
    }
    match end.cmp(&data_len) {
        std::cmp::Ordering::Greater => Err(format!(
            "truncated data: the header describes {end} data bytes but the file holds {data_len}"
        )),
        std::cmp::Ordering::Less => Err(format!(
            "{} trailing bytes after the {end} data bytes the header describes",
            data_len - end
        )),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// `layers.{i}.{kind}`.
fn tensor_name(i: usize, kind: &str) -> String {
    format!("layers.{i}.{kind}")
}

/// `layers.{i}.weight` → `(i, "weight")`; `None` for any other name (or a non-canonical index).
fn parse_name(name: &str) -> Option<(usize, &str)> {
    let (index, kind) = name.strip_prefix("layers.")?.split_once('.')?;
    let canonical =
        index.bytes().all(|c| c.is_ascii_digit()) && (index == "0" || !index.starts_with('0'));
    let index = index.parse().ok().filter(|_| canonical)?;
    matches!(kind, "weight" | "bias").then_some((index, kind))
}

/// The number of layers L when the names are exactly `layers.{0..L−1}.{weight,bias}`.
fn layer_count<'a>(names: impl Iterator<Item = &'a String>) -> Result<usize, String> {
    let (mut weights, mut biases, mut unexpected) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    for name in names {
        match parse_name(name) {
            Some((i, "weight")) => weights.insert(i),
            Some((i, _)) => biases.insert(i),
            None => {
                unexpected.push(name.as_str());
                true
            }
        };
    }
    if !unexpected.is_empty() {
        unexpected.sort_unstable();
        return Err(format!(
            "unexpected tensors {unexpected:?}: expected only layers.{{i}}.weight and layers.{{i}}.bias"
        ));
    }
    if !weights.contains(&0) {
        return Err("no tensor layers.0.weight: not a checkpoint of dense layers".into());
    }
    if let Some((k, i)) = weights.iter().enumerate().find(|&(k, &i)| k != i) {
        return Err(format!(
            "gap in the layer indices: layers.{k}.weight is missing but layers.{i}.weight exists"
        ));
    }
    if let Some(i) = weights.symmetric_difference(&biases).next() {
        let (has, lacks) = if weights.contains(i) {
            ("weight", "bias")
        } else {
            ("bias", "weight")
        };
        return Err(format!("layers.{i}.{has} has no layers.{i}.{lacks}"));
    }
    Ok(weights.len())
}

/// Ranks, non-zero dimensions, bias against weight, and each layer's input against the last output.
fn check_layers(shapes: &[(&[usize], &[usize])]) -> Result<(), String> {
    if shapes.is_empty() {
        return Err("no layers".into());
    }
    let mut previous_output = None;
    for (i, &(w, b)) in shapes.iter().enumerate() {
        if w.len() != 2 {
            return Err(format!(
                "layers.{i}.weight has rank {} (shape {w:?}); expected 2: [D_in, D_out]",
                w.len()
            ));
        }
        if b.len() != 1 {
            return Err(format!(
                "layers.{i}.bias has rank {} (shape {b:?}); expected 1: [D_out]",
                b.len()
            ));
        }
        if w.contains(&0) || b.contains(&0) {
            return Err(format!(
                "layer {i} has a zero-sized dimension: weight {w:?}, bias {b:?}"
            ));
        }
        if b[0] != w[1] {
            return Err(format!(
                "layers.{i}.bias is {b:?} but layers.{i}.weight is {w:?}: expected [{}]",
                w[1]
            ));
        }
        if let Some(output) = previous_output.filter(|&o| o != w[0]) {
            return Err(format!(
                "layers.{i}.weight is {w:?} but layers.{} outputs {output}",
                i - 1
            ));
        }
        previous_output = Some(w[1]);
    }
    Ok(())
}

/// The first NaN or infinity, named with its tensor and flat (row-major) index.
fn check_finite(name: &str, values: impl IntoIterator<Item = f32>) -> Result<(), String> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((k, v)) => Err(format!(
            "{name} holds a non-finite value {v} at flat index {k}"
        )),
        None => Ok(()),
    }
}

/// A tensor's values as f32: F32 read as is, F64 converted (refused beyond the f32 range).
fn values(name: &str, info: &TensorInfo, data: &[u8]) -> Result<Vec<f32>, String> {
    let bytes = &data[info.data_offsets.0..info.data_offsets.1]; // within data: check_offsets
    let values: Vec<f32> = match info.dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .enumerate()
            .map(|(k, c)| {
                let x = f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                let v = x as f32;
                if x.is_finite() && !v.is_finite() {
                    return Err(format!(
                        "{name} holds {x:e} at flat index {k}, beyond the f32 range"
                    ));
                }
                Ok(v)
            })
            .collect::<Result<_, String>>()?,
        other => {
            return Err(format!(
                "{name} has dtype {other:?}; expected F32 (F64 is converted)"
            ))
        }
    };
    check_finite(name, values.iter().copied())?;
    Ok(values)
}

/// When the metadata says `format = "distill-mlp"`, its `sizes` must be the tensors' sizes.
fn check_metadata_sizes(
    metadata: &BTreeMap<String, String>,
    found: &[usize],
) -> Result<(), String> {
    let (Some(FORMAT), Some(sizes)) = (
        metadata.get("format").map(String::as_str),
        metadata.get("sizes"),
    ) else {
        return Ok(());
    };
    match serde_json::from_str::<Vec<usize>>(sizes) {
        Ok(said) if said == found => Ok(()),
        Ok(_) => Err(format!(
            "metadata sizes {sizes} but the tensors give {found:?}"
        )),
        Err(e) => Err(format!(
            "metadata sizes {sizes:?} is not a JSON list of sizes: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_only_in_canonical_form() {
        assert_eq!(parse_name("layers.0.weight"), Some((0, "weight")));
        assert_eq!(parse_name("layers.12.bias"), Some((12, "bias")));
        for bad in [
            "layers.01.bias",
            "layers.-1.bias",
            "layers.+1.bias",
            "layers..bias",
            "layers.1.gamma",
            "layer.0.weight",
            "layers.0.weight.x",
            "layers.99999999999999999999999.bias",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

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
