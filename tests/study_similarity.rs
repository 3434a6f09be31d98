//! `distill similarity` on a tiny fixed model whose soft targets are known in closed form.
//!
//! Images are 1×10 "pictures" with one lit pixel; the model is one Dense layer with
//! `W = c·I`, `b = 0`, so the image lighting pixel k has logits `c·onehot(k)` and
//! `softmax(z/T)_j = e^{c/T}/(e^{c/T} + 9)` for j = k, `1/(e^{c/T} + 9)` otherwise. With
//! `c = T·ln 91` these are exactly 0.91 and 0.01.

use distill::data::Split;
use distill::nn::Mlp;
use distill::study::similarity;
use distill::Error;
use ndarray::{Array1, Array2};

const T: f64 = 2.0;

/// Image n lights pixel `lit[n]`; labels as given.
fn split(lit: &[usize], labels: Vec<u8>) -> Split {
    let mut pixels = Array2::<u8>::zeros((lit.len(), 10));
    for (n, &k) in lit.iter().enumerate() {
        pixels[[n, k]] = 255;
    }
    Split::new(pixels, labels, (1, 10))
}

fn model() -> Mlp<f32> {
    let c = (T * 91f64.ln()) as f32;
    let w = Array2::from_diag(&Array1::from_elem(10, c));
    Mlp::from_layers(vec![(w, Array1::zeros(10))], 0.0, 0)
}

#[test]
fn matches_hand_computed_values() {
    // One image per class lighting its own pixel, plus a class-0 image lighting pixel 1, and a
    // class-9 image lighting pixel 4.
    let mut lit: Vec<usize> = (0..10).collect();
    lit.extend([1, 4]);
    let mut labels: Vec<u8> = (0..10).collect();
    labels.extend([0, 9]);
    let s = similarity(&model(), &split(&lit, labels), T).unwrap();
    assert_eq!(s.images_per_class, vec![2, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
    for i in 0..10 {
        for j in 0..10 {
            let expected = match (i, j) {
                (0, 0) | (0, 1) => (0.91 + 0.01) / 2.0, // mean of the two class-0 images
                (9, 9) | (9, 4) => (0.91 + 0.01) / 2.0,
                (0, _) | (9, _) => 0.01,
                _ if i == j => 0.91,
                _ => 0.01,
            };
            assert!(
                (s.matrix[i][j] - expected).abs() < 1e-6,
                "M[{i}][{j}] = {} vs {expected}",
                s.matrix[i][j]
            );
        }
        let sum: f64 = s.matrix[i].iter().sum();
        assert!((sum - 1.0).abs() < 1e-12, "row {i} sums to {sum}");
    }
    // The most-confused pairs: 0↔1 and 4↔9 (score (0.46 + 0.01)/2), then the rest at 0.01.
    let mut top: Vec<(usize, usize)> = s.pairs.iter().take(2).map(|p| (p.a, p.b)).collect();
    top.sort_unstable(); // equal scores, up to f32 rounding
    assert_eq!(top, vec![(0, 1), (4, 9)]);
    assert!((s.pairs[0].score - 0.235).abs() < 1e-6);
    assert!((s.pairs[2].score - 0.01).abs() < 1e-6);
    let text = s.to_string();
    assert!(text.contains("0↔1") && text.contains("4↔9"), "{text}");
}

#[test]
fn rows_sum_to_one_at_any_temperature_on_random_images() {
    let pixels = Array2::from_shape_fn((40, 10), |(n, k)| ((n * 37 + k * 11) % 256) as u8);
    let labels = (0..40).map(|n| (n % 10) as u8).collect();
    let data = Split::new(pixels, labels, (2, 5));
    let mlp = Mlp::<f32>::new(&[10, 6, 10], 0.0, 3);
    for t in [0.5, 1.0, 10.0, 100.0] {
        let s = similarity(&mlp, &data, t).unwrap();
        for row in &s.matrix {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn json_shape() {
    let lit: Vec<usize> = (0..10).collect();
    let s = similarity(&model(), &split(&lit, (0..10).collect()), T).unwrap();
    let v: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(v["temperature"], T);
    let matrix = v["matrix"].as_array().unwrap();
    assert_eq!(matrix.len(), 10);
    assert!(matrix.iter().all(|r| r.as_array().unwrap().len() == 10));
    assert!((matrix[3][3].as_f64().unwrap() - 0.91).abs() < 1e-6);
}

#[test]
fn bad_input_is_a_clear_error() {
    let lit: Vec<usize> = (0..10).collect();
    let data = split(&lit, (0..10).collect());
    for t in [0.0, -2.0, f64::INFINITY] {
        match similarity(&model(), &data, t) {
            Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "temperature"),
            other => panic!("T = {t}: {other:?}"),
        }
    }
    let missing = split(&lit[..9], (0..9).collect()); // no image of class 9
    match similarity(&model(), &missing, T) {
        Err(Error::InvalidConfig { field, reason }) => {
            assert_eq!(field, "data");
            assert!(reason.contains("class 9"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn heatmap_is_written() {
    let lit: Vec<usize> = (0..10).collect();
    let s = similarity(&model(), &split(&lit, (0..10).collect()), T).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("similarity.png");
    s.plot(&path).unwrap();
    let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
    let info = decoder.read_info().unwrap().info().clone();
    assert!(info.width > 500 && info.height > 500);
}
