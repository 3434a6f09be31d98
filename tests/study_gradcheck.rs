//! `distill gradcheck`'s table, the crate's gradient checks: every case is there by name, passes
//! in f64 and is sharp enough to reject a 1% error on most elements; a deliberately wrong
//! gradient swapped into the list fails the table (and its verdict, which the CLI turns into
//! exit 1); f32 fails, which is why the checks run in f64.

use distill::gradcheck::{check_gradient, Tolerance};
use distill::study::gradcheck::WHY_F64;
use distill::study::{cases, run_checks, Case, Dtype};
use distill::Error;

#[test]
fn every_case_passes_in_f64_for_several_seeds() {
    for seed in [42, 7, 2024] {
        let table = run_checks(&cases(), Dtype::F64, seed);
        assert_eq!(table.failures(), 0, "seed {seed}:\n{table}");
        assert!(table.verdict().is_ok());
        for c in &table.checks {
            assert!(
                c.max_abs_error < 1e-7,
                "{} {}: {}",
                c.op,
                c.parameter,
                c.max_abs_error
            );
        }
    }
}

#[test]
fn the_table_has_every_case_by_name() {
    // The only gradient checks of these layers, losses and MLPs: a case dropped from the list
    // must fail here, not silently leave its backward pass unchecked.
    let mut expected: Vec<String> = ["Dense x", "Dense W", "Dense b", "ReLU x"]
        .map(String::from)
        .to_vec();
    expected.push("Dropout p=0.5 (fixed mask) x".into());
    expected.push("Dropout p=0.5 (eval) x".into());
    let temperatures = ["0.5", "1", "2", "10", "20"];
    for op in ["softmax", "log_softmax"] {
        expected.extend(temperatures.map(|t| format!("{op} T={t} z")));
    }
    expected.push("cross_entropy z".into());
    expected.extend(temperatures.map(|t| format!("KL(p_t ‖ p_s) T={t} z_s")));
    for s in ["one", "t-squared"] {
        for t in ["2", "10"] {
            for alpha in ["0", "0.1", "0.5", "1"] {
                expected.push(format!("distill α={alpha} T={t} s={s} z_s"));
            }
        }
    }
    for mlp in [
        "MLP 12-9-9-4 p=0.5 (train, fixed masks)",
        "MLP 12-9-9-4 p_in=0.2 p=0.5 (train)",
        "MLP 12-9-9-4 p=0.5 (eval)",
        "MLP 12-7-4",
        "MLP 6-3",
    ] {
        expected.push(format!("{mlp} all W, b"));
    }
    let names: Vec<String> = cases()
        .iter()
        .map(|c| format!("{} {}", c.op, c.parameter))
        .collect();
    assert_eq!(names, expected);
}

#[test]
fn every_case_rejects_a_one_percent_error_on_most_elements() {
    // No case passes merely because its gradient is below atol: a 1% error is visible where
    // 0.01·|g| > atol + rtol·|g|, i.e. |g| > 1.1e-3, which must hold for most of the gradient
    // (of the elements it does not set to 0: ReLU and dropout masks, dropped units).
    let mut blunt = Vec::new();
    for (seed, case) in [42, 7, 2024]
        .into_iter()
        .flat_map(|seed| cases().into_iter().map(move |case| (seed, case)))
    {
        let mut p = (case.problem)(Dtype::F64, seed);
        let off: Vec<f64> = p.analytic.iter().map(|a| a * 1.01).collect();
        let nonzero = p.analytic.iter().filter(|&&a| a != 0.0).count();
        let report = check_gradient(&mut p.x, &off, &mut p.loss, Tolerance::default());
        if report.failures <= nonzero / 2 {
            blunt.push(format!(
                "seed {seed}, {} {}: 1% off fails on {} of {nonzero} nonzero elements",
                case.op, case.parameter, report.failures
            ));
        }
    }
    assert!(blunt.is_empty(), "{blunt:#?}");
}

#[test]
fn a_wrong_gradient_fails_the_table_and_its_verdict() {
    let mut list = cases();
    let k = list.iter().position(|c| c.op.starts_with("KL")).unwrap();
    let good = list.remove(k);
    // The plausible bug of a KL gradient missing its 1/T: (p_s − p_t)/B at T = 0.5.
    list.insert(
        k,
        Case::new(
            "KL without 1/T",
            good.parameter.clone(),
            move |dtype, seed| {
                let mut p = (good.problem)(dtype, seed);
                p.analytic.iter_mut().for_each(|a| *a *= 0.5);
                p
            },
        ),
    );
    let table = run_checks(&list, Dtype::F64, 42);
    assert_eq!(table.failures(), 1, "{table}");
    assert!(!table.checks[k].passed);
    assert!(table
        .checks
        .iter()
        .enumerate()
        .all(|(i, c)| c.passed == (i != k)));
    match table.verdict() {
        Err(Error::GradcheckFailed {
            failed,
            total,
            dtype,
        }) => {
            assert_eq!((failed, total, dtype.as_str()), (1, list.len(), "f64"));
        }
        other => panic!("expected GradcheckFailed, got {other:?}"),
    }
    assert!(table.to_string().contains("FAIL"));
}

#[test]
fn f32_fails_and_says_why() {
    let table = run_checks(&cases(), Dtype::F32, 42);
    assert!(table.failures() > table.checks.len() / 2, "{table}");
    assert!(table.verdict().is_err());
    // The f64 errors are orders of magnitude below the f32 ones, case by case.
    let f64_table = run_checks(&cases(), Dtype::F64, 42);
    for (a, b) in table.checks.iter().zip(&f64_table.checks) {
        assert!(
            a.max_abs_error > 1e3 * b.max_abs_error,
            "{}: {} vs {}",
            a.op,
            a.max_abs_error,
            b.max_abs_error
        );
    }
    assert!(table.to_string().contains(WHY_F64));
    assert!(!f64_table.to_string().contains(WHY_F64));
}

#[test]
fn json_shape() {
    let table = run_checks(&cases()[..2], Dtype::F64, 1);
    let v: serde_json::Value = serde_json::to_value(&table).unwrap();
    assert_eq!(v["dtype"], "f64");
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    for c in checks {
        for key in [
            "op",
            "parameter",
            "max_abs_error",
            "max_rel_error",
            "tolerance",
            "passed",
        ] {
            assert!(!c[key].is_null(), "{key} missing in {c}");
        }
        assert_eq!(c["passed"], true);
        assert_eq!(c["tolerance"]["atol"], 1e-5);
    }
    assert_eq!(checks[0]["op"], "Dense");
    assert_eq!(checks[0]["parameter"], "x");
}
