//! `distill soft-targets`: probabilities and entropy per temperature, the default selection of
//! wrong and right images, the JSON shape and the figure.

use distill::data::Split;
use distill::nn::Mlp;
use distill::study::soft_targets as targets;
use distill::study::soft_targets::{default_selection, DEFAULT_PER_KIND};
use distill::Error;
use ndarray::{Array1, Array2};

/// Image n lights pixel `lit[n]` of a 2×5 picture.
fn split(lit: &[usize], labels: Vec<u8>) -> Split {
    let mut pixels = Array2::<u8>::zeros((lit.len(), 10));
    for (n, &k) in lit.iter().enumerate() {
        pixels[[n, k]] = 255;
    }
    Split::new(pixels, labels, (2, 5))
}

/// `W = c·I`: the image lighting pixel k has logits `c·onehot(k)`, so it is predicted k.
fn model(c: f32) -> Mlp<f32> {
    let w = Array2::from_diag(&Array1::from_elem(10, c));
    Mlp::from_layers(vec![(w, Array1::zeros(10))], 0.0, 0)
}

#[test]
fn probabilities_and_entropy_match_the_closed_form() {
    // logits c·onehot(k): p_k = e^{c/T}/(e^{c/T} + 9), the others 1/(e^{c/T} + 9).
    let c: f32 = 6.0;
    let data = split(&[3, 8], vec![3, 2]);
    let out = targets::soft_targets(&model(c), &data, &[0, 1], &[1.0, 3.0, 1e6]).unwrap();
    assert_eq!(out.images.len(), 2);
    assert_eq!((out.images[1].label, out.images[1].predicted), (2, 8));
    for img in &out.images {
        let k = usize::from(img.predicted);
        for ((t, p), (t2, h)) in img.probabilities.iter().zip(&img.entropy) {
            assert_eq!(t, t2);
            let e = (f64::from(c) / t).exp();
            let (top, rest) = (e / (e + 9.0), 1.0 / (e + 9.0));
            for (j, &v) in p.iter().enumerate() {
                let expected = if j == k { top } else { rest };
                assert!(
                    (v - expected).abs() < 1e-12,
                    "T={t} j={j}: {v} vs {expected}"
                );
            }
            let entropy = -top * top.ln() - 9.0 * rest * rest.ln();
            assert!((h - entropy).abs() < 1e-12, "T={t}: H {h} vs {entropy}");
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        }
        // At T = 1e6 the distribution is uniform to 1e-6: H → ln 10.
        assert!((img.entropy[2].1 - 10f64.ln()).abs() < 1e-9);
    }
}

#[test]
fn default_selection_takes_wrong_images_then_right_ones() {
    // Predicted = lit pixel; label differs for images 1, 4, 5, 7.
    let lit = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let labels = vec![0, 2, 2, 3, 0, 0, 6, 1, 8, 9];
    let picked = default_selection(&model(5.0), &split(&lit, labels));
    assert_eq!(DEFAULT_PER_KIND, 3);
    assert_eq!(picked, vec![1, 4, 5, 0, 2, 3]);
}

#[test]
fn json_shape() {
    let data = split(&[3], vec![3]);
    let out = targets::soft_targets(&model(4.0), &data, &[0], &[1.0, 2.5, 10.0]).unwrap();
    let v: serde_json::Value = serde_json::to_value(&out).unwrap();
    let image = &v["images"][0];
    assert_eq!(image["index"], 0);
    assert_eq!(image["label"], 3);
    let probabilities = image["probabilities"].as_object().unwrap();
    let keys: Vec<&str> = probabilities.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 3);
    for key in ["1", "2.5", "10"] {
        assert_eq!(probabilities[key].as_array().unwrap().len(), 10, "{key}");
    }
    // In the order given, not sorted as strings ("10" < "2.5").
    let text = serde_json::to_string(&out).unwrap();
    assert!(text.find("\"2.5\"").unwrap() < text.find("\"10\"").unwrap());
}

#[test]
fn bad_input_is_a_clear_error() {
    let data = split(&[3, 4], vec![3, 4]);
    let field = |r: distill::Result<targets::SoftTargets>| match r {
        Err(Error::InvalidConfig { field, reason }) => (field, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    };
    let (f, reason) = field(targets::soft_targets(&model(1.0), &data, &[2], &[1.0]));
    assert_eq!(f, "index");
    assert!(reason.contains("outside the test set"), "{reason}");
    for ts in [&[0.0][..], &[1.0, -1.0], &[]] {
        let (f, _) = field(targets::soft_targets(&model(1.0), &data, &[0], ts));
        assert_eq!(f, "temperature", "{ts:?}");
    }
}

#[test]
fn figure_is_written() {
    let data = split(&[3, 4], vec![3, 7]);
    let out = targets::soft_targets(&model(8.0), &data, &[0, 1], &[1.0, 5.0]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soft_targets.png");
    out.plot(&data, &path).unwrap();
    let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
    let info = decoder.read_info().unwrap().info().clone();
    assert!(info.width > info.height, "{}×{}", info.width, info.height);
}
