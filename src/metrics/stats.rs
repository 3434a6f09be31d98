//! Statistics over seeds: mean, sample standard deviation, and the 95 % t-interval of a mean.
//!
//! ```text
//! mean  x̄ = (1/n) Σ_i x_i
//! sd    s = √( Σ_i (x_i − x̄)² / (n − 1) )            sample sd, undefined for n < 2
//! 95 %  x̄ ± t_{0.975, n−1} · s/√n                     Student's t with n − 1 degrees of freedom
//! ```
//! The t quantile comes from `statrs` (the regularised incomplete beta function), not from a
//! table or an approximation written here.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Summary of a handful of values (test errors over seeds). The key names are part of
/// `summary.json`: `{"n", "mean", "sd", "min", "max", "values"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of values.
    pub n: usize,
    /// Their mean x̄.
    pub mean: f64,
    /// Sample standard deviation (divisor n − 1); `None` (JSON `null`) for fewer than 2 values.
    pub sd: Option<f64>,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The values, in the order given (seed order in a sweep).
    pub values: Vec<f64>,
}

impl Stats {
    /// Mean, sample sd, min and max of `values`; `None` when there are none.
    ///
    /// ```text
    /// x̄ = (1/n) Σ x_i     s = √(Σ (x_i − x̄)² / (n − 1))
    /// ```
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64; // x̄ = Σ x_i / n
        let sd = (n >= 2).then(|| {
            let squares: f64 = values.iter().map(|x| (x - mean) * (x - mean)).sum();
            (squares / (n - 1) as f64).sqrt() // s = √(Σ (x_i − x̄)² / (n − 1))
        });
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Stats {
            n,
            mean,
            sd,
            min,
            max,
            values: values.to_vec(),
        })
    }

    /// The two-sided `level` (e.g. 0.95) t-interval of the mean; `None` for fewer than 2 values.
    ///
    /// ```text
    /// x̄ ± t_{(1+level)/2, n−1} · s/√n
    /// ```
    ///
    /// # Panics
    /// If `level` is not in (0, 1).
    pub fn t_interval(&self, level: f64) -> Option<[f64; 2]> {
        assert!(0.0 < level && level < 1.0, "level {level} not in (0, 1)");
        let sd = self.sd?;
        let t = t_quantile((1.0 + level) / 2.0, (self.n - 1) as f64);
        let half = t * sd / (self.n as f64).sqrt(); // t · s/√n
        Some([self.mean - half, self.mean + half])
    }
}

/// The `p` quantile of Student's t distribution with `df` degrees of freedom (statrs).
///
/// # Panics
/// If `df` is not positive or `p` is outside [0, 1].
pub fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).expect("df > 0").inverse_cdf(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn mean_sd_min_max_by_hand() {
        // x = 10, 12, 14, 20: x̄ = 56/4 = 14; deviations −4, −2, 0, 6; Σ d² = 16+4+0+36 = 56;
        // s = √(56/3) = √18.6667 = 4.320494; min 10, max 20.
        let s = Stats::of(&[10.0, 12.0, 14.0, 20.0]).unwrap();
        assert_eq!((s.n, s.mean, s.min, s.max), (4, 14.0, 10.0, 20.0));
        close(s.sd.unwrap(), 4.320_493_799, 1e-9);
        assert_eq!(s.values, vec![10.0, 12.0, 14.0, 20.0]);
    }

    /// The sd is a sum of squared deviations, not `Σ x² − n·x̄²`: values sharing a large offset
    /// (here 10⁸, where the mean's rounding times 2·x̄·n swamps the spread) keep their sd.
    #[test]
    fn the_sd_survives_a_large_common_offset() {
        let s = Stats::of(&[1e8, 1e8 + 1.0, 1e8 + 1.0]).unwrap();
        close(s.sd.unwrap(), (1.0f64 / 3.0).sqrt(), 1e-9); // deviations −2/3, 1/3, 1/3
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Two-sided 95 % critical values of Student's t (any statistics table):
        // df 1: 12.706, df 2: 4.303, df 3: 3.182, df 4: 2.776, df 9: 2.262, df 29: 2.045.
        for (df, t) in [
            (1.0, 12.706_204_736),
            (2.0, 4.302_652_730),
            (3.0, 3.182_446_305),
            (4.0, 2.776_445_105),
            (9.0, 2.262_157_163),
            (29.0, 2.045_229_642),
        ] {
            close(t_quantile(0.975, df), t, 1e-6);
        }
    }

    #[test]
    fn t_interval_by_hand() {
        // x̄ = 14, s = 4.320494, n = 4: half = 3.182446 · 4.320494 / 2 = 6.874870.
        let s = Stats::of(&[10.0, 12.0, 14.0, 20.0]).unwrap();
        let [lo, hi] = s.t_interval(0.95).unwrap();
        close(lo, 14.0 - 6.874_870, 1e-5);
        close(hi, 14.0 + 6.874_870, 1e-5);
        // Paired differences −3, 5 (n = 2): x̄ = 1, s = √((16+16)/1) = 5.656854,
        // half = 12.706205 · 5.656854 / √2 = 50.824819.
        let d = Stats::of(&[-3.0, 5.0]).unwrap();
        let [lo, hi] = d.t_interval(0.95).unwrap();
        close(lo, 1.0 - 50.824_819, 1e-5);
        close(hi, 1.0 + 50.824_819, 1e-5);
    }

    #[test]
    fn one_value_has_no_sd_and_no_interval_and_none_has_no_stats() {
        let s = Stats::of(&[7.0]).unwrap();
        assert_eq!((s.n, s.mean, s.sd, s.min, s.max), (1, 7.0, None, 7.0, 7.0));
        assert_eq!(s.t_interval(0.95), None);
        assert_eq!(Stats::of(&[]), None);
        let json = serde_json::to_value(&s).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["max", "mean", "min", "n", "sd", "values"]);
    }
}
