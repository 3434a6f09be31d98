//! Writing: the safetensors bytes of checked layers, laid out deterministically.
//!
//! ```text
//! bytes = N: u64 LE | header JSON padded with spaces to a multiple of 8 | data
//! ```
//! The header is serialized from `BTreeMap`s (metadata, then tensors by name), and the data
//! follows in the same name order, so equal content always gives equal bytes.

use std::collections::BTreeMap;

use ndarray::{ArrayView1, ArrayView2, ArrayViewD};
use safetensors::tensor::{Dtype, TensorInfo};
use serde::Serialize;

use super::tensor_name;

/// The header as written: metadata first (omitted when empty), then the tensors by name.
#[derive(Serialize)]
struct Header<'a> {
    #[serde(rename = "__metadata__", skip_serializing_if = "Option::is_none")]
    metadata: Option<&'a BTreeMap<String, String>>,
    #[serde(flatten)]
    tensors: BTreeMap<String, TensorInfo>,
}

/// Serializes checked layers: length, padded header, then each tensor's data in name order.
pub(super) fn encode(
    layers: &[(ArrayView2<f32>, ArrayView1<f32>)],
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let tensors = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (w, b))| {
            [
                (tensor_name(i, "weight"), w.view().into_dyn()),
                (tensor_name(i, "bias"), b.view().into_dyn()),
            ]
        })
        .collect();
    encode_tensors(tensors, metadata)
}

/// Serializes any named f32 tensors the same way: length, padded header, data in name order.
pub(crate) fn encode_tensors(
    mut tensors: Vec<(String, ArrayViewD<f32>)>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
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
