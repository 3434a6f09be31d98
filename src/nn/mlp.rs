//! A multilayer perceptron: Dense → ReLU → Dropout for each hidden layer, then a Dense output.
//!
//! ```text
//! sizes [D_0, D_1, …, D_L]        h_0 = dropout_in(x)      (the identity unless input dropout)
//! z_l = h_{l−1}·W_l + b_l                                   l = 1..L
//! h_l = dropout(relu(z_l))                                  hidden layers, l < L
//! logits = z_L                                              no activation, no dropout
//! ```
//! Backward runs the same chain in reverse (each step is documented at its layer):
//! ```text
//! dW_l += h_{l−1}ᵀ·dz_l      db_l += Σ_b dz_l      dh_{l−1} = dz_l·W_lᵀ   (skipped for l = 1)
//! dz_l  = (dh_l ⊙ m_l/(1−p)) ⊙ [h_l > 0]
//! ```
//! The last line uses the stored OUTPUT `h_l = relu(z_l) ⊙ m_l/(1−p)` for the ReLU mask, because
//! ReLU and dropout both work in place on one buffer. That is exact: where `m_l = 0` the gradient
//! is already 0 after the dropout step, and where `m_l = 1`, `h_l = relu(z_l)/(1−p)`, so
//! `h_l > 0 ⇔ z_l > 0`.
//!
//! # Buffers
//! The Mlp owns every activation and gradient buffer, each `(capacity, D)` in row-major order:
//! a copy of the input (layer 1's `dW` needs it), each layer's output, and `dL/dh_l` for each
//! hidden layer; each dropout layer keeps its mask. A batch of `B ≤ capacity` rows uses the first
//! `B` rows (a contiguous prefix), so a smaller last batch (54000 % 64 = 48) reuses the buffers;
//! they are reallocated only when a batch is larger than any before. For large inputs use
//! [`Mlp::predict`], which works in bounded chunks: a 60,000-row `forward` would keep 60,000-row
//! buffers alive.
//!
//! # Randomness
//! Seed `s` gives the Glorot weights from `Xoshiro256PlusPlus::seed_from_u64(s)` (layer by
//! layer, row-major) and the dropout masks from [`mask_stream`]`(s)`, one `long_jump` away. The
//! masks are drawn serially, hidden layer by hidden layer, in the scheme of
//! [`super::dropout`]; with the deterministic [`crate::linalg::gemm`] and serial elementwise
//! passes, logits and gradients are bit-identical for any rayon thread count.

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::dense::Dense;
use super::dropout::{input_mask_stream, mask_stream, Dropout, MaskRng};
use super::relu::{relu_backward, relu_forward};
use super::{Gradients, Mode};
use crate::scalar::Scalar;

/// Rows per chunk in [`Mlp::predict`]: bounds its scratch memory (two `(1024, widest)` buffers).
pub const PREDICT_CHUNK: usize = 1024;

/// A stack of dense layers with ReLU and dropout between them; see the module docs.
#[derive(Debug, Clone)]
pub struct Mlp<A> {
    layers: Vec<Dense<A>>,
    /// Dropout on the input pixels (rate 0, the identity, unless [`Mlp::with_input_dropout`]).
    input_dropout: Dropout<A>,
    /// Its own mask stream, [`input_mask_stream`]`(seed)`.
    input_rng: MaskRng,
    /// One per hidden layer, applied after its ReLU.
    dropouts: Vec<Dropout<A>>,
    rate: f64,
    rng: MaskRng,
    /// Rows every buffer below has room for.
    capacity: usize,
    /// Copy of the last forward's input, `(capacity, D_0)`.
    input: Array2<A>,
    /// `outputs[l]`: layer `l`'s output after ReLU and dropout (hidden) or the logits (last),
    /// `(capacity, D_{l+1})`.
    outputs: Vec<Array2<A>>,
    /// `grads[l] = ∂L/∂outputs[l]` for each hidden layer, `(capacity, D_{l+1})`.
    grads: Vec<Array2<A>>,
    /// Rows of the last forward (`None` before the first).
    batch: Option<usize>,
}

