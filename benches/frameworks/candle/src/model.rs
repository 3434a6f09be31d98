//! The multilayer perceptrons and the losses, in candle-core / candle-nn.

use candle_core::{DType, Device, Result, Tensor, Var, D};
use candle_nn::{Linear, Module};
use rand::rngs::StdRng;
use rand::Rng;

use crate::mnist::INPUT_SIZE;

pub const CLASSES: usize = 10;
/// Evaluation only: no gradients, so the chunk size does not change the result.
const EVAL_BATCH: usize = 1024;

/// 784-hidden..-10, ReLU after each hidden layer, inverted dropout after it while training.
pub struct Mlp {
    layers: Vec<Linear>,
    vars: Vec<Var>,
    dropout: f32,
}

impl Mlp {
    /// Glorot-uniform weights U(±sqrt(6/(in+out))) and zero biases, drawn from `rng`: candle's CPU
    /// generator cannot be seeded, so every random number here comes from a seeded `StdRng`.
    pub fn new(hidden: &[usize], dropout: f32, rng: &mut StdRng, device: &Device) -> Result<Self> {
        let sizes: Vec<usize> = [INPUT_SIZE]
            .iter()
            .chain(hidden)
            .chain(&[CLASSES])
            .copied()
            .collect();
        let (mut layers, mut vars) = (Vec::new(), Vec::new());
        for pair in sizes.windows(2) {
            let (d_in, d_out) = (pair[0], pair[1]);
            let limit = (6.0 / (d_in + d_out) as f64).sqrt() as f32;
            let w: Vec<f32> = (0..d_in * d_out)
                .map(|_| rng.random_range(-limit..limit))
                .collect();
            // candle_nn::Linear keeps the weight as (out, in) and computes x·Wᵀ + b.
            let w = Var::from_vec(w, (d_out, d_in), device)?;
            let b = Var::zeros(d_out, DType::F32, device)?;
            layers.push(Linear::new(
                w.as_tensor().clone(),
                Some(b.as_tensor().clone()),
            ));
            vars.extend([w, b]);
        }
        Ok(Self {
            layers,
            vars,
            dropout,
        })
    }

    pub fn vars(&self) -> Vec<Var> {
        self.vars.clone()
    }

    /// Logits (rows, 10). `dropout_rng` Some = training: each hidden activation is multiplied by
    /// a mask of 0 (probability p) or 1/(1 − p), as candle_nn::ops::dropout does.
    pub fn forward(&self, x: &Tensor, mut dropout_rng: Option<&mut StdRng>) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i + 1 < self.layers.len() {
                h = h.relu()?;
                if let (Some(rng), true) = (dropout_rng.as_deref_mut(), self.dropout > 0.0) {
                    let (p, scale) = (self.dropout, 1.0 / (1.0 - self.dropout));
                    let mask: Vec<f32> = (0..h.elem_count())
                        .map(|_| if rng.random::<f32>() < p { 0.0 } else { scale })
                        .collect();
                    h = h.mul(&Tensor::from_vec(mask, h.dims(), h.device())?)?;
                }
            }
        }
        Ok(h)
    }

    /// Eval-mode logits (n, 10) of all rows of x, in chunks, outside the autograd graph.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let chunks = (0..n)
            .step_by(EVAL_BATCH)
            .map(|start| {
                Ok(self
                    .forward(&x.narrow(0, start, EVAL_BATCH.min(n - start))?, None)?
                    .detach())
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&chunks, 0)
    }

    /// Copies of the weights (early stopping keeps the best).
    pub fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.vars.iter().map(|v| v.as_tensor().copy()).collect()
    }

    pub fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        self.vars
            .iter()
            .zip(snapshot)
            .try_for_each(|(v, t)| v.set(t))
    }
}

/// Mean cross-entropy of logits z (rows, 10) against labels y (rows,).
pub fn cross_entropy(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(z, y)
}

/// α·CE(y, z_s) + (1−α)·s·KL(softmax(z_t/T) ‖ softmax(z_s/T)): sum over classes, mean over the batch.
pub fn kd_loss(z_s: &Tensor, z_t: &Tensor, y: &Tensor, soft_scale: f64) -> Result<Tensor> {
    use crate::{ALPHA, TEMPERATURE};
    let log_p_s = candle_nn::ops::log_softmax(&(z_s / TEMPERATURE)?, D::Minus1)?;
    let log_p_t = candle_nn::ops::log_softmax(&(z_t.detach() / TEMPERATURE)?, D::Minus1)?;
    let soft = (log_p_t.exp()? * (log_p_t - log_p_s)?)?
        .sum(D::Minus1)?
        .mean_all()?;
    (cross_entropy(z_s, y)? * ALPHA)? + (soft * ((1.0 - ALPHA) * soft_scale))?
}
