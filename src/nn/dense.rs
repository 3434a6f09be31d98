//! Dense (fully connected) layer: `y = x·W + b`, with `W` stored `(D_in, D_out)` as Keras does.
//!
//! ```text
//! shapes  x: (B, D_in)   W: (D_in, D_out)   b: (D_out)   y: (B, D_out)
//! y  = x·W + b
//! dW += xᵀ·dy      db += Σ_b dy      dx = dy·Wᵀ
//! ```
//! As in llm.c's `matmul_forward`/`matmul_backward`, the layer owns its parameters and their
//! gradients but not the activations: the caller ([`super::Mlp`]) keeps each layer's input
//! (the previous layer's output buffer) and hands it back to [`Dense::backward`], so no
//! activation is copied to be cached. Every product goes through [`crate::linalg::gemm`], with
//! transposes as views.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis, Zip};
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rand::Rng;

use crate::linalg::gemm;
use crate::nn::Gradients;
use crate::scalar::Scalar;

/// A dense layer's parameters and accumulated gradients.
#[derive(Debug, Clone)]
pub struct Dense<A> {
    /// `W`, shape `(D_in, D_out)`, standard layout.
    pub weight: Array2<A>,
    /// `b`, shape `(D_out)`.
    pub bias: Array1<A>,
    /// `∂L/∂W`, accumulated by [`Dense::backward`], shape `(D_in, D_out)`.
    pub dweight: Array2<A>,
    /// `∂L/∂b`, accumulated by [`Dense::backward`], shape `(D_out)`.
    pub dbias: Array1<A>,
}

impl<A: Scalar> Dense<A> {
    /// Glorot-uniform weights (Keras' default initialiser), zero bias, zero gradients.
    ///
    /// ```text
    /// W_ij ~ U[−l, l),   l = √(6 / (D_in + D_out))      b = 0
    /// ```
    /// Draws `D_in·D_out` values from `rng` in row-major order.
    ///
    /// # Panics
    /// If `d_in` or `d_out` is 0.
    #[track_caller]
    pub fn glorot<R: Rng>(d_in: usize, d_out: usize, rng: &mut R) -> Self {
        assert!(
            d_in > 0 && d_out > 0,
            "dense layer {d_in}x{d_out}: sizes must be positive"
        );
        let limit = A::of((6.0 / (d_in + d_out) as f64).sqrt());
        let weight = Array2::random_using((d_in, d_out), Uniform::new(-limit, limit), rng);
        Self::from_parameters(weight, Array1::zeros(d_out))
    }

    /// A layer with the given parameters (copied to standard layout if needed), zero gradients.
    ///
    /// ```text
    /// shapes  weight: (D_in, D_out)   bias: (D_out)
    /// ```
    ///
    /// # Panics
    /// If `bias.len() != weight.ncols()` or a size is 0.
    #[track_caller]
    pub fn from_parameters(weight: Array2<A>, bias: Array1<A>) -> Self {
        let (d_in, d_out) = weight.dim();
        assert!(
            d_in > 0 && d_out > 0,
            "dense layer {d_in}x{d_out}: sizes must be positive"
        );
        assert_eq!(
            bias.len(),
            d_out,
            "dense layer: weight is {d_in}x{d_out} but bias has {} entries",
            bias.len()
        );
        let weight = weight.as_standard_layout().into_owned();
        Dense {
            dweight: Array2::zeros((d_in, d_out)),
            dbias: Array1::zeros(d_out),
            weight,
            bias,
        }
    }

    /// Input width `D_in`.
    pub fn d_in(&self) -> usize {
        self.weight.nrows()
    }

    /// Output width `D_out`.
    pub fn d_out(&self) -> usize {
        self.weight.ncols()
    }

    /// Number of parameters, `D_in·D_out + D_out`.
    pub fn parameter_count(&self) -> usize {
        self.weight.len() + self.bias.len()
    }

    /// Forward pass into a caller-owned buffer: `y <- x·W + b`.
    ///
    /// ```text
    /// shapes  x: (B, D_in)   y: (B, D_out)
    /// y = b (broadcast over rows), then y <- 1·x·W + 1·y
    /// ```
    /// Writing `b` first and letting gemm accumulate (`beta = 1`) adds the bias without a
    /// separate read-modify-write pass. `&self`: safe to call from many threads at once.
    ///
    /// # Panics
    /// If the shapes do not agree.
    #[track_caller]
    pub fn forward(&self, x: ArrayView2<A>, mut y: ArrayViewMut2<A>) {
        assert_eq!(
            x.ncols(),
            self.d_in(),
            "dense forward: x has {} columns, W has {} rows",
            x.ncols(),
            self.d_in()
        );
        assert_eq!(
            y.dim(),
            (x.nrows(), self.d_out()),
            "dense forward: y has the wrong shape"
        );
        for mut row in y.rows_mut() {
            row.assign(&self.bias); // y = b
        }
        gemm(A::one(), x, self.weight.view(), A::one(), y); // y += x·W
    }

    /// Backward pass: accumulates `dW`, `db` and, when `dx` is given, overwrites it with the
    /// gradient with respect to the input (the first layer passes `None`: the data needs none).
    ///
    /// ```text
    /// shapes  x: (B, D_in) (the forward input)   dy: (B, D_out)   dx: (B, D_in)
    /// dW += xᵀ·dy        db += Σ_b dy (sum over the batch)        dx = dy·Wᵀ
    /// ```
    ///
    /// # Panics
    /// If the shapes do not agree.
    #[track_caller]
    pub fn backward(&mut self, x: ArrayView2<A>, dy: ArrayView2<A>, dx: Option<ArrayViewMut2<A>>) {
        self.backward_with(x, dy, dx, Gradients::Accumulate);
    }

