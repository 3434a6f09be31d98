//! Kullback–Leibler divergence between tempered softmaxes (the soft-target loss).

use ndarray::{Array1, Array2, ArrayView2, Zip};

use super::softmax::{assert_temperature, log_softmax_row};
use super::LossAndGrad;
use crate::Scalar;

/// One class's term of `KL(p_t ‖ p_s)` from the two log-probabilities, and `p_t` itself.
///
/// ```text
/// term = p_t (log p_t − log p_s),   with 0·log 0 = 0: term = 0 exactly when p_t = 0
/// ```
/// `log p_t` is finite (it comes from log-sum-exp) even where `p_t = exp(log p_t)` underflows;
/// the explicit zero keeps the convention exact instead of relying on `0·finite`.
#[inline]
pub(crate) fn kl_term<A: Scalar>(log_p_t: A, log_p_s: A) -> (A, A) {
    let p_t = log_p_t.exp();
    let term = if p_t == A::zero() {
        A::zero()
    } else {
        p_t * (log_p_t - log_p_s)
    };
    (term, p_t)
}

/// `KL(p_t ‖ p_s)` of tempered softmaxes, mean over the batch, and its gradient w.r.t. `z_s`.
///
/// ```text
/// p_t = softmax(z_t/T)   p_s = softmax(z_s/T)
/// L     = (1/B) Σ_b Σ_j p_t,bj (log p_t,bj − log p_s,bj)      sum over classes, mean over the batch
/// dz_s  = (p_s − p_t) / (T·B)                                   (0·log 0 = 0)
/// shapes  z_t: (B, N)   z_s: (B, N)   dz_s: (B, N)
/// ```
/// The teacher's logits `z_t` are constants: no gradient flows to them. Keras'
/// `KLDivergence()(softmax(z_t/T), softmax(z_s/T))` gives the same value (it clips
/// probabilities to `[1e-7, 1]`; here both logs come exactly from log-sum-exp).
///
/// # Panics
/// If the shapes differ, `B == 0`, or `t` is not positive and finite.
#[track_caller]
pub fn kl_divergence<A: Scalar>(z_t: ArrayView2<A>, z_s: ArrayView2<A>, t: A) -> LossAndGrad<A> {
    assert_temperature(t);
    assert_eq!(
        z_t.dim(),
        z_s.dim(),
        "kl_divergence: z_t and z_s shapes differ"
    );
    let (batch, classes) = z_s.dim();
    assert!(batch > 0, "an empty batch has no mean loss");
    let scale = A::one() / (t * A::of(batch as f64)); // 1/(T·B)
    let mut log_p_t = Array1::zeros(classes); // one row's buffer, reused
    let mut dz = Array2::zeros((batch, classes));
    let mut loss = A::zero();
    Zip::from(z_t.rows())
        .and(z_s.rows())
        .and(dz.rows_mut())
        .for_each(|z_t, z_s, mut dz| {
            log_softmax_row(z_t, t, log_p_t.view_mut());
            log_softmax_row(z_s, t, dz.view_mut()); // dz holds log p_s for now
            Zip::from(&mut dz).and(&log_p_t).for_each(|d, &lt| {
                let (term, p_t) = kl_term(lt, *d);
                loss += term; // Σ_j p_t (log p_t − log p_s)
                *d = (d.exp() - p_t) * scale; // (p_s − p_t)/(T·B)
            });
        });
    LossAndGrad {
        loss: loss / A::of(batch as f64),
        dz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn zero_for_identical_logits_and_positive_otherwise() {
        let z = array![[0.3, -1.2, 2.0], [1.0, 1.0, -4.0]];
        let same = kl_divergence(z.view(), z.view(), 2.0);
        assert_eq!(same.loss, 0.0);
        assert!(same.dz.iter().all(|&d| d == 0.0));
        let other = z.mapv(|v| -v);
        assert!(kl_divergence(z.view(), other.view(), 2.0).loss > 0.0);
    }

    #[test]
    fn zero_teacher_probability_contributes_exactly_zero() {
        // p_t underflows to 0 for the first class (exp(−2e6)); log p_s of that class is finite.
        assert_eq!(kl_term(-2e6_f64, -3.0), (0.0, 0.0));
        assert_eq!(kl_term(-2e6_f32, -3.0), (0.0, 0.0));
    }
}
