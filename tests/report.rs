//! report.json round trip and key names, report.md content, the terminal summary table.

use std::collections::BTreeMap;
use std::fs;

use distill::report::{
    read_report_json, render_markdown, summary_table, write_report_json, write_report_md,
    ModelReport, Report,
};
use distill::Error;
use serde_json::json;

fn model(accuracy: f64, errors: usize, auc8: f64, parameters: usize) -> ModelReport {
    let mut auc: Vec<f64> = (0..10).map(|d| 0.99 + f64::from(d) * 1e-4).collect();
    auc[8] = auc8;
    ModelReport {
        test_accuracy: accuracy,
        test_errors: errors,
        per_class_errors: (0..10)
            .map(|d| errors / 10 + usize::from(d < errors % 10))
            .collect(),
        test_loss: 0.0625,
        auc,
        epochs_run: 12,
        best_epoch: 9,
        train_seconds: 41.25,
        parameters,
        history: BTreeMap::from([
            ("loss".to_string(), vec![0.5, 0.25]),
            ("val_loss".to_string(), vec![0.375, 0.3125]),
        ]),
        teacher_logits_seconds: None,
    }
}

fn report() -> Report {
    Report {
        config: json!({"seed": 42, "alpha": 0.1, "temperature": 10.0, "data": "data/mnist"}),
        data: json!({"train": 54000, "validation": 6000, "test": 10000, "folder": "data/mnist"}),
        models: BTreeMap::from([
            (
                "teacher".to_string(),
                model(0.9821, 179, 0.99953, 1_276_810),
            ),
            (
                "distilled".to_string(),
                ModelReport {
                    teacher_logits_seconds: Some(1.5),
                    ..model(0.9702, 298, 0.99871, 39_760)
                },
            ),
            ("scratch".to_string(), model(0.9655, 345, 0.99802, 39_760)),
        ]),
        versions: BTreeMap::from([("distill".to_string(), "0.1.0".to_string())]),
    }
}

#[test]
fn json_round_trip_keeps_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let original = report();
    write_report_json(&path, &original).unwrap();
    assert_eq!(read_report_json(&path).unwrap(), original);
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[test]
fn json_key_names_are_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    write_report_json(&path, &report()).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("\n  \"config\""), "pretty-printed:\n{text}");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();

    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&value), ["config", "data", "models", "versions"]);
    assert_eq!(keys(&value["models"]), ["distilled", "scratch", "teacher"]);
    let mut model_keys = keys(&value["models"]["teacher"]);
    model_keys.sort();
    assert_eq!(
        model_keys,
        [
            "auc",
            "best_epoch",
            "epochs_run",
            "history",
            "parameters",
            "per_class_errors",
            "test_accuracy",
            "test_errors",
            "test_loss",
            "train_seconds",
        ]
    );
    let mut distilled_keys = keys(&value["models"]["distilled"]);
    distilled_keys.retain(|k| !model_keys.contains(k));
    assert_eq!(distilled_keys, ["teacher_logits_seconds"]);
    let teacher = &value["models"]["teacher"];
    assert_eq!(teacher["auc"].as_array().unwrap().len(), 10);
    assert_eq!(teacher["auc"][8], 0.99953);
    assert_eq!(teacher["test_errors"], 179);
    assert_eq!(teacher["history"]["val_loss"], json!([0.375, 0.3125]));
    assert_eq!(value["config"]["seed"], 42);
}

#[test]
fn reading_a_bad_report_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    fs::write(&path, r#"{"config": {}, "data": {}}"#).unwrap();
    match read_report_json(&path) {
        Err(Error::Report { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("models"), "{reason}");
        }
        other => panic!("expected Error::Report, got {other:?}"),
    }
    assert!(matches!(
        read_report_json(&dir.path().join("missing.json")),
        Err(Error::Io { .. })
    ));
}

const PLOTS: [(&str, &str); 5] = [
    ("Sample test digits", "sample.png"),
    ("Distillation losses", "loss_curves.png"),
    ("ROC, digit 8", "roc_class8.png"),
    ("Teacher logits", "logits_teacher.png"),
    ("Distilled logits", "logits_distilled.png"),
];

#[test]
fn markdown_has_a_row_per_model_and_every_image() {
    let md = render_markdown(&report(), &PLOTS);
    let rows = [
        "| teacher | 1,276,810 | 98.21 % | 179 | 0.0625 | 0.99953 | 12 | 9 | 41.2 |",
        "| distilled | 39,760 | 97.02 % | 298 | 0.0625 | 0.99871 | 12 | 9 | 41.2 |",
        "| scratch | 39,760 | 96.55 % | 345 | 0.0625 | 0.99802 | 12 | 9 | 41.2 |",
    ];
    for row in rows {
        assert!(md.contains(row), "missing {row} in\n{md}");
    }
    let teacher = md.find(rows[0]).unwrap();
    assert!(teacher < md.find(rows[1]).unwrap() && md.find(rows[1]) < md.find(rows[2]));
    for (title, file) in PLOTS {
        assert!(
            md.contains(&format!("![{title}]({file})")),
            "missing {file}"
        );
    }
    // Per-digit AUC table: a header with the ten digits and a macro column.
    assert!(md.contains("| model | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | macro |"));
    assert!(md.contains("| 0.99070 | 0.99953 | 0.99090 |"), "{md}");
    assert!(md.contains("| test | 10000 |"));
    assert!(md.contains("\"temperature\": 10.0"));
    assert!(md.contains("| distill | 0.1.0 |"));
}

#[test]
fn markdown_is_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");
    write_report_md(&path, &report(), &PLOTS).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        render_markdown(&report(), &PLOTS)
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn summary_table_is_aligned() {
    let table = summary_table(&report());
    let expected = "\
model      parameters  test accuracy  errors  AUC digit 8  epochs  seconds
teacher     1,276,810        98.21 %     179       0.9995      12     41.2
distilled      39,760        97.02 %     298       0.9987      12     41.2
scratch        39,760        96.55 %     345       0.9980      12     41.2
";
    assert_eq!(table, expected);
}

#[test]
fn a_model_without_aucs_shows_a_dash() {
    let mut r = report();
    r.models.get_mut("scratch").unwrap().auc.clear();
    assert!(summary_table(&r).contains("345            -"));
    let md = render_markdown(&r, &[]);
    assert!(md.contains("| 345 | 0.0625 | - |"), "{md}");
    assert!(!md.contains("## Plots"));
}

proptest::proptest! {
    /// Every finite f64 survives the JSON round trip bit for bit (serde_json's
    /// `float_roundtrip`; its default parser can be off by one ulp, e.g. 0.9905).
    #[test]
    fn floats_round_trip_exactly(auc in proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO, 10)) {
        let mut r = report();
        r.models.get_mut("teacher").unwrap().auc = auc;
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        proptest::prop_assert_eq!(back, r);
    }
}
