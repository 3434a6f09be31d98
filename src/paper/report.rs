//! `paper.json` and `paper.md`: our numbers beside the paper's, row by row.
//!
//! ```text
//! { "config":     { the PaperConfig and the Recipe },
//!   "models":     { "teacher" | "scratch_800" | "distilled_800" | "omit3" | "omit3_shifted"
//!                   | "only78" | "only78_shifted": ModelReport },
//!   "bias_shift": { "omit3" | "only78": ShiftSearch },
//!   "paper":      { the paper's table },
//!   "versions":   { … } }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::paper::shift::ShiftSearch;
use crate::report::ModelReport;

/// The seven models, in the paper's order.
pub const MODELS: [&str; 7] = [
    "teacher",
    "scratch_800",
    "distilled_800",
    "omit3",
    "omit3_shifted",
    "only78",
    "only78_shifted",
];

/// Everything `paper.json` holds. The key names are part of the output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperReport {
    /// The run's settings and recipe.
    pub config: serde_json::Value,
    /// One entry per model of [`MODELS`].
    pub models: BTreeMap<String, ModelReport>,
    /// The shift searches, keyed `"omit3"` and `"only78"`.
    pub bias_shift: BTreeMap<String, ShiftSearch>,
    /// The paper's table (Hinton, Vinyals & Dean 2015, §3).
    pub paper: serde_json::Value,
    /// Versions of the program and what it ran on.
    pub versions: BTreeMap<String, String>,
}

/// Test examples of digit 3 in MNIST's test set, for the paper's "errors on the 3s".
pub const TEST_THREES: usize = 1010;

/// The paper's §3 numbers on MNIST.
pub fn paper_table() -> serde_json::Value {
    serde_json::json!({
        "teacher": {"test_errors": 67},
        "scratch_800": {"test_errors": 146},
        "distilled_800": {"test_errors": 74},
        "omit3": {"test_errors": 206, "errors_on_3s": 133},
        "omit3_shifted": {"test_errors": 109, "errors_on_3s": 14, "shift": 3.5},
        "only78": {"test_error_percent": 47.3},
        "only78_shifted": {"test_error_percent": 13.2, "shift": -7.6},
    })
}

/// `paper.md`: the paper's table with our numbers beside it, the shift searches, the plots.
pub fn render_markdown(report: &PaperReport) -> String {
    let mut md =
        String::from("# The paper's MNIST experiments (Hinton, Vinyals & Dean 2015, §3)\n\n");
    let m = |name: &str| report.models.get(name);
    let errors = |name: &str| m(name).map_or("–".to_string(), |r| r.test_errors.to_string());
    let on_threes = |name: &str| {
        m(name).map_or("–".to_string(), |r| {
            let e = r.per_class_errors.get(3).copied().unwrap_or(0);
            format!("{} ({e} on 3s)", r.test_errors)
        })
    };
    let percent = |name: &str| {
        m(name).map_or("–".to_string(), |r| {
            format!("{:.1} %", 100.0 * (1.0 - r.test_accuracy))
        })
    };
    let shift = |key: &str| report.bias_shift.get(key);
    let chosen = |key: &str| shift(key).map_or("–".to_string(), |s| format!("{:+.1}", s.chosen));
    let at_paper = |key: &str, total: usize| {
        shift(key).map_or("–".to_string(), |s| {
            let e = s.test_errors_at_paper_shift;
            match key {
                "only78" => format!("{:.1} %", 100.0 * e as f64 / total as f64),
                _ => e.to_string(),
            }
        })
    };
    let test_total = m("teacher").map_or(10_000, |r| {
        (r.test_errors as f64 / (1.0 - r.test_accuracy).max(1e-12)).round() as usize
    });
    md.push_str("| model | paper | ours |\n|---|---:|---:|\n");
    let rows = [
        (
            "teacher 784-1200-1200-10, regularised, jitter 2 (`teacher`)",
            "67".to_string(),
            errors("teacher"),
        ),
        (
            "student 784-800-800-10, labels only (`scratch_800`)",
            "146".into(),
            errors("scratch_800"),
        ),
        (
            "the same student distilled at T = 20 (`distilled_800`)",
            "74".into(),
            errors("distilled_800"),
        ),
        (
            "distilled, transfer set without 3s (`omit3`)",
            "206 (133 on 3s)".into(),
            on_threes("omit3"),
        ),
        (
            "the same, bias of 3 shifted (`omit3_shifted`)",
            "109 (14 on 3s), +3.5".into(),
            format!(
                "{}, {} (chosen on validation)",
                on_threes("omit3_shifted"),
                chosen("omit3")
            ),
        ),
        (
            "distilled, transfer set of 7s and 8s only (`only78`)",
            "47.3 %".into(),
            percent("only78"),
        ),
        (
            "the same, biases of 7 and 8 shifted (`only78_shifted`)",
            "13.2 %, −7.6".into(),
            format!(
                "{}, {} (chosen on validation)",
                percent("only78_shifted"),
                chosen("only78")
            ),
        ),
    ];
    for (what, paper, ours) in rows {
        let _ = writeln!(md, "| {what} | {paper} | {ours} |");
    }
    md.push_str("\nTest errors (of 10,000 test images; 1,010 of them are 3s) unless a percentage is given.\n");
    md.push_str("\n## Bias shifts\n\nThe paper chose its shifts on the test set; ours are chosen on the validation split \
(the last 10 % of the training images, which holds every class). For comparison only, the test errors at \
the paper's own shifts:\n\n");
    md.push_str("| transfer set | classes | chosen on validation | validation errors | test errors | paper's shift | test errors at the paper's shift |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for key in ["omit3", "only78"] {
        if let Some(s) = shift(key) {
            let _ = writeln!(
                md,
                "| {key} | {:?} | {:+.1} | {} | {} | {:+.1} | {} |",
                s.classes,
                s.chosen,
                s.validation_errors_at_chosen,
                s.test_errors_at_chosen,
                s.paper_shift,
                at_paper(key, test_total)
            );
        }
    }
    md.push_str("\n## Every model\n\n| model | test errors | test accuracy | errors per digit 0–9 | epochs run | seconds |\n|---|---:|---:|---|---:|---:|\n");
    for name in MODELS {
        if let Some(r) = m(name) {
            let per: Vec<String> = r.per_class_errors.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                md,
                "| {name} | {} | {:.2} % | {} | {} | {:.1} |",
                r.test_errors,
                100.0 * r.test_accuracy,
                per.join(" "),
                r.epochs_run,
                r.train_seconds
            );
        }
    }
    md.push_str("\n![Test errors per digit](per_class_errors.png)\n\n![Errors against the bias shift](transfer_bias.png)\n");
    md
}
