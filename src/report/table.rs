//! The summary table printed at the end of a run, and the number formats the tables share.

use super::summary::Report;

/// A plain-text table of the models, one row each, columns aligned:
/// model, parameters, test accuracy, errors, AUC digit 8, epochs, seconds.
///
/// ```text
/// model      parameters  test accuracy  errors  AUC digit 8  epochs  seconds
/// teacher     1,276,810        98.21 %     179       0.9995      10     41.2
/// ```
pub fn summary_table(report: &Report) -> String {
    let header = [
        "model",
        "parameters",
        "test accuracy",
        "errors",
        "AUC digit 8",
        "epochs",
        "seconds",
    ];
    let rows: Vec<[String; 7]> = report
        .models_in_order()
        .into_iter()
        .map(|(name, m)| {
            [
                name.to_string(),
                thousands(m.parameters),
                percent(m.test_accuracy),
                m.test_errors.to_string(),
                auc_cell(m.auc_digit8(), 4),
                m.epochs_run.to_string(),
                format!("{:.1}", m.train_seconds),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();

    let line = |cells: &[&str]| {
        let mut out = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            match c {
                0 => out.push_str(&format!("{cell}{pad}")), // names left-aligned
                _ => out.push_str(&format!("  {pad}{cell}")), // numbers right-aligned
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut table = line(&header);
    for row in &rows {
        table.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    table
}

/// `1276810` → `"1,276,810"`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `0.98213` → `"98.21 %"`.
pub(crate) fn percent(fraction: f64) -> String {
    format!("{:.2} %", 100.0 * fraction)
}

/// An AUC with `decimals` digits, or `"-"` when the report has none.
pub(crate) fn auc_cell(auc: Option<f64>, decimals: usize) -> String {
    auc.map_or_else(|| "-".to_string(), |a| format!("{a:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_276_810), "1,276,810");
    }

    #[test]
    fn percent_and_auc_cells() {
        assert_eq!(percent(0.98213), "98.21 %");
        assert_eq!(auc_cell(Some(0.999_512), 4), "0.9995");
        assert_eq!(auc_cell(None, 4), "-");
    }
}
