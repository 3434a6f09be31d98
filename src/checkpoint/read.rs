//! Reading: framing (`N | header | data`), tensor names, and each tensor's values.
//!
//! Every length and offset read from the file is checked against the file's size with checked
//! arithmetic before it is used, so no crafted header can make the reader panic or over-allocate;
//! each error is a message naming the tensor and the numbers (the caller adds the path).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, Metadata, TensorInfo};

use super::validate::{check_finite, check_layers, check_metadata_sizes};
use super::{tensor_name, Checkpoint};

/// The largest header the safetensors readers accept (the crate's `MAX_HEADER_SIZE`).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Parses and validates a whole file; the error is the reason, the caller adds the path.
pub(super) fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
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

/// Named F32 (or F64, converted) tensors of any shape and the metadata of a safetensors file,
/// with the same checks as [`decode`] but for the layer names and shapes: framing, offsets,
/// dtypes, finite values. The error is the reason, the caller adds the path.
pub(crate) fn decode_tensors(bytes: &[u8]) -> Result<DecodedTensors, String> {
    let (header, data) = split_header(bytes)?;
    let parsed: Metadata =
        serde_json::from_slice(header).map_err(|e| format!("damaged safetensors header: {e}"))?;
    let infos = parsed.tensors();
    check_offsets(&infos, data.len())?;
    let tensors = infos
        .iter()
        .map(|(name, info)| {
            Ok((
                name.clone(),
                (info.shape.clone(), values(name, info, data)?),
            ))
        })
        .collect::<Result<_, String>>()?;
    let metadata = parsed
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(DecodedTensors { metadata, tensors })
}

/// What [`decode_tensors`] reads.
pub(crate) struct DecodedTensors {
    /// The `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    /// Each tensor's shape and row-major values, by name.
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
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
fn check_offsets(infos: &HashMap<String, &TensorInfo>, data_len: usize) -> Result<(), String> {
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

    /// A header of exactly the safetensors limit is framed; one byte more is refused by that
    /// rule (not by the size check before it: the file holds every byte it announces).
    #[test]
    fn the_header_limit_is_the_crates_and_inclusive() {
        let file = |n: u64| {
            // zeroed pages: the header's bytes are never read, only its length
            let mut bytes = vec![0u8; 8 + n as usize];
            bytes[..8].copy_from_slice(&n.to_le_bytes());
            bytes
        };
        let at = file(MAX_HEADER_BYTES);
        let (header, data) = split_header(&at).expect("a header of exactly the limit");
        assert_eq!((header.len() as u64, data.len()), (MAX_HEADER_BYTES, 0));
        let over = file(MAX_HEADER_BYTES + 1);
        let err = split_header(&over).expect_err("a header one byte over the limit");
        assert!(err.contains("exceeds the safetensors limit"), "{err}");
    }
}
