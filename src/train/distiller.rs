//! The distiller: a frozen teacher's logits, computed once, drive the student's soft loss.
//!
//! The teacher runs in [`Mode::Eval`](crate::nn::Mode) (no dropout), so its logits are a fixed
//! function of each example: computing them once for the whole training and validation sets
//! and looking them up by example index is exactly equivalent to running the teacher on every
//! batch, and it makes a distillation epoch cost one student epoch. The shuffle permutes
//! indices, so each student batch finds its teacher rows by the same indices.
//!
//! Early stopping monitors the same combined loss on the validation split, with the validation
//! rows of the cache (the notebook's Keras `Distiller` reports that as `val_loss`).

use std::time::Instant;

use ndarray::{s, Array2, ArrayView2, Axis};

use crate::data::Split;
use crate::loss::DistillLoss;
use crate::nn::Mlp;
use crate::train::inference::logits;
use crate::train::objective::{BatchLoss, Objective, Part};

/// The teacher's eval-mode logits for every example of the training and validation parts.
#[derive(Debug, Clone)]
pub struct TeacherLogits {
    /// `z_t` of the training part, (N_train, classes).
    pub train: Array2<f32>,
    /// `z_t` of the validation part, (N_val, classes).
    pub validation: Array2<f32>,
    /// Wall time spent computing both.
    pub seconds: f64,
}

impl TeacherLogits {
    /// Runs the frozen teacher once over both parts (in parallel row chunks).
    ///
    /// ```text
    /// train[n] = z_t(x_n) for the N_train training examples, validation[m] likewise;
    /// eval mode: no dropout, so each row is a fixed function of its example
    /// ```
    ///
    /// # Panics
    /// If the teacher's input width differs from the splits' image size.
    pub fn compute(teacher: &Mlp<f32>, train: &Split, validation: &Split) -> Self {
        let start = Instant::now();
        let train = logits(teacher, train);
        let validation = logits(teacher, validation);
        TeacherLogits {
            train,
            validation,
            seconds: start.elapsed().as_secs_f64(),
        }
    }
}

/// The distillation objective `α·CE(y, z_s) + (1−α)·s·KL(p_t ‖ p_s)` over cached teacher logits.
///
/// History terms: `student_loss` = CE(y, softmax(z_s)), `distill_loss` = KL(p_t ‖ p_s) at
/// temperature T (before the factors (1−α) and s), `total_loss` = the minimised sum.
#[derive(Debug)]
pub struct Distillation<'a> {
    loss: DistillLoss,
    teacher: &'a TeacherLogits,
    /// The teacher rows of the current batch: the first B rows are used, and the buffer only
    /// grows (the largest batch is the whole validation split), so no batch reallocates it.
    z_t: Array2<f32>,
}

impl<'a> Distillation<'a> {
    /// An objective for `loss` with the teacher's cached logits.
    pub fn new(loss: DistillLoss, teacher: &'a TeacherLogits) -> Self {
        Distillation {
            loss,
            teacher,
            z_t: Array2::zeros((0, teacher.train.ncols())),
        }
    }
}

impl Objective for Distillation<'_> {
    fn terms(&self) -> &'static [&'static str] {
        &["student_loss", "distill_loss", "total_loss"]
    }

    fn batch(
        &mut self,
        z_s: ArrayView2<f32>,
        labels: &[u8],
        indices: &[usize],
        part: Part,
    ) -> BatchLoss {
        let cache = match part {
            Part::Train => &self.teacher.train,
            Part::Validation => &self.teacher.validation,
        };
        if self.z_t.nrows() < indices.len() {
            self.z_t = Array2::zeros((indices.len(), cache.ncols()));
        }
        let mut z_t = self.z_t.slice_mut(s![..indices.len(), ..]);
        for (mut row, &i) in z_t.axis_iter_mut(Axis(0)).zip(indices) {
            row.assign(&cache.row(i)); // z_t[b] = cache[indices[b]]
        }
        let t = self.loss.compute(z_s, z_t.view(), labels);
        BatchLoss {
            terms: vec![
                f64::from(t.student),
                f64::from(t.distill),
                f64::from(t.total),
            ],
            dz: t.dz_s,
        }
    }
}
