//! `distill similarity`: which classes a model thinks resemble which, from its soft targets.
//!
//! ```text
//! M[i][j] = (1/n_i) Σ_{n: y_n = i} softmax(z_n/T)_j        mean over the test images of class i
//! Σ_j M[i][j] = 1 for every row i                           (a mean of distributions)
//! pair score (i, j) = (M[i][j] + M[j][i]) / 2,  i < j       the most-confused pairs, measured
//! ```

use std::fmt;
use std::path::Path;

use ndarray::Array2;
use serde::Serialize;

use crate::data::Split;
use crate::error::{Error, Result};
use crate::loss::softmax;
use crate::nn::Mlp;
use crate::report::plots::plot_similarity;
use crate::train::logits;

/// The temperature when none is given: the notebook's distillation temperature.
pub const DEFAULT_TEMPERATURE: f64 = 10.0;

/// How many of the most-confused pairs are reported.
pub const TOP_PAIRS: usize = 6;

/// Two classes and how much probability each puts on the other.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Pair {
    /// The smaller class.
    pub a: usize,
    /// The larger class.
    pub b: usize,
    /// `M[a][b]`: mean probability of `b` on images of `a`.
    pub a_as_b: f64,
    /// `M[b][a]`.
    pub b_as_a: f64,
    /// `(M[a][b] + M[b][a]) / 2`.
    pub score: f64,
}

/// The class-similarity matrix of a model at one temperature.
#[derive(Debug, Clone, Serialize)]
pub struct Similarity {
    /// `T`.
    pub temperature: f64,
    /// `M[i][j]`: row `i` is the mean soft target of the test images of class `i`.
    pub matrix: Vec<Vec<f64>>,
    /// `n_i`: test images per class.
    pub images_per_class: Vec<usize>,
    /// The [`TOP_PAIRS`] pairs with the highest score, highest first.
    pub pairs: Vec<Pair>,
}

/// The similarity matrix of `model` on `test` at temperature `t` (see the module docs).
///
/// ```text
/// shapes  z: (n, N)   p: (n, N)   matrix: (N, N)
/// ```
///
/// # Errors
/// [`Error::InvalidConfig`] naming `temperature` when `t` is not positive and finite, or
/// `data` when a class has no test image (its row would be 0/0).
///
/// # Panics
/// If a label is not below the model's number of outputs (checkpoints and labels are both
/// checked against [`crate::data::CLASSES`] when loaded).
pub fn similarity(model: &Mlp<f32>, test: &Split, t: f64) -> Result<Similarity> {
    super::validate_temperatures(&[t])?;
    let p = softmax(logits(model, test).mapv(f64::from).view(), t);
    let classes = p.ncols();
    let mut sums = Array2::<f64>::zeros((classes, classes));
    let mut counts = vec![0usize; classes];
    for (row, &y) in p.rows().into_iter().zip(test.labels()) {
        let y = usize::from(y);
        counts[y] += 1;
        sums.row_mut(y).scaled_add(1.0, &row); // Σ_{n: y_n = i} p_n
    }
    if let Some(empty) = counts.iter().position(|&n| n == 0) {
        return Err(Error::InvalidConfig {
            field: "data",
            reason: format!("the test set has no image of class {empty}"),
        });
    }
    let matrix: Vec<Vec<f64>> = sums
        .rows()
        .into_iter()
        .zip(&counts)
        .map(|(row, &n)| row.iter().map(|s| s / n as f64).collect()) // mean over class i
        .collect();
    let mut pairs: Vec<Pair> = (0..classes)
        .flat_map(|a| (a + 1..classes).map(move |b| (a, b)))
        .map(|(a, b)| Pair {
            a,
            b,
            a_as_b: matrix[a][b],
            b_as_a: matrix[b][a],
            score: (matrix[a][b] + matrix[b][a]) / 2.0,
        })
        .collect();
    pairs.sort_by(|x, y| y.score.total_cmp(&x.score));
    pairs.truncate(TOP_PAIRS);
    Ok(Similarity {
        temperature: t,
        matrix,
        images_per_class: counts,
        pairs,
    })
}

impl Similarity {
    /// Draws the heatmap (`similarity.png`) to `path`.
    ///
    /// # Errors
    /// [`Error::Plot`] when the image cannot be drawn or written.
    pub fn plot(&self, path: &Path) -> Result<()> {
        plot_similarity(path, &self.matrix, self.temperature)
    }
}

impl fmt::Display for Similarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.matrix.len();
        writeln!(
            f,
            "mean soft targets M[i][j] = mean over test images of class i of softmax(z/T)_j, T = {}",
            self.temperature
        )?;
        writeln!(
            f,
            "off-diagonal, in % (rows: true class i, columns: class j; each full row sums to 100)"
        )?;
        writeln!(
            f,
            "  i\\j{}",
            (0..n).map(|j| format!("{j:>7}")).collect::<String>()
        )?;
        for (i, row) in self.matrix.iter().enumerate() {
            let cells: String = row
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if i == j {
                        format!("{:>7}", "·")
                    } else {
                        format!("{:>7.2}", 100.0 * v)
                    }
                })
                .collect();
            writeln!(f, "  {i:>3}{cells}")?;
        }
        writeln!(
            f,
            "diagonal M[i][i] in %: {}",
            (0..n)
                .map(|i| format!("{i}: {:.2}", 100.0 * self.matrix[i][i]))
                .collect::<Vec<_>>()
                .join("  ")
        )?;
        writeln!(
            f,
            "most-confused pairs, by (M[a][b] + M[b][a])/2 (measured on {} test images):",
            self.images_per_class.iter().sum::<usize>()
        )?;
        for p in &self.pairs {
            writeln!(
                f,
                "  {}↔{}  {:>6.3} %   ({} as {}: {:.3} %, {} as {}: {:.3} %)",
                p.a,
                p.b,
                100.0 * p.score,
                p.a,
                p.b,
                100.0 * p.a_as_b,
                p.b,
                p.a,
                100.0 * p.b_as_a
            )?;
        }
        Ok(())
    }
}
