//! One split of an image data set in memory: `u8` pixels and labels, scaled to `[0,1]` per batch.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

use crate::data::augment::{shift_image, Jitter};
use crate::data::CLASSES;
use crate::error::{Error, Result};
use crate::Scalar;

/// Images whose bytes [`Split::gather_jittered_into`] asks for this many rows before it scales
/// them: enough to hide a DRAM access behind the scaling of the rows in between.
const PREFETCH_AHEAD: usize = 4;

/// Images of one split, kept as bytes (47 MB for MNIST's train set), with their labels.
///
/// ```text
/// shapes  pixels: (n, rows·cols) row-major, one image per row   labels: (n), each < 10
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pixels: Array2<u8>,
    labels: Vec<u8>,
    rows: usize,
    cols: usize,
}

impl Split {
    /// A split from pixels already laid out one image per row.
    ///
    /// ```text
    /// shapes  pixels: (n, rows·cols)   labels: (n)
    /// ```
    /// Loading from files goes through [`crate::data::Mnist::load`], which checks all this and
    /// returns errors; this constructor is for code that builds splits itself (tests, synthetic data).
    ///
    /// # Panics
    /// If `pixels` has not `rows·cols` columns, `labels` differs from `pixels` in length, or a
    /// label is `>= CLASSES`.
    #[track_caller]
    pub fn new(pixels: Array2<u8>, labels: Vec<u8>, (rows, cols): (usize, usize)) -> Split {
        assert_eq!(
            pixels.ncols(),
            rows * cols,
            "pixels must have rows·cols columns"
        );
        assert_eq!(pixels.nrows(), labels.len(), "one label per image");
        assert!(
            labels.iter().all(|&y| usize::from(y) < CLASSES),
            "labels must be < {CLASSES}"
        );
        let pixels = if pixels.is_standard_layout() {
            pixels
        } else {
            pixels.as_standard_layout().into_owned()
        };
        Split {
            pixels,
            labels,
            rows,
            cols,
        }
    }

    /// Number of examples.
    ///
    /// ```text
    /// n = labels.len() = pixels.nrows()
    /// ```
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no examples.
    ///
    /// ```text
    /// is_empty = (n == 0)
    /// ```
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of every image.
    ///
    /// ```text
    /// (rows, cols)      (28, 28) for MNIST
    /// ```
    pub fn image_shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Features per example.
    ///
    /// ```text
    /// input_size = rows · cols      (784 for MNIST)
    /// ```
    pub fn input_size(&self) -> usize {
        self.rows * self.cols
    }

