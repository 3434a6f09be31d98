//! Keras' `EarlyStopping(monitor="val_loss", patience, min_delta=0, restore_best_weights=True)`.
//!
//! ```text
//! improved  ⇔ val < best                       (strict; NaN never improves)
//! improved  → best = val, best_epoch = epoch, wait = 0
//! otherwise → wait += 1; stop when wait ≥ patience
//! ```
//! So training stops after `patience` epochs in a row without a new best, and the weights of
//! `best_epoch` are the ones to keep (the notebook's teacher: best 14, stopped after 24).

/// What one epoch's validation loss means for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new best: keep these weights.
    Improved,
    /// No improvement, keep going.
    Wait,
    /// No improvement for `patience` epochs: stop.
    Stop,
}

/// The state of early stopping across epochs (serialisable, for a training state).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EarlyStopping {
    patience: usize,
    /// `inf` before any finite loss (JSON `null` in a saved state).
    #[serde(with = "infinite_as_null")]
    best: f64,
    best_epoch: usize,
    wait: usize,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without a strictly lower loss.
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            best: f64::INFINITY,
            best_epoch: 0,
            wait: 0,
        }
    }

    /// Records epoch `epoch`'s (1-based) validation loss.
    pub fn update(&mut self, epoch: usize, loss: f64) -> Verdict {
        if loss < self.best {
            self.best = loss;
            self.best_epoch = epoch;
            self.wait = 0;
            return Verdict::Improved;
        }
        self.wait += 1;
        if self.wait >= self.patience {
            Verdict::Stop
        } else {
            Verdict::Wait
        }
    }

    /// The best loss so far (`inf` before any finite one).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// The 1-based epoch of the best loss (0 before any).
    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }
}

/// `best` in JSON: a number, or `null` for `inf` (JSON has no infinity; a NaN never becomes
/// the best, so no other non-finite value occurs).
mod infinite_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(best: &f64, s: S) -> Result<S::Ok, S::Error> {
        Some(*best).filter(|b| b.is_finite()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a loss sequence; returns (epochs run, best epoch).
    fn run(patience: usize, losses: &[f64]) -> (usize, usize) {
        let mut es = EarlyStopping::new(patience);
        for (i, &l) in losses.iter().enumerate() {
            if es.update(i + 1, l) == Verdict::Stop {
                return (i + 1, es.best_epoch());
            }
        }
        (losses.len(), es.best_epoch())
    }

    #[test]
    fn stops_patience_epochs_after_the_best() {
        // best at epoch 3, then 10 epochs without a strictly lower value: stop after epoch 13
        let mut losses = vec![0.5, 0.4, 0.3];
        losses.extend(std::iter::repeat_n(0.3, 10)); // equal is not an improvement (min_delta 0)
        losses.push(0.1);
        assert_eq!(run(10, &losses), (13, 3));
    }

    #[test]
    fn best_is_the_lowest_loss_so_far_and_infinite_before_any() {
        let mut es = EarlyStopping::new(5);
        assert_eq!((es.best(), es.best_epoch()), (f64::INFINITY, 0));
        for (epoch, loss) in [0.7, 0.25, 0.5, f64::NAN].into_iter().enumerate() {
            es.update(epoch + 1, loss);
        }
        assert_eq!((es.best(), es.best_epoch()), (0.25, 2));
    }

    #[test]
    fn an_improvement_resets_the_wait() {
        let losses = [1.0, 1.1, 1.2, 0.9, 1.0, 1.0, 1.0];
        assert_eq!(run(3, &losses), (7, 4));
        assert_eq!(run(4, &losses), (7, 4)); // never stops: runs all 7
    }

    #[test]
    fn a_serialised_state_round_trips_including_infinity() {
        let fresh = EarlyStopping::new(3);
        let mut used = EarlyStopping::new(3);
        used.update(1, 0.25);
        used.update(2, 0.5);
        for es in [fresh, used] {
            let json = serde_json::to_string(&es).unwrap();
            assert_eq!(
                serde_json::from_str::<EarlyStopping>(&json).unwrap(),
                es,
                "{json}"
            );
        }
    }

    #[test]
    fn nan_never_improves_and_patience_zero_stops_at_once() {
        assert_eq!(run(2, &[f64::NAN, f64::NAN, 0.5]), (2, 0));
        assert_eq!(run(0, &[0.5, 0.6, 0.4]), (2, 1));
    }
}