impl<A: Scalar> Mlp<A> {
    /// A freshly initialised MLP: Glorot-uniform weights, zero biases, dropout `p` after each
    /// hidden ReLU.
    ///
    /// ```text
    /// sizes = [input, hidden…, output]      W_l ~ U[−√(6/(D_{l−1}+D_l)), +…)      b_l = 0
    /// ```
    /// e.g. the teacher `[784, 1200, 1200, 10]` with `p = 0.5`, the student `[784, 300, 10]`.
    ///
    /// # Panics
    /// If `sizes` has fewer than 2 entries or a 0, or `dropout` is not in `[0, 1)`.
    #[track_caller]
    pub fn new(sizes: &[usize], dropout: f64, seed: u64) -> Self {
        assert!(
            sizes.len() >= 2,
            "an MLP needs at least [input, output] sizes, got {sizes:?}"
        );
        let mut init = Xoshiro256PlusPlus::seed_from_u64(seed);
        let layers = sizes
            .windows(2)
            .map(|w| Dense::glorot(w[0], w[1], &mut init))
            .collect();
        Self::assemble(layers, dropout, seed)
    }

    /// An MLP with the given `(W, b)` per layer (e.g. from a checkpoint), zero gradients.
    ///
    /// ```text
    /// shapes  layers[l] = (W_l: (D_l, D_{l+1}), b_l: (D_{l+1}))
    /// ```
    /// The dropout masks come from [`mask_stream`]`(seed)`, as in [`Mlp::new`].
    ///
    /// # Panics
    /// If `layers` is empty, a bias does not match its weight, consecutive layers do not chain
    /// (`D_out` of one ≠ `D_in` of the next), a size is 0, or `dropout` is not in `[0, 1)`.
    #[track_caller]
    pub fn from_layers(layers: Vec<(Array2<A>, Array1<A>)>, dropout: f64, seed: u64) -> Self {
        assert!(!layers.is_empty(), "an MLP needs at least one layer");
        let layers: Vec<Dense<A>> = layers
            .into_iter()
            .map(|(w, b)| Dense::from_parameters(w, b))
            .collect();
        for (l, pair) in layers.windows(2).enumerate() {
            assert_eq!(
                pair[0].d_out(),
                pair[1].d_in(),
                "layer {l} outputs {} features but layer {} takes {}",
                pair[0].d_out(),
                l + 1,
                pair[1].d_in()
            );
        }
        Self::assemble(layers, dropout, seed)
    }

    #[track_caller]
    fn assemble(layers: Vec<Dense<A>>, rate: f64, seed: u64) -> Self {
        let hidden = layers.len() - 1;
        let dropouts = (0..hidden).map(|_| Dropout::new(rate)).collect();
        let outputs = layers
            .iter()
            .map(|l| Array2::zeros((0, l.d_out())))
            .collect();
        let grads = layers[..hidden]
            .iter()
            .map(|l| Array2::zeros((0, l.d_out())))
            .collect();
        Mlp {
            input: Array2::zeros((0, layers[0].d_in())),
            layers,
            input_dropout: Dropout::new(0.0),
            input_rng: input_mask_stream(seed),
            dropouts,
            rate,
            rng: mask_stream(seed),
            capacity: 0,
            outputs,
            grads,
            batch: None,
        }
    }

    /// The same MLP with dropout of rate `p` on its input (the 2012 recipe's 0.2), its masks
    /// drawn from [`input_mask_stream`]`(seed)`, a stream of its own: the hidden layers' masks
    /// are the same with or without it.
    ///
    /// ```text
    /// h_0 = x ⊙ m_0/(1−p),  m_0 ~ Bernoulli(1−p)   in Train;   h_0 = x in Eval
    /// ```
    /// With `p = 0` the input layer is the identity and draws nothing.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)`.
    #[track_caller]
    pub fn with_input_dropout(mut self, p: f64) -> Self {
        self.input_dropout = Dropout::new(p);
        self
    }

    /// The input dropout rate (0 when there is none).
    pub fn input_dropout(&self) -> f64 {
        self.input_dropout.rate()
    }

