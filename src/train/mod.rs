//! Training: the fit loop with early stopping, what it minimises, and the distiller.
//!
//! ```text
//! fit(model, objective)         epochs of shuffled batches -> forward(Train) -> objective
//!                               -> backward -> Adam; validation + early stopping each epoch
//! CrossEntropy                  the teacher and the scratch student: CE(y, softmax(z))
//! Distillation                  α·CE(y, z_s) + (1−α)·s·KL(p_t ‖ p_s), with the teacher's logits
//!                               looked up in a cache computed once (TeacherLogits)
//! StateStore, Stop              resumable state files beside the outputs, and the flag that
//!                               stops a fit cleanly after its current batch (state.rs)
//! ```

mod distiller;
mod early_stopping;
mod fit;
mod inference;
mod objective;
mod progress;
pub mod state;

pub use distiller::{Distillation, TeacherLogits};
pub use early_stopping::{EarlyStopping, Verdict};
pub use fit::{fit, FitOutcome, History};
pub use inference::{evaluate, logits, Evaluation};
pub use objective::{BatchLoss, CrossEntropy, Objective, Part};
pub use progress::Progress;
pub use state::{StateStore, Stop};
