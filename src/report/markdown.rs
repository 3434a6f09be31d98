//! `report.md`: the results of a run as Markdown tables, with the plots embedded.

use std::fmt::Write as _;
use std::path::Path;

use super::summary::{Report, ROC_DIGIT};
use super::table::{auc_cell, percent, thousands};
use crate::atomic::write_atomic;
use crate::error::Result;
use crate::metrics::macro_average;

/// Renders `report` as Markdown: a results table (model, parameters, test accuracy, errors,
/// test loss, AUC digit 8, epochs run, best epoch, seconds), the one-vs-rest AUC of every digit
/// with their macro mean, the plots (`(title, file name)` pairs, file names relative to the
/// report), the data, the configuration and the versions.
pub fn render_markdown(report: &Report, plots: &[(&str, &str)]) -> String {
    let mut md = String::from("# Knowledge distillation on MNIST: report\n\n");
    results_table(&mut md, report);
    auc_table(&mut md, report);
    if !plots.is_empty() {
        md.push_str("## Plots\n\n");
        for (title, file) in plots {
            let _ = writeln!(
                md,
                "### {title}\n\n![{title}]({})\n",
                file.replace(' ', "%20")
            );
        }
    }
    data_section(&mut md, &report.data);
    let config = serde_json::to_string_pretty(&report.config).unwrap_or_default();
    let _ = writeln!(md, "## Configuration\n\n```json\n{config}\n```\n");
    md.push_str("## Versions\n\n| component | version |\n|---|---|\n");
    for (name, version) in &report.versions {
        let _ = writeln!(md, "| {} | {} |", cell(name), cell(version));
    }
    md
}

/// Writes [`render_markdown`] to `path`, atomically.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) if the file cannot be written.
pub fn write_report_md(path: &Path, report: &Report, plots: &[(&str, &str)]) -> Result<()> {
    write_atomic(path, render_markdown(report, plots).as_bytes())
}

fn results_table(md: &mut String, report: &Report) {
    md.push_str("## Results on the test set\n\n");
    md.push_str(&format!(
        "| model | parameters | test accuracy | errors | test loss | AUC digit {ROC_DIGIT} \
         | epochs run | best epoch | seconds |\n"
    ));
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (name, m) in report.models_in_order() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.4} | {} | {} | {} | {:.1} |",
            cell(name),
            thousands(m.parameters),
            percent(m.test_accuracy),
            m.test_errors,
            m.test_loss,
            auc_cell(m.auc_digit8(), 5),
            m.epochs_run,
            m.best_epoch,
            m.train_seconds,
        );
    }
    md.push('\n');
}

fn auc_table(md: &mut String, report: &Report) {
    let digits = report
        .models
        .values()
        .map(|m| m.auc.len())
        .max()
        .unwrap_or(0);
    if digits == 0 {
        return;
    }
    md.push_str("## One-vs-rest AUC per digit (softmax at T = 1)\n\n| model |");
    for d in 0..digits {
        let _ = write!(md, " {d} |");
    }
    md.push_str(" macro |\n|---|");
    md.push_str(&"---:|".repeat(digits + 1));
    md.push('\n');
    for (name, m) in report.models_in_order() {
        let _ = write!(md, "| {} |", cell(name));
        for d in 0..digits {
            let _ = write!(md, " {} |", auc_cell(m.auc.get(d).copied(), 5));
        }
        let mean = (!m.auc.is_empty()).then(|| macro_average(&m.auc));
        let _ = writeln!(md, " {} |", auc_cell(mean, 5));
    }
    md.push('\n');
}

/// The data facts: a two-column table for a JSON object, a code block otherwise.
fn data_section(md: &mut String, data: &serde_json::Value) {
    md.push_str("## Data\n\n");
    match data {
        serde_json::Value::Object(fields) => {
            md.push_str("| item | value |\n|---|---|\n");
            for (key, value) in fields {
                let value = match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(md, "| {} | {} |", cell(key), cell(&value));
            }
            md.push('\n');
        }
        other => {
            let _ = writeln!(md, "```json\n{other}\n```\n");
        }
    }
}

/// A table cell: `|` escaped, line breaks folded.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