    /// `[input, hidden…, output]`.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.layers[0].d_in())
            .chain(self.layers.iter().map(Dense::d_out))
            .collect()
    }

    /// The dropout rate `p` applied after each hidden ReLU.
    pub fn dropout(&self) -> f64 {
        self.rate
    }

    /// The dense layers, input first (parameters and accumulated gradients).
    pub fn layers(&self) -> &[Dense<A>] {
        &self.layers
    }

    /// Total number of parameters, `Σ_l (D_{l−1}·D_l + D_l)`.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(Dense::parameter_count).sum()
    }

    /// Restarts the dropout mask stream at [`mask_stream`]`(seed)`: the next Train forward draws
    /// the masks a fresh `Mlp::new(_, _, seed)` would. A gradient check calls it before every
    /// forward so each perturbed evaluation sees the same (frozen) masks.
    pub fn reseed_dropout(&mut self, seed: u64) {
        self.rng = mask_stream(seed);
        self.input_rng = input_mask_stream(seed);
    }

    /// The dense layers, input first, to edit in place (a max-norm projection, a bias shift).
    pub fn layers_mut(&mut self) -> &mut [Dense<A>] {
        &mut self.layers
    }

    /// The dropout mask stream where the next Train forward will draw (a training state saves
    /// it, so a resumed fit draws the masks the uninterrupted one would).
    pub fn mask_rng(&self) -> &MaskRng {
        &self.rng
    }

    /// Continues the dropout mask stream from `rng` (a saved [`Mlp::mask_rng`]).
    pub fn set_mask_rng(&mut self, rng: MaskRng) {
        self.rng = rng;
    }

    /// The input-dropout mask stream where the next Train forward will draw (a training state
    /// saves it beside [`Mlp::mask_rng`] when the input dropout rate is above 0).
    pub fn input_mask_rng(&self) -> &MaskRng {
        &self.input_rng
    }

    /// Continues the input-dropout mask stream from `rng` (a saved [`Mlp::input_mask_rng`]).
    pub fn set_input_mask_rng(&mut self, rng: MaskRng) {
        self.input_rng = rng;
    }

    /// Panics unless `x` has `D_0` columns; `what` names the caller in the message.
    #[track_caller]
    fn assert_input_width(&self, x: ArrayView2<A>, what: &str) {
        let d_in = self.layers[0].d_in();
        assert_eq!(
            x.ncols(),
            d_in,
            "mlp {what}: x has {} columns, the input layer takes {d_in}",
            x.ncols()
        );
    }

    /// Makes room for `batch` rows; reallocates only when `batch` exceeds every earlier batch.
    fn reserve(&mut self, batch: usize) {
        if batch <= self.capacity {
            return;
        }
        self.capacity = batch;
        self.input = Array2::zeros((batch, self.layers[0].d_in()));
        for (buf, layer) in self.outputs.iter_mut().zip(&self.layers) {
            *buf = Array2::zeros((batch, layer.d_out()));
        }
        for (buf, layer) in self.grads.iter_mut().zip(&self.layers) {
            *buf = Array2::zeros((batch, layer.d_out()));
        }
    }

    /// Forward pass; caches what backward needs and returns the logits.
    ///
    /// ```text
    /// shapes  x: (B, D_0)   logits: (B, D_L)
    /// h_0 = dropout_in(x)    h_l = dropout(relu(h_{l−1}·W_l + b_l))    logits = h_{L−1}·W_L + b_L
    /// ```
    /// In [`Mode::Train`] each hidden dropout draws a fresh mask from the Mlp's stream; in
    /// [`Mode::Eval`] dropout is the identity (and backward still works).
    ///
    /// # Panics
    /// If `x` does not have `D_0` columns.
    #[track_caller]
    pub fn forward(&mut self, x: ArrayView2<A>, mode: Mode) -> ArrayView2<'_, A> {
        self.assert_input_width(x, "forward");
        let b = x.nrows();
        self.reserve(b);
        let mut input = self.input.slice_mut(s![..b, ..]);
        input.assign(&x); // cached for layer 1's dW
        self.input_dropout.forward(input, mode, &mut self.input_rng); // h_0 = x ⊙ m_0/(1−p)
        let last = self.layers.len() - 1;
        for l in 0..=last {
            let (before, rest) = self.outputs.split_at_mut(l);
            let h_prev = match l {
                0 => self.input.slice(s![..b, ..]),
                _ => before[l - 1].slice(s![..b, ..]),
            };
            let mut h = rest[0].slice_mut(s![..b, ..]);
            self.layers[l].forward(h_prev, h.view_mut()); // z = h_prev·W + b
            if l < last {
                relu_forward(h.view_mut()); // relu(z)
                self.dropouts[l].forward(h, mode, &mut self.rng); // ⊙ m/(1−p)
            }
        }
        self.batch = Some(b);
        self.outputs[last].slice(s![..b, ..])
    }

    /// Backward pass from `dL/dlogits`: ACCUMULATES `dW`, `db` into every layer.
    ///
    /// ```text
    /// shapes  dlogits: (B, D_L), B the rows of the last forward
    /// dz_L = dlogits
    /// dW_l += h_{l−1}ᵀ·dz_l    db_l += Σ_b dz_l    dh_{l−1} = dz_l·W_lᵀ    dz_{l−1} = dh ⊙ m/(1−p) ⊙ [h>0]
    /// ```
    ///
    /// # Panics
    /// Before any forward, or if `dlogits` is not `(B, D_L)`.
    #[track_caller]
    pub fn backward(&mut self, dlogits: ArrayView2<A>) {
        self.backward_with(dlogits, Gradients::Accumulate);
    }

    /// [`backward`](Self::backward) with every `dW`, `db` accumulated or overwritten as
    /// `gradients` says. `Overwrite` equals `zero_grad()` then `backward()` (up to the sign of
    /// zero) without the pass that zeroes the gradient buffers: what `fit` does each batch.
    ///
    /// # Panics
    /// Before any forward, or if `dlogits` is not `(B, D_L)`.
    #[track_caller]
    pub fn backward_with(&mut self, dlogits: ArrayView2<A>, gradients: Gradients) {
        self.backward_then_update(dlogits, gradients, |_, _, _| {});
    }

    /// [`backward_with`](Self::backward_with) that hands each layer's parameters and fresh
    /// gradients to `update(slot, parameter, gradient)` (slots as in
    /// [`visit_parameters`](Self::visit_parameters)) as soon as that layer's backward is done,
    /// from the last layer down.
    ///
    /// ```text
    /// for l = L … 1:   dW_l, db_l, dh_{l−1} = dz_l·W_lᵀ    then   update(W_l, dW_l), update(b_l, db_l)
    /// ```
    /// Nothing below layer `l` reads `W_l` or `b_l`, so updating them here gives exactly the
    /// parameters of a whole backward followed by one [`visit_parameters`](Self::visit_parameters)
    /// pass; the update just runs while `dW_l` and `W_l` (read by `dz_l·W_lᵀ`) are still in cache.
    ///
    /// # Panics
    /// Before any forward, or if `dlogits` is not `(B, D_L)`.
    #[track_caller]
    pub fn backward_then_update(
        &mut self,
        dlogits: ArrayView2<A>,
        gradients: Gradients,
        mut update: impl FnMut(usize, &mut [A], &[A]),
    ) {
        let b = self.batch.expect("mlp backward before forward");
        let last = self.layers.len() - 1;
        assert_eq!(
            dlogits.dim(),
            (b, self.layers[last].d_out()),
            "mlp backward: dlogits shape differs from the last forward's logits"
        );
        for l in (0..=last).rev() {
            let (lower, upper) = self.grads.split_at_mut(l);
            let dz = match l == last {
                true => dlogits.view(),
                false => upper[0].slice(s![..b, ..]), // already dz_l: see the step below
            };
            let h_prev = match l {
                0 => self.input.slice(s![..b, ..]),
                _ => self.outputs[l - 1].slice(s![..b, ..]),
            };
            let dh_prev = lower.last_mut().map(|g| g.slice_mut(s![..b, ..]));
            self.layers[l].backward_with(h_prev, dz, dh_prev, gradients); // dW, db; dh_{l−1} = dz·Wᵀ
            visit_layer(l, &mut self.layers[l], &mut update); // W_l is not read again this step
            if let Some(g) = lower.last_mut() {
                let mut dh = g.slice_mut(s![..b, ..]);
                self.dropouts[l - 1].backward(dh.view_mut()); // ⊙ m/(1−p)
                relu_backward(self.outputs[l - 1].slice(s![..b, ..]), dh); // ⊙ [h > 0]
            }
        }
    }

    /// Sets every `dW` and `db` to zero.
    pub fn zero_grad(&mut self) {
        self.layers.iter_mut().for_each(Dense::zero_grad);
    }

    /// Calls `f(slot, parameter, gradient)` for every parameter array in a fixed order: slot
    /// `2l` is layer `l`'s weight (row-major), slot `2l + 1` its bias.
    ///
    /// # Panics
    /// If a layer's public `weight`/`dweight` was replaced by an array not in standard layout.
    pub fn visit_parameters(&mut self, mut f: impl FnMut(usize, &mut [A], &[A])) {
        for (l, layer) in self.layers.iter_mut().enumerate() {
            visit_layer(l, layer, &mut f);
        }
    }

    /// Eval-mode logits for any number of rows, in chunks of [`PREDICT_CHUNK`] rows; reads no
    /// cache and writes none (`&self`), so it may run on any thread.
    ///
    /// ```text
    /// shapes  x: (N, D_0)   logits: (N, D_L)
    /// logits = forward(x, Eval), chunk by chunk (bit-identical to it)
    /// ```
    ///
    /// # Panics
    /// If `x` does not have `D_0` columns.
    #[track_caller]
    pub fn predict(&self, x: ArrayView2<A>) -> Array2<A> {
        self.assert_input_width(x, "predict");
        let last = self.layers.len() - 1;
        let mut logits = Array2::zeros((x.nrows(), self.layers[last].d_out()));
        let chunk = PREDICT_CHUNK.min(x.nrows());
        let widest = self.layers[..last]
            .iter()
            .map(Dense::d_out)
            .max()
            .unwrap_or(0);
        let mut bufs = [
            vec![A::zero(); chunk * widest],
            vec![A::zero(); chunk * widest],
        ];
        let chunks = x.axis_chunks_iter(Axis(0), PREDICT_CHUNK);
        for (x_c, out) in chunks.zip(logits.axis_chunks_iter_mut(Axis(0), PREDICT_CHUNK)) {
            let rows = x_c.nrows();
            // Hidden layer l writes bufs[l % 2] and reads bufs[(l + 1) % 2] (or x_c for l = 0).
            for (l, layer) in self.layers[..last].iter().enumerate() {
                let [even, odd] = &mut bufs;
                let (dst, src) = if l % 2 == 0 {
                    (even, &*odd)
                } else {
                    (odd, &*even)
                };
                let h_prev = match l {
                    0 => x_c.view(),
                    _ => view(src, rows, layer.d_in()),
                };
                let mut h = ArrayViewMut2::from_shape(
                    (rows, layer.d_out()),
                    &mut dst[..rows * layer.d_out()],
                )
                .expect("buffer holds rows·D");
                layer.forward(h_prev, h.view_mut()); // z = h_prev·W + b
                relu_forward(h); // dropout is the identity in Eval
            }
            let h_prev = match last {
                0 => x_c.view(),
                _ => view(&bufs[(last - 1) % 2], rows, self.layers[last].d_in()),
            };
            self.layers[last].forward(h_prev, out); // logits
        }
        logits
    }
}

