//! Negative controls of the loss gradient checks: on the library's own problems
//! (`distill::study::gradcheck::cases()`, whose checks `tests/study_gradcheck.rs` runs in f64),
//! a plausible wrong formula fails the checker on most elements, not on one of fifteen.

use distill::gradcheck::{check_gradient, Tolerance};
use distill::study::{cases, Dtype, Problem};

/// The f64 problem of the case named `op`, at seed 42.
fn problem(op: &str) -> Problem {
    let case = cases()
        .into_iter()
        .find(|c| c.op == op)
        .unwrap_or_else(|| panic!("no gradient-check case {op:?}"));
    (case.problem)(Dtype::F64, 42)
}

/// Checks the problem's point against `wrong` and asserts that most elements fail.
#[track_caller]
fn assert_rejected_on_most_elements(mut p: Problem, wrong: &[f64]) {
    let report = check_gradient(&mut p.x, wrong, &mut p.loss, Tolerance::default());
    assert!(report.failures > p.x.len() / 2, "{report}");
}

#[test]
fn the_checker_rejects_a_kl_gradient_missing_its_one_over_t() {
    let t = 2.0;
    let p = problem("KL(p_t ‖ p_s) T=2");
    let wrong: Vec<f64> = p.analytic.iter().map(|g| g * t).collect(); // (p_s − p_t)/B, no 1/T
    assert_rejected_on_most_elements(p, &wrong);
}

#[test]
fn the_checker_rejects_a_cross_entropy_gradient_missing_its_one_over_b() {
    let batch = 3.0; // the rows of the library's (3, 5) loss problems
    let p = problem("cross_entropy");
    let wrong: Vec<f64> = p.analytic.iter().map(|g| g * batch).collect(); // summed, not averaged
    assert_rejected_on_most_elements(p, &wrong);
}
