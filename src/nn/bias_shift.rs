//! A bias shift: an exact edit of the output layer that adds `δ_c` to the logit of class `c`.
//!
//! ```text
//! b_L[c] ← b_L[c] + δ_c        so   z'(x) = z(x) + δ   for every input x
//! ```
//! The paper's §3 raises the bias of a class left out of the transfer set (3 by 3.5) or lowers
//! the biases of the only classes kept (7 and 8 by 7.6), correcting the prior the student
//! learnt from a transfer set whose class frequencies differ from the test set's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Mlp;
use crate::data::CLASSES;
use crate::error::{Error, Result};

/// Per-class offsets of the output bias, `--bias-shift CLASS=DELTA[,CLASS=DELTA]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BiasShift {
    /// `(class, δ)` pairs, each class at most once.
    pub shifts: Vec<(u8, f64)>,
}

impl BiasShift {
    /// The same `delta` for each of `classes` (the paper's one shared shift).
    pub fn shared(classes: &[u8], delta: f64) -> Self {
        BiasShift {
            shifts: classes.iter().map(|&c| (c, delta)).collect(),
        }
    }

    /// Checks every class is below [`CLASSES`] and listed once, and every δ is finite.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming `bias-shift`.
    pub fn validate(&self) -> Result<()> {
        for (i, &(class, delta)) in self.shifts.iter().enumerate() {
            let reason = if usize::from(class) >= CLASSES {
                format!("unknown class {class}: classes are 0..{}", CLASSES - 1)
            } else if self.shifts[..i].iter().any(|&(c, _)| c == class) {
                format!("class {class} is shifted twice")
            } else if !delta.is_finite() {
                format!("the shift of class {class} must be finite, got {delta}")
            } else {
                continue;
            };
            return Err(Error::InvalidConfig {
                field: "bias-shift",
                reason,
            });
        }
        Ok(())
    }

    /// Adds each δ to the output-layer bias of its class, in place.
    ///
    /// ```text
    /// b_L[c] ← b_L[c] + δ_c      (δ rounded once to f32)
    /// ```
    ///
    /// # Panics
    /// If a class is not below the model's number of outputs (validate first).
    #[track_caller]
    pub fn apply(&self, model: &mut Mlp<f32>) {
        let output = model
            .layers_mut()
            .last_mut()
            .expect("an MLP has an output layer");
        for &(class, delta) in &self.shifts {
            output.bias[usize::from(class)] += delta as f32; // b_L[c] += δ_c
        }
    }
}

impl FromStr for BiasShift {
    type Err = Error;

    /// Parses `CLASS=DELTA[,CLASS=DELTA]`, e.g. `3=3.5` or `7=-7.6,8=-7.6`, and validates it.
    fn from_str(text: &str) -> Result<Self> {
        let malformed = |part: &str| Error::InvalidConfig {
            field: "bias-shift",
            reason: format!("expected CLASS=DELTA[,CLASS=DELTA], e.g. 3=3.5; got {part:?}"),
        };
        let shifts = text
            .split(',')
            .map(|part| {
                let (class, delta) = part.split_once('=').ok_or_else(|| malformed(part))?;
                let class = class.trim().parse::<u8>().map_err(|_| malformed(part))?;
                let delta = delta.trim().parse::<f64>().map_err(|_| malformed(part))?;
                Ok((class, delta))
            })
            .collect::<Result<Vec<_>>>()?;
        let shift = BiasShift { shifts };
        shift.validate()?;
        Ok(shift)
    }
}

impl fmt::Display for BiasShift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .shifts
            .iter()
            .map(|(c, d)| format!("{c}={d}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn field(r: Result<BiasShift>) -> &'static str {
        match r {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn parses_one_or_several_shifts_and_prints_them_back() {
        let one: BiasShift = "3=3.5".parse().unwrap();
        assert_eq!(one.shifts, vec![(3, 3.5)]);
        let two: BiasShift = "7=-7.6, 8=-7.6".parse().unwrap();
        assert_eq!(two, BiasShift::shared(&[7, 8], -7.6));
        assert_eq!(two.to_string().parse::<BiasShift>().unwrap(), two);
    }

    #[test]
    fn malformed_text_names_the_flag() {
        for bad in ["", "3", "3:1", "x=1", "3=y", "3=1,", "=2", "3=1=2", "-1=2"] {
            assert_eq!(field(bad.parse()), "bias-shift", "{bad:?}");
        }
        assert_eq!(field("10=1".parse()), "bias-shift"); // unknown class
        assert_eq!(field("3=1,3=2".parse()), "bias-shift"); // twice
        assert_eq!(field("3=nan".parse()), "bias-shift");
        assert_eq!(field("3=inf".parse()), "bias-shift");
    }

    #[test]
    fn shifts_exactly_the_logits_of_the_named_classes() {
        let mut model = Mlp::<f32>::new(&[6, 5, 10], 0.0, 3);
        let x = Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f32 * 0.1);
        let before = model.predict(x.view());
        BiasShift::shared(&[7, 8], -2.5).apply(&mut model);
        let after = model.predict(x.view());
        for (row_b, row_a) in before.rows().into_iter().zip(after.rows()) {
            for c in 0..10 {
                // z' = z + δ: one f32 addition after the same sum, so equal to within an ulp
                let expected = if c == 7 || c == 8 {
                    row_b[c] - 2.5
                } else {
                    row_b[c]
                };
                assert!((row_a[c] - expected).abs() <= 1e-6, "class {c}");
                if c != 7 && c != 8 {
                    assert_eq!(row_a[c], row_b[c], "class {c} untouched");
                }
            }
        }
    }
}
