//! Transfer sets: the training examples a student is distilled on, without some classes
//! (`--transfer-omit 3`) or with only some (`--transfer-only 7,8`), as in the paper's §3.
//!
//! ```text
//! transfer = { (x_i, y_i) ∈ train : y_i ∉ omit  and  (only = ∅ or y_i ∈ only) }
//! ```
//! Only the training part is filtered; the validation and test parts keep every class.

use serde::{Deserialize, Serialize};

use crate::data::{Split, CLASSES};
use crate::error::{Error, Result};

/// Which classes a transfer set keeps. `Default` keeps them all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransferSet {
    /// Classes dropped from the transfer set (`--transfer-omit`). Default: none.
    pub omit: Vec<u8>,
    /// If not empty, the only classes kept (`--transfer-only`). Default: empty (all).
    pub only: Vec<u8>,
}

impl TransferSet {
    /// Whether the set keeps every class (no filter).
    pub fn is_all(&self) -> bool {
        self.omit.is_empty() && self.only.is_empty()
    }

    /// Whether class `y` is in the transfer set.
    ///
    /// ```text
    /// keeps(y) = y ∉ omit and (only = ∅ or y ∈ only)
    /// ```
    pub fn keeps(&self, y: u8) -> bool {
        !self.omit.contains(&y) && (self.only.is_empty() || self.only.contains(&y))
    }

    /// Checks the two lists: classes below [`CLASSES`], no class twice in a list, none in both,
    /// and at least one class kept.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming `transfer-omit` or `transfer-only`.
    pub fn validate(&self) -> Result<()> {
        for (field, list) in [("transfer-omit", &self.omit), ("transfer-only", &self.only)] {
            if let Some(&y) = list.iter().find(|&&y| usize::from(y) >= CLASSES) {
                return invalid(
                    field,
                    format!("unknown class {y}: classes are 0..{}", CLASSES - 1),
                );
            }
            let repeated = (1..list.len()).find(|&i| list[..i].contains(&list[i]));
            if let Some(y) = repeated.map(|i| list[i]) {
                return invalid(field, format!("class {y} is listed twice"));
            }
        }
        if let Some(&y) = self.omit.iter().find(|y| self.only.contains(y)) {
            return invalid(
                "transfer-omit",
                format!("class {y} is both omitted and kept (--transfer-only)"),
            );
        }
        if !(0..CLASSES as u8).any(|y| self.keeps(y)) {
            return invalid(
                "transfer-omit",
                "every class is omitted: the transfer set is empty",
            );
        }
        Ok(())
    }

    /// The transfer set of `train`: its examples of the kept classes, in order.
    ///
    /// # Errors
    /// As [`validate`](Self::validate), or [`Error::InvalidConfig`] when no example of `train`
    /// is kept (e.g. a `--train-limit` too small to hold the kept classes).
    pub fn apply(&self, train: &Split) -> Result<Split> {
        self.validate()?;
        let kept = train.filter_labels(|y| self.keeps(y));
        if kept.is_empty() {
            let field = if self.only.is_empty() {
                "transfer-omit"
            } else {
                "transfer-only"
            };
            return Err(Error::InvalidConfig {
                field,
                reason: format!(
                    "none of the {} training examples is kept: the transfer set is empty",
                    train.len()
                ),
            });
        }
        Ok(kept)
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Result<()> {
    Err(Error::InvalidConfig {
        field,
        reason: reason.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// 20 one-pixel images, labels 0..9 twice, pixel = index.
    fn split() -> Split {
        let pixels = Array2::from_shape_fn((20, 1), |(i, _)| i as u8);
        Split::new(pixels, (0..20).map(|i| (i % 10) as u8).collect(), (1, 1))
    }

    fn field(r: Result<impl std::fmt::Debug>) -> &'static str {
        match r {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    fn set(omit: &[u8], only: &[u8]) -> TransferSet {
        TransferSet {
            omit: omit.to_vec(),
            only: only.to_vec(),
        }
    }

    #[test]
    fn omit_drops_exactly_those_classes_in_order() {
        let kept = set(&[3], &[]).apply(&split()).unwrap();
        assert_eq!(kept.len(), 18);
        assert!(!kept.labels().contains(&3));
        let pixels: Vec<u8> = kept.pixels().iter().copied().collect();
        let expected: Vec<u8> = (0..20).filter(|i| i % 10 != 3).collect();
        assert_eq!(pixels, expected, "each image keeps its label, order kept");
    }

    #[test]
    fn only_keeps_exactly_those_classes() {
        let kept = set(&[], &[7, 8]).apply(&split()).unwrap();
        assert_eq!(kept.labels(), &[7, 8, 7, 8]);
        assert_eq!(
            kept.pixels().iter().copied().collect::<Vec<_>>(),
            vec![7, 8, 17, 18]
        );
        assert_eq!(
            set(&[], &[]).apply(&split()).unwrap(),
            split(),
            "default: everything"
        );
    }

    #[test]
    fn bad_lists_name_their_flag() {
        assert_eq!(field(set(&[10], &[]).validate()), "transfer-omit");
        assert_eq!(field(set(&[], &[7, 12]).validate()), "transfer-only");
        assert_eq!(field(set(&[3, 3], &[]).validate()), "transfer-omit");
        assert_eq!(field(set(&[], &[8, 7, 8]).validate()), "transfer-only");
        assert_eq!(field(set(&[7], &[7, 8]).validate()), "transfer-omit");
        let all: Vec<u8> = (0..10).collect();
        assert_eq!(field(set(&all, &[]).validate()), "transfer-omit");
        set(&[3], &[7, 8]).validate().unwrap(); // disjoint: 3 is not kept anyway
    }

    #[test]
    fn a_transfer_set_left_empty_is_refused() {
        let few = split().take_first(5); // labels 0..4
        assert_eq!(field(set(&[], &[7, 8]).apply(&few)), "transfer-only");
        assert_eq!(
            field(set(&[0, 1, 2, 3, 4], &[]).apply(&few)),
            "transfer-omit"
        );
    }
}
