//! `distill`: knowledge distillation (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in
//! a Neural Network") on MNIST, with a numeric engine written by hand: layers, losses,
//! backpropagation and Adam, each backward pass gradient-checked in f64.
//!
//! # The map
//! Data flows one way; lower modules never import upper ones.
//! ```text
//! data        IDX files (raw or gzip, validated) -> MNIST splits of u8 pixels -> f32 batches
//! linalg      gemm: C <- a·op(A)·op(B) + b·C, rayon over row/column blocks, bit-identical
//! nn          Dense, ReLU, Dropout, Mlp: forward and backward side by side
//! loss        softmax(z/T), cross-entropy, KL(p_t ‖ p_s), the distillation loss
//! optim       Adam (Keras' form)
//! train       fit with early stopping; the distiller with cached teacher logits
//! metrics     accuracy, confusion matrix, ROC/AUC as scikit-learn defines them
//! checkpoint  safetensors in and out: write (atomic), read (framing, header), validate
//! lock        one writer per folder: an flock on DIR/.distill.lock, stale locks taken over
//! report      PNG plots, report.json, report.md
//! experiment  the notebook's steps; pipeline: all of them in order (`distill run`)
//! paper       the paper's §3 on MNIST (`distill paper`), composing the same steps
//! study       explain, soft-targets, similarity, gradcheck: the math printed with real numbers
//! sweep       grids of runs over seeds: plan, job, local run, parallel/Slurm scripts, report
//! gradcheck   the public central-difference checker the tests use
//! ```
//!
//! # The math in one page
//! ```text
//! teacher   z_t = MLP_784-1200-1200-10(x)   (ReLU, dropout 0.5 in training)
//! student   z_s = MLP_784-300-10(x)
//! p_t = softmax(z_t/T)    p_s = softmax(z_s/T)    q = softmax(z_s)
//! L   = α·CE(y, q) + (1−α)·s·KL(p_t ‖ p_s)         s = 1 (the notebook) or T² (the paper)
//!       CE = −(1/B) Σ_b log q_b[y_b]               mean over the batch
//!       KL = (1/B) Σ_b Σ_c p_t[b,c]·(log p_t[b,c] − log p_s[b,c])   sum over classes
//! ∂L/∂z_s = [α·(q − onehot(y)) + (1−α)·(s/T)·(p_s − p_t)] / B
//! dense     y = xW + b      dW += xᵀ·dy    db += Σ_b dy    dx = dy·Wᵀ
//! ReLU      y = max(x, 0)   dx = dy ⊙ [x > 0]
//! dropout   y = x ⊙ m/(1−p), m ~ Bernoulli(1−p)    dx = dy ⊙ m/(1−p)
//! Adam      m ← β1·m + (1−β1)·g    v ← β2·v + (1−β2)·g²
//!           θ ← θ − lr·√(1−β2^t)/(1−β1^t) · m/(√v + ε)        (Keras' form)
//! ```
//! At high T with zero-mean logits, `T²·∂KL/∂z_s → (z_s − z_t)/(N·B)`: distillation becomes
//! logit matching (the paper's eq. 4). `docs/math.md` derives every line, names the function
//! that computes it and the test that checks it.

pub mod atomic;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod experiment;
pub mod gradcheck;
pub mod linalg;
pub mod lock;
pub mod loss;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod output;
pub mod paper;
pub mod pipeline;
pub mod report;
pub mod scalar;
pub mod study;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
pub use scalar::Scalar;
