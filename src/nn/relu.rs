//! ReLU, in place: forward overwrites its input with the output, backward reads that output.
//!
//! ```text
//! y = max(x, 0)          dx = dy ⊙ [x > 0] = dy ⊙ [y > 0]
//! ```
//! The derivative only needs the sign of `x`, and `y > 0 ⇔ x > 0`, so the forward pass can
//! overwrite `x` and backward reads `y` instead: no extra buffer. At the kink (`x = 0`) the
//! derivative is taken as 0, as PyTorch does.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use crate::scalar::Scalar;

/// `x <- max(x, 0)` element by element, in place. NaN stays NaN (it is not `< 0`).
///
/// ```text
/// shapes  x: (B, D)
/// y = max(x, 0)
/// ```
pub fn relu_forward<A: Scalar>(mut x: ArrayViewMut2<A>) {
    let zero = A::zero();
    x.map_inplace(|v| {
        if *v < zero {
            *v = zero; // y = max(x, 0)
        }
    });
}

/// `dy <- dy ⊙ [y > 0]` in place: the gradient with respect to the ReLU's input.
///
/// ```text
/// shapes  y: (B, D)   dy: (B, D)
/// dx = dy ⊙ [y > 0]        (y is the forward OUTPUT; y > 0 ⇔ x > 0)
/// ```
///
/// # Panics
/// If `y` and `dy` differ in shape.
#[track_caller]
pub fn relu_backward<A: Scalar>(y: ArrayView2<A>, dy: ArrayViewMut2<A>) {
    assert_eq!(y.dim(), dy.dim(), "relu_backward: y and dy differ in shape");
    let zero = A::zero();
    Zip::from(dy).and(y).for_each(|d, &y| {
        *d = if y > zero { *d } else { zero }; // dx = dy·[y > 0]
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn forward_clamps_negatives_only() {
        let mut x = array![[-2.0f64, -0.0, 0.5], [3.0, -1e-9, f64::NAN]];
        relu_forward(x.view_mut());
        assert_eq!(x.row(0).to_vec(), vec![0.0, -0.0, 0.5]);
        assert_eq!(x[[1, 0]], 3.0);
        assert_eq!(x[[1, 1]], 0.0);
        assert!(x[[1, 2]].is_nan(), "NaN must propagate, not be hidden");
    }

    #[test]
    fn backward_masks_by_the_output_sign() {
        let y = array![[0.0f32, 0.5], [2.0, 0.0]];
        let mut dy = array![[7.0f32, 8.0], [9.0, 10.0]];
        relu_backward(y.view(), dy.view_mut());
        assert_eq!(dy, array![[0.0, 8.0], [9.0, 0.0]]);
    }

    #[test]
    #[should_panic(expected = "differ in shape")]
    fn backward_checks_shapes() {
        let y = ndarray::Array2::<f64>::zeros((2, 3));
        let mut dy = ndarray::Array2::<f64>::zeros((3, 2));
        relu_backward(y.view(), dy.view_mut());
    }
}