    /// The raw pixels, one image per row.
    ///
    /// ```text
    /// shapes  (n, rows·cols)
    /// ```
    pub fn pixels(&self) -> ArrayView2<'_, u8> {
        self.pixels.view()
    }

    /// The labels.
    ///
    /// ```text
    /// shapes  (n), each < CLASSES
    /// ```
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The first `n` examples: the train limit for quick runs.
    ///
    /// ```text
    /// take_first(n) = examples[0 .. min(n, len)]      (n ≥ len: everything)
    /// ```
    pub fn take_first(&self, n: usize) -> Split {
        self.slice(0, n.min(self.len()))
    }

    /// Keras' `validation_split`: the LAST `fraction` of the examples, unshuffled, for validation.
    ///
    /// ```text
    /// split_at = ⌊len · (1 − fraction)⌋                  (Keras 3, array_slicing.py)
    /// (train, val) = (examples[0 .. split_at], examples[split_at .. len])
    /// ```
    /// `fraction == 0` gives `(everything, empty)`, which is what Keras does when the argument
    /// is 0 (it skips the split). Keras raises when `0 < fraction` but `split_at` is 0 or `len`;
    /// [`validation_split_at`] reports that case as an error, so a caller validates with it first.
    ///
    /// # Panics
    /// If [`validation_split_at`] rejects `(len, fraction)`.
    #[track_caller]
    pub fn split_last(&self, fraction: f64) -> (Split, Split) {
        let at = validation_split_at(self.len(), fraction).unwrap_or_else(|e| panic!("{e}"));
        (self.slice(0, at), self.slice(at, self.len()))
    }

    /// Gathers a batch: rows `indices` scaled to `[0,1]`, and their labels.
    ///
    /// ```text
    /// x[r, j] = pixels[indices[r], j] / 255     (division in A, as x.astype(A) / 255 does)
    /// y       = [labels[i] for i in indices]    (y is cleared first; its capacity is reused)
    /// shapes  indices: (B)   x: (B, rows·cols)   y: (B)
    /// ```
    ///
    /// # Panics
    /// If `x` is not `(indices.len(), input_size)` or an index is `>= len`.
    #[track_caller]
    pub fn gather_into<A: Scalar>(&self, indices: &[usize], x: ArrayViewMut2<A>, y: &mut Vec<u8>) {
        self.gather_jittered_into(indices, None, x, y);
    }

    /// [`gather_into`](Self::gather_into), each image first shifted by its
    /// [`Jitter::offset`] when `jitter` is given (zero fill; see [`crate::data::augment`]).
    ///
    /// ```text
    /// x[r, :] = shift(pixels[indices[r], :], jitter.offset(indices[r])) / 255
    /// ```
    /// The offset depends on the example's index in this split, not on its place in the batch.
    ///
    /// # Panics
    /// As [`gather_into`](Self::gather_into).
    #[track_caller]
    pub fn gather_jittered_into<A: Scalar>(
        &self,
        indices: &[usize],
        jitter: Option<&Jitter>,
        mut x: ArrayViewMut2<A>,
        y: &mut Vec<u8>,
    ) {
        assert_eq!(
            x.dim(),
            (indices.len(), self.input_size()),
            "x must be (batch, input_size)"
        );
        let scale = byte_scale::<A>();
        let mut shifted = vec![
            0u8;
            if jitter.is_some() {
                self.input_size()
            } else {
                0
            }
        ];
        y.clear();
        for (r, (mut row, &i)) in x.axis_iter_mut(Axis(0)).zip(indices).enumerate() {
            self.prefetch_ahead(indices, r);
            let src = self.pixels.row(i);
            match jitter {
                None => row.zip_mut_with(&src, |xj, &p| *xj = scale[usize::from(p)]),
                Some(jitter) => {
                    let image = src.as_slice().expect("pixels are in standard layout");
                    shift_image(image, &mut shifted, self.image_shape(), jitter.offset(i));
                    for (xj, &p) in row.iter_mut().zip(&shifted) {
                        *xj = scale[usize::from(p)];
                    }
                }
            }
            y.push(self.labels[i]);
        }
    }

    /// Before row `r` of a batch is scaled, asks the cache for the image `PREFETCH_AHEAD` rows
    /// further on (at `r = 0`, for rows 1 to `PREFETCH_AHEAD`), so that its DRAM accesses
    /// overlap the scaling of the rows in between. A batch's images lie at random places in
    /// the 47 MB of pixels, each only 13 or 14 cache lines long: too short for the hardware
    /// prefetcher to follow. Only a hint: no value changes and nothing faults, so no test can
    /// see it (`.cargo/mutants.toml` excludes it); a scratch student epoch ran 3.6 % faster
    /// with it.
    fn prefetch_ahead(&self, indices: &[usize], r: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let first = if r == 0 { 1 } else { r + PREFETCH_AHEAD };
            let last = (r + PREFETCH_AHEAD + 1).min(indices.len());
            for &i in indices.get(first..last).unwrap_or_default() {
                let image = self.pixels.row(i);
                let image = image.as_slice().expect("pixels are in standard layout");
                for line in (0..image.len())
                    .step_by(64)
                    .chain(image.len().checked_sub(1))
                {
                    // SAFETY: `_mm_prefetch` only hints the cache and never faults; the
                    // address is inside the image anyway.
                    unsafe {
                        _mm_prefetch::<_MM_HINT_T0>(image.as_ptr().wrapping_add(line).cast())
                    };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (indices, r);
    }

    /// Every image scaled to `[0,1]`.
    ///
    /// ```text
    /// X[i, j] = pixels[i, j] / 255          shapes  X: (n, rows·cols)
    /// ```
    pub fn to_float<A: Scalar>(&self) -> Array2<A> {
        let scale = byte_scale::<A>();
        self.pixels.mapv(|p| scale[usize::from(p)])
    }

    /// Examples per class.
    ///
    /// ```text
    /// counts[c] = #{ i : labels[i] = c },   c = 0 .. CLASSES−1
    /// ```
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &y in &self.labels {
            counts[usize::from(y)] += 1;
        }
        counts
    }

    /// Mean pixel value on the 0..255 scale, `None` for a split without pixels.
    ///
    /// ```text
    /// mean = Σ_i Σ_j pixels[i, j] / (n · rows · cols)      (exact integer sum, then one division)
    /// ```
    pub fn mean_pixel(&self) -> Option<f64> {
        let total: u64 = self.pixels.iter().map(|&p| u64::from(p)).sum();
        (!self.pixels.is_empty()).then(|| total as f64 / self.pixels.len() as f64)
    }

    /// The examples whose label satisfies `keep`, in their order, copied.
    ///
    /// ```text
    /// filter(keep) = [examples[i] for i in 0..len if keep(labels[i])]
    /// ```
    pub fn filter_labels(&self, keep: impl Fn(u8) -> bool) -> Split {
        let rows: Vec<usize> = (0..self.len()).filter(|&i| keep(self.labels[i])).collect();
        Split {
            pixels: self.pixels.select(Axis(0), &rows),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Examples `start .. end`, copied.
    fn slice(&self, start: usize, end: usize) -> Split {
        Split {
            pixels: self.pixels.slice(ndarray::s![start..end, ..]).to_owned(),
            labels: self.labels[start..end].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }
}

/// Where Keras' `validation_split` cuts `len` examples.
///
/// ```text
/// split_at = ⌊len · (1 − fraction)⌋      computed in f64, as Keras 3 does
/// fraction = 0        → split_at = len (no validation set)
/// 0 < fraction < 1    → split_at, which must satisfy 0 < split_at < len
/// ```
///
/// # Errors
/// [`Error::InvalidConfig`] (field `validation-split`) when `fraction` is outside `[0, 1)` or
/// NaN, or when Keras would refuse the split because one side would be empty.
pub fn validation_split_at(len: usize, fraction: f64) -> Result<usize> {
    let invalid = |reason: String| Error::InvalidConfig {
        field: "validation-split",
        reason,
    };
    if !(0.0..1.0).contains(&fraction) {
        return Err(invalid(format!("{fraction} is not in [0, 1)")));
    }
    if fraction == 0.0 {
        return Ok(len);
    }
    let at = (len as f64 * (1.0 - fraction)).floor() as usize;
    if at == 0 || at == len {
        return Err(invalid(format!(
            "{len} examples are not enough to split off a fraction of {fraction}"
        )));
    }
    Ok(at)
}

/// `table[p] = p / 255` in `A`, for every byte `p`.
fn byte_scale<A: Scalar>() -> [A; 256] {
    let max = A::of(255.0);
    std::array::from_fn(|p| A::of(p as f64) / max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_index_matches_keras_floor() {
        // Keras 3: split_at = int(math.floor(batch_dim * (1.0 - validation_split)))
        assert_eq!(validation_split_at(60_000, 0.1).unwrap(), 54_000);
        assert_eq!(validation_split_at(10, 0.25).unwrap(), 7); // ⌊7.5⌋
        assert_eq!(validation_split_at(3, 0.5).unwrap(), 1); // ⌊1.5⌋
        assert_eq!(validation_split_at(7, 0.0).unwrap(), 7);
        assert!(validation_split_at(1, 0.5).is_err()); // ⌊0.5⌋ = 0
        assert_eq!(validation_split_at(100, 0.001).unwrap(), 99); // ⌊99.9⌋
        assert!(validation_split_at(10, 1e-17).is_err()); // 1 − 1e-17 rounds to 1: nothing left
        assert!(validation_split_at(10, 1.0).is_err());
        assert!(validation_split_at(10, -0.1).is_err());
        assert!(validation_split_at(10, f64::NAN).is_err());
    }
}