    /// [`backward`](Self::backward), with `dW`, `db` accumulated or overwritten as `gradients`
    /// says (`Overwrite`: `dW = xᵀ·dy`, `db = Σ_b dy`).
    ///
    /// # Panics
    /// If the shapes do not agree.
    #[track_caller]
    pub fn backward_with(
        &mut self,
        x: ArrayView2<A>,
        dy: ArrayView2<A>,
        dx: Option<ArrayViewMut2<A>>,
        gradients: Gradients,
    ) {
        let b = x.nrows();
        assert_eq!(
            x.ncols(),
            self.d_in(),
            "dense backward: x has the wrong width"
        );
        assert_eq!(
            dy.dim(),
            (b, self.d_out()),
            "dense backward: dy has the wrong shape"
        );
        let keep = match gradients {
            Gradients::Accumulate => A::one(),
            Gradients::Overwrite => {
                self.dbias.fill(A::zero()); // 1 × D_out: cheap, unlike dW
                A::zero()
            }
        };
        gemm(A::one(), x.t(), dy, keep, self.dweight.view_mut()); // dW = xᵀ·dy + keep·dW
        for row in dy.axis_iter(Axis(0)) {
            Zip::from(&mut self.dbias)
                .and(&row)
                .for_each(|db, &g| *db += g); // db += Σ_b dy
        }
        if let Some(dx) = dx {
            assert_eq!(
                dx.dim(),
                (b, self.d_in()),
                "dense backward: dx has the wrong shape"
            );
            gemm(A::one(), dy, self.weight.t(), A::zero(), dx); // dx = dy·Wᵀ
        }
    }

    /// Sets `dW` and `db` to zero.
    pub fn zero_grad(&mut self) {
        self.dweight.fill(A::zero());
        self.dbias.fill(A::zero());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn rng(seed: u64) -> Xoshiro256PlusPlus {
        Xoshiro256PlusPlus::seed_from_u64(seed)
    }

    #[test]
    fn glorot_respects_the_limit_with_plausible_moments() {
        let (d_in, d_out) = (784, 1200);
        let layer = Dense::<f64>::glorot(d_in, d_out, &mut rng(7));
        let limit = (6.0 / (d_in + d_out) as f64).sqrt();
        let n = layer.weight.len() as f64;
        assert!(layer.weight.iter().all(|w| w.abs() <= limit));
        let mean = layer.weight.sum() / n;
        let var = layer.weight.mapv(|w| (w - mean).powi(2)).sum() / n;
        // U[−l, l): mean 0 (sd of the sample mean l/√(3n)), variance l²/3 = 2/(D_in + D_out).
        assert!(mean.abs() < 5.0 * limit / (3.0 * n).sqrt(), "mean {mean}");
        let expected_var = limit * limit / 3.0;
        assert!(
            (var / expected_var - 1.0).abs() < 0.01,
            "var {var} vs {expected_var}"
        );
        let max = layer.weight.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        assert!(
            max > 0.99 * limit,
            "the range should be filled: max |w| {max}"
        );
        assert!(layer.bias.iter().all(|&b| b == 0.0));
    }

    #[test]
    fn glorot_is_seeded() {
        let a = Dense::<f32>::glorot(5, 3, &mut rng(1)).weight;
        let b = Dense::<f32>::glorot(5, 3, &mut rng(1)).weight;
        let c = Dense::<f32>::glorot(5, 3, &mut rng(2)).weight;
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn forward_and_backward_match_hand_values() {
        // Expected values from NumPy:
        //   W = np.array([[1., 2], [3, 4], [5, 6]]); b = np.array([.5, -1])
        //   x = np.array([[1., 0, -1], [2, 1, 0]]); dy = np.array([[1., -1], [2, .5]])
        //   x @ W + b    -> [[-3.5, -5.0], [5.5, 7.0]]
        //   x.T @ dy     -> [[5.0, 0.0], [2.0, 0.5], [-1.0, 1.0]]
        //   dy.sum(0)    -> [3.0, -0.5]
        //   dy @ W.T     -> [[-1.0, -1.0, -1.0], [3.0, 8.0, 13.0]]
        let mut layer = Dense::from_parameters(
            array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            array![0.5, -1.0],
        );
        let x = array![[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]];
        let mut y = Array2::zeros((2, 2));
        layer.forward(x.view(), y.view_mut());
        assert_eq!(y, array![[-3.5, -5.0], [5.5, 7.0]]);
        let dy = array![[1.0, -1.0], [2.0, 0.5]];
        let mut dx = Array2::from_elem((2, 3), f64::NAN); // overwritten, not accumulated
        layer.backward(x.view(), dy.view(), Some(dx.view_mut()));
        // dW = xᵀ·dy, db = column sums, dx = dy·Wᵀ
        assert_eq!(layer.dweight, array![[5.0, 0.0], [2.0, 0.5], [-1.0, 1.0]]);
        assert_eq!(layer.dbias, array![3.0, -0.5]);
        assert_eq!(dx, array![[-1.0, -1.0, -1.0], [3.0, 8.0, 13.0]]);
    }

    #[test]
    #[should_panic(expected = "bias has 3 entries")]
    fn inconsistent_parameters_panic() {
        Dense::from_parameters(Array2::<f32>::zeros((4, 2)), Array1::zeros(3));
    }
}