/// Calls `f` on layer `l`'s weight (slot `2l`, row-major) and bias (slot `2l + 1`) with their
/// gradients.
///
/// # Panics
/// If the layer's public `weight`/`dweight` was replaced by an array not in standard layout.
fn visit_layer<A>(l: usize, layer: &mut Dense<A>, f: &mut impl FnMut(usize, &mut [A], &[A])) {
    let Dense {
        weight,
        bias,
        dweight,
        dbias,
    } = layer;
    let standard = "parameters are kept in standard layout";
    f(
        2 * l,
        weight.as_slice_mut().expect(standard),
        dweight.as_slice().expect(standard),
    );
    f(
        2 * l + 1,
        bias.as_slice_mut().expect(standard),
        dbias.as_slice().expect(standard),
    );
}

/// The first `rows·cols` entries of `buf` as a `(rows, cols)` row-major view.
fn view<A>(buf: &[A], rows: usize, cols: usize) -> ArrayView2<'_, A> {
    ArrayView2::from_shape((rows, cols), &buf[..rows * cols]).expect("buffer holds rows·D")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;
    use ndarray_rand::rand_distr::Uniform;
    use ndarray_rand::RandomExt;

    fn data(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        Array::random_using((rows, cols), Uniform::new(-1.0, 1.0), &mut rng)
    }

    #[test]
    fn sizes_and_parameter_count() {
        let mlp = Mlp::<f32>::new(&[784, 1200, 1200, 10], 0.5, 0);
        assert_eq!(mlp.sizes(), vec![784, 1200, 1200, 10]);
        assert_eq!(
            mlp.parameter_count(),
            784 * 1200 + 1200 + 1200 * 1200 + 1200 + 1200 * 10 + 10
        );
        assert_eq!(mlp.dropout(), 0.5);
        assert_eq!(mlp.layers().len(), 3);
    }

    #[test]
    fn buffers_are_reused_for_smaller_batches() {
        let mut mlp = Mlp::<f64>::new(&[6, 5, 5, 3], 0.5, 1);
        let big = data(8, 6, 2);
        let dlogits = data(8, 3, 3);
        mlp.forward(big.view(), Mode::Train);
        mlp.backward(dlogits.view());
        let pointers = |m: &Mlp<f64>| {
            let mut p = vec![m.input.as_ptr()];
            p.extend(m.outputs.iter().map(|a| a.as_ptr()));
            p.extend(m.grads.iter().map(|a| a.as_ptr()));
            p
        };
        let before = pointers(&mlp);
        for rows in [5, 8, 1, 0] {
            let logits = mlp
                .forward(big.slice(s![..rows, ..]), Mode::Train)
                .to_owned();
            assert_eq!(logits.dim(), (rows, 3));
            mlp.backward(dlogits.slice(s![..rows, ..]));
            assert_eq!(pointers(&mlp), before, "batch {rows} reallocated");
        }
        assert_eq!(mlp.capacity, 8);
    }

    #[test]
    fn predict_equals_forward_eval_across_chunks() {
        let rows = PREDICT_CHUNK + 37; // two chunks, the second partial
        for sizes in [&[5usize, 4, 3, 2][..], &[5, 2][..]] {
            let mut mlp = Mlp::<f64>::new(sizes, 0.5, 4);
            let x = data(rows, 5, 5);
            let predicted = mlp.predict(x.view());
            let forward = mlp.forward(x.view(), Mode::Eval).to_owned();
            assert_eq!(predicted, forward, "sizes {sizes:?}");
        }
        let mlp = Mlp::<f32>::new(&[3, 2], 0.0, 0);
        assert_eq!(mlp.predict(Array2::zeros((0, 3)).view()).dim(), (0, 2));
    }

    #[test]
    fn train_and_eval_differ_only_by_dropout() {
        let x = data(4, 6, 6);
        let mut with = Mlp::<f64>::new(&[6, 8, 3], 0.5, 7);
        let mut without = Mlp::<f64>::new(&[6, 8, 3], 0.0, 7);
        let eval = with.forward(x.view(), Mode::Eval).to_owned();
        assert_eq!(eval, without.forward(x.view(), Mode::Train).to_owned());
        assert_ne!(eval, with.forward(x.view(), Mode::Train).to_owned());
    }

    #[test]
    fn from_layers_reproduces_new() {
        let x = data(3, 4, 8);
        let mut a = Mlp::<f64>::new(&[4, 6, 2], 0.3, 9);
        let params = a
            .layers()
            .iter()
            .map(|l| (l.weight.clone(), l.bias.clone()))
            .collect();
        let mut b = Mlp::from_layers(params, 0.3, 9);
        assert_eq!(a.sizes(), b.sizes());
        let za = a.forward(x.view(), Mode::Train).to_owned();
        assert_eq!(za, b.forward(x.view(), Mode::Train).to_owned());
    }

    #[test]
    #[should_panic(expected = "layer 0 outputs 3 features but layer 1 takes 4")]
    fn from_layers_rejects_a_broken_chain() {
        Mlp::<f32>::from_layers(
            vec![
                (Array2::zeros((2, 3)), Array1::zeros(3)),
                (Array2::zeros((4, 1)), Array1::zeros(1)),
            ],
            0.0,
            0,
        );
    }

    #[test]
    #[should_panic(expected = "backward before forward")]
    fn backward_needs_a_forward() {
        Mlp::<f32>::new(&[2, 2], 0.0, 0).backward(Array2::zeros((1, 2)).view());
    }

    /// A stream handed over with `set_mask_rng` / `set_input_mask_rng` continues where the
    /// other model left off: the next Train forwards draw the same masks (what a resumed fit
    /// relies on), which the model's own, unadvanced streams would not.
    #[test]
    fn handed_over_mask_streams_continue_the_masks() {
        let x = data(4, 6, 10);
        let model = || Mlp::<f64>::new(&[6, 8, 3], 0.5, 11).with_input_dropout(0.2);
        let mut ahead = model();
        ahead.forward(x.view(), Mode::Train); // advances both of its streams
        let mut fresh = model();
        let mut continued = model();
        continued.set_mask_rng(ahead.mask_rng().clone());
        continued.set_input_mask_rng(ahead.input_mask_rng().clone());
        let next = ahead.forward(x.view(), Mode::Train).to_owned();
        assert_eq!(continued.forward(x.view(), Mode::Train).to_owned(), next);
        assert_ne!(fresh.forward(x.view(), Mode::Train).to_owned(), next);
        // each stream on its own: handing over only one of them changes the masks
        for hand_over_input in [false, true] {
            let mut ahead = model();
            ahead.forward(x.view(), Mode::Train);
            let mut half = model();
            if hand_over_input {
                half.set_input_mask_rng(ahead.input_mask_rng().clone());
            } else {
                half.set_mask_rng(ahead.mask_rng().clone());
            }
            let next = ahead.forward(x.view(), Mode::Train).to_owned();
            assert_ne!(half.forward(x.view(), Mode::Train).to_owned(), next);
        }
    }

    #[test]
    #[should_panic(expected = "mlp forward: x has 5 columns, the input layer takes 4")]
    fn forward_names_a_wrong_input_width() {
        Mlp::<f32>::new(&[4, 3, 2], 0.0, 0).forward(Array2::zeros((2, 5)).view(), Mode::Eval);
    }

    #[test]
    #[should_panic(expected = "mlp predict: x has 5 columns, the input layer takes 4")]
    fn predict_names_a_wrong_input_width() {
        Mlp::<f32>::new(&[4, 3, 2], 0.0, 0).predict(Array2::zeros((2, 5)).view());
    }

    #[test]
    fn visit_parameters_in_slot_order() {
        let mut mlp = Mlp::<f32>::new(&[3, 4, 2], 0.0, 0);
        let mut seen = Vec::new();
        mlp.visit_parameters(|slot, p, g| seen.push((slot, p.len(), g.len())));
        assert_eq!(seen, vec![(0, 12, 12), (1, 4, 4), (2, 8, 8), (3, 2, 2)]);
    }

    /// An update per layer during backward lands on exactly the parameters of a whole backward
    /// followed by one update pass: each layer's update sees its fresh gradient, and no layer's
    /// `dh = dz·Wᵀ` reads a weight already updated.
    #[test]
    fn update_during_backward_equals_update_after_it() {
        let x = data(6, 5, 1);
        let dlogits = data(6, 3, 2);
        let sgd = |_: usize, p: &mut [f64], g: &[f64]| {
            p.iter_mut().zip(g).for_each(|(p, &g)| *p -= 0.5 * g);
        };
        let mut after = Mlp::<f64>::new(&[5, 7, 6, 3], 0.5, 3);
        let mut during = after.clone();
        for _ in 0..2 {
            after.forward(x.view(), Mode::Train);
            after.backward_with(dlogits.view(), Gradients::Overwrite);
            after.visit_parameters(sgd);
            during.forward(x.view(), Mode::Train);
            let mut slots = Vec::new();
            during.backward_then_update(dlogits.view(), Gradients::Overwrite, |slot, p, g| {
                slots.push(slot);
                sgd(slot, p, g)
            });
            assert_eq!(
                slots,
                vec![4, 5, 2, 3, 0, 1],
                "last layer first, weight then bias"
            );
        }
        for (a, d) in after.layers().iter().zip(during.layers()) {
            assert_eq!(a.weight, d.weight);
            assert_eq!(a.bias, d.bias);
            assert_eq!(a.dweight, d.dweight);
        }
        let untouched = Mlp::<f64>::new(&[5, 7, 6, 3], 0.5, 3);
        assert_ne!(untouched.layers()[0].weight, during.layers()[0].weight);
    }
}
