//! Validation shared by writing and reading: layer shapes, finite values, metadata sizes.
//!
//! `save` refuses to write what `load` would refuse to read: both call these checks.

use std::collections::BTreeMap;

use super::FORMAT;

/// Ranks, non-zero dimensions, bias against weight, and each layer's input against the last output.
pub(super) fn check_layers(shapes: &[(&[usize], &[usize])]) -> Result<(), String> {
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
pub(super) fn check_finite(
    name: &str,
    values: impl IntoIterator<Item = f32>,
) -> Result<(), String> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((k, v)) => Err(format!(
            "{name} holds a non-finite value {v} at flat index {k}"
        )),
        None => Ok(()),
    }
}

/// When the metadata says `format = "distill-mlp"`, its `sizes` must be the tensors' sizes.
pub(super) fn check_metadata_sizes(
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
