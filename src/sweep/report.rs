//! `distill sweep report`: statistics over seeds of whatever jobs are complete.
//!
//! ```text
//! per cell (shape, T, α, scale)   test errors over seeds: Stats {n, mean, sd, min, max, values}
//! per shape                       the scratch student likewise
//! paired difference               d_s = errors(distilled, seed s) − errors(scratch, same shape, seed s)
//!                                 mean d̄ and 95 % t-interval d̄ ± t_{0.975, n−1}·sd(d)/√n
//! teachers                        errors per seed
//! ```
//! Writes `summary.json`, `summary.md`, `errors_vs_temperature.png` and `heatmap.png`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::Result;
use crate::loss::SoftScale;
use crate::metrics::Stats;
use crate::report::{
    plot_errors_vs_temperature, plot_heatmap, write_json, Heatmap, TemperatureSeries,
};
use crate::sweep::job::{is_complete, read_result};
use crate::sweep::plan::{shape_label, Job, JobKind, Plan};

/// The confidence level of the paired differences' intervals.
pub const LEVEL: f64 = 0.95;

/// Everything `summary.json` holds. The key names are part of the output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Jobs in the plan.
    pub jobs: usize,
    /// Jobs with a complete result.
    pub complete: usize,
    /// Ids of the jobs without one (the summary covers the others).
    pub missing: Vec<String>,
    /// The teachers' test errors per seed (none for a reused `--teacher`).
    pub teachers: Vec<SeedErrors>,
    /// The scratch baseline per shape.
    pub scratch: Vec<ScratchCell>,
    /// The distilled students per cell (shape, T, α, scale).
    pub distilled: Vec<DistilledCell>,
}

/// One seed's test errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedErrors {
    /// The seed.
    pub seed: u64,
    /// Its test errors.
    pub test_errors: usize,
}

/// The scratch students of one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScratchCell {
    /// Hidden widths.
    pub student_hidden: Vec<usize>,
    /// The seeds with a result, in the order of `test_errors.values`.
    pub seeds: Vec<u64>,
    /// Test errors over those seeds.
    pub test_errors: Stats,
}

/// The distilled students of one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistilledCell {
    /// Hidden widths.
    pub student_hidden: Vec<usize>,
    /// Temperature T.
    pub temperature: f64,
    /// Weight α of the hard loss.
    pub alpha: f64,
    /// Scale of the soft term.
    pub soft_scale: SoftScale,
    /// The seeds with a result, in the order of `test_errors.values`.
    pub seeds: Vec<u64>,
    /// Test errors over those seeds.
    pub test_errors: Stats,
    /// Distilled − scratch over the seeds where both are complete (`None`: no such seed).
    pub minus_scratch: Option<Difference>,
}

/// A paired difference: its statistics and the 95 % t-interval of its mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// The seeds paired, in the order of `values`.
    pub seeds: Vec<u64>,
    /// `{"n", "mean", "sd", "min", "max", "values"}` of the differences.
    #[serde(flatten)]
    pub stats: Stats,
    /// `[lo, hi]`: d̄ ± t_{0.975, n−1}·sd/√n (`None` for fewer than 2 pairs).
    pub ci95: Option<[f64; 2]>,
}

/// A complete job's test errors.
struct Finished<'a> {
    job: &'a Job,
    test_errors: usize,
}

/// Summarises the complete jobs of `plan` in `dir`.
///
/// # Errors
/// A `result.json` that cannot be read.
pub fn summarise(dir: &Path, plan: &Plan) -> Result<Summary> {
    let mut finished = Vec::new();
    let mut missing = Vec::new();
    for job in &plan.jobs {
        if is_complete(dir, job) {
            let test_errors = read_result(dir, job)?.test_errors;
            finished.push(Finished { job, test_errors });
        } else {
            missing.push(job.id.clone());
        }
    }
    let grid = &plan.grid;
    let of = |kind: JobKind, hidden: Option<&[usize]>| -> Vec<(u64, usize)> {
        let cell: Vec<_> = finished
            .iter()
            .filter(|f| f.job.kind == kind)
            .filter(|f| hidden.is_none_or(|h| f.job.config.model.hidden == h))
            .collect();
        cell.iter()
            .map(|f| (f.job.config.train.seed, f.test_errors))
            .collect()
    };
    let teachers = of(JobKind::Teacher, None)
        .into_iter()
        .map(|(seed, test_errors)| SeedErrors { seed, test_errors })
        .collect();
    let mut scratch = Vec::new();
    let mut distilled = Vec::new();
    for hidden in &grid.student_hidden {
        let baseline = of(JobKind::Scratch, Some(hidden));
        if let Some(cell) = stats_of(&baseline) {
            scratch.push(ScratchCell {
                student_hidden: hidden.clone(),
                seeds: cell.0,
                test_errors: cell.1,
            });
        }
        for &temperature in &grid.temperature {
            for &alpha in &grid.alpha {
                for &soft_scale in &grid.soft_scale {
                    let runs: Vec<(u64, usize)> = finished
                        .iter()
                        .filter(|f| f.job.kind == JobKind::Distilled)
                        .filter(|f| &f.job.config.model.hidden == hidden)
                        .filter(|f| {
                            f.job.config.distill.is_some_and(|d| {
                                (d.temperature, d.alpha, d.soft_scale)
                                    == (temperature, alpha, soft_scale)
                            })
                        })
                        .map(|f| (f.job.config.train.seed, f.test_errors))
                        .collect();
                    let Some((seeds, test_errors)) = stats_of(&runs) else {
                        continue;
                    };
                    distilled.push(DistilledCell {
                        student_hidden: hidden.clone(),
                        temperature,
                        alpha,
                        soft_scale,
                        seeds,
                        test_errors,
                        minus_scratch: paired_difference(&runs, &baseline),
                    });
                }
            }
        }
    }
    Ok(Summary {
        jobs: plan.jobs.len(),
        complete: finished.len(),
        missing,
        teachers,
        scratch,
        distilled,
    })
}

/// The seeds and the statistics of their test errors; `None` for no run.
fn stats_of(runs: &[(u64, usize)]) -> Option<(Vec<u64>, Stats)> {
    let values: Vec<f64> = runs.iter().map(|&(_, e)| e as f64).collect();
    Some((runs.iter().map(|&(s, _)| s).collect(), Stats::of(&values)?))
}

/// d_s = distilled_s − scratch_s over the seeds both have, with the t-interval of its mean.
fn paired_difference(distilled: &[(u64, usize)], scratch: &[(u64, usize)]) -> Option<Difference> {
    let pairs: Vec<(u64, f64)> = distilled
        .iter()
        .filter_map(|&(seed, d)| {
            let (_, s) = scratch.iter().find(|&&(t, _)| t == seed)?;
            Some((seed, d as f64 - *s as f64)) // d_s = distilled − scratch
        })
        .collect();
    let values: Vec<f64> = pairs.iter().map(|&(_, d)| d).collect();
    let stats = Stats::of(&values)?;
    Some(Difference {
        seeds: pairs.iter().map(|&(s, _)| s).collect(),
        ci95: stats.t_interval(LEVEL),
        stats,
    })
}

/// Writes `summary.json`, `summary.md`, `errors_vs_temperature.png` and `heatmap.png` into `dir`.
///
/// # Errors
/// Write and plot errors.
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<()> {
    write_json(&dir.join("summary.json"), summary)?;
    write_atomic(&dir.join("summary.md"), markdown(summary).as_bytes())?;
    if summary.distilled.is_empty() {
        return Ok(()); // nothing to draw yet
    }
    plot_errors_vs_temperature(
        &dir.join("errors_vs_temperature.png"),
        "Test errors vs temperature (mean ± sd over seeds; dashed: scratch)",
        &temperature_series(summary),
    )?;
    plot_heatmap(&dir.join("heatmap.png"), &heatmaps(summary))
}

/// One line per (shape, α, scale) over T, with its shape's scratch mean as the baseline.
fn temperature_series(summary: &Summary) -> Vec<TemperatureSeries> {
    let mut series: Vec<TemperatureSeries> = Vec::new();
    for cell in &summary.distilled {
        let name = format!(
            "{} α {} {}",
            shape_label(&cell.student_hidden),
            cell.alpha,
            cell.soft_scale
        );
        let point = (
            cell.temperature,
            cell.test_errors.mean,
            cell.test_errors.sd.unwrap_or(0.0),
        );
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push(point),
            None => series.push(TemperatureSeries {
                name,
                points: vec![point],
                baseline: summary
                    .scratch
                    .iter()
                    .find(|s| s.student_hidden == cell.student_hidden)
                    .map(|s| s.test_errors.mean),
            }),
        }
    }
    series
}

/// One panel per (α, scale): mean test errors, T across, shapes down.
fn heatmaps(summary: &Summary) -> Vec<Heatmap> {
    let mut panels: Vec<Heatmap> = Vec::new();
    for cell in &summary.distilled {
        let title = format!("α {}, scale {}", cell.alpha, cell.soft_scale);
        let panel = match panels.iter().position(|p| p.title == title) {
            Some(i) => &mut panels[i],
            None => {
                panels.push(Heatmap {
                    title,
                    columns: Vec::new(),
                    rows: Vec::new(),
                    cells: Vec::new(),
                });
                panels.last_mut().expect("just pushed")
            }
        };
        let column = format!("{}", cell.temperature);
        let row = shape_label(&cell.student_hidden);
        let c = index_or_push(&mut panel.columns, column);
        let r = index_or_push(&mut panel.rows, row);
        panel.cells.push((c, r, cell.test_errors.mean));
    }
    panels
}

fn index_or_push(list: &mut Vec<String>, value: String) -> usize {
    list.iter().position(|v| *v == value).unwrap_or_else(|| {
        list.push(value);
        list.len() - 1
    })
}

/// `summary.md`: the same numbers as tables.
pub fn markdown(summary: &Summary) -> String {
    let mut md = String::from("# Sweep summary\n\n");
    let _ = writeln!(
        md,
        "{} of {} jobs complete.",
        summary.complete, summary.jobs
    );
    if !summary.missing.is_empty() {
        let _ = writeln!(
            md,
            "Missing (not in the statistics): {}.",
            summary.missing.join(", ")
        );
    }
    let sd = |s: &Stats| s.sd.map_or("–".to_string(), |sd| format!("{sd:.1}"));
    if !summary.teachers.is_empty() {
        md.push_str("\n## Teachers\n\n| seed | test errors |\n|---:|---:|\n");
        for t in &summary.teachers {
            let _ = writeln!(md, "| {} | {} |", t.seed, t.test_errors);
        }
    }
    md.push_str("\n## Scratch students\n\n| shape | n | mean | sd | min | max |\n|---|---:|---:|---:|---:|---:|\n");
    for c in &summary.scratch {
        let s = &c.test_errors;
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} | {} | {} |",
            shape_label(&c.student_hidden),
            s.n,
            s.mean,
            sd(s),
            s.min,
            s.max
        );
    }
    md.push_str(
        "\n## Distilled students\n\nTest errors over seeds; distilled − scratch paired by seed, \
         with its 95 % t-interval.\n\n\
         | shape | T | α | scale | n | mean | sd | min | max | − scratch | 95 % interval |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for c in &summary.distilled {
        let s = &c.test_errors;
        let (diff, interval) = match &c.minus_scratch {
            Some(d) => (
                format!("{:+.1}", d.stats.mean),
                d.ci95
                    .map_or("–".into(), |[lo, hi]| format!("[{lo:+.1}, {hi:+.1}]")),
            ),
            None => ("–".into(), "–".into()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |",
            shape_label(&c.student_hidden),
            c.temperature,
            c.alpha,
            c.soft_scale,
            s.n,
            s.mean,
            sd(s),
            s.min,
            s.max,
            diff,
            interval
        );
    }
    if !summary.distilled.is_empty() {
        md.push_str(
            "\n![errors vs temperature](errors_vs_temperature.png)\n\n![heatmap](heatmap.png)\n",
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f64]) -> Stats {
        Stats::of(values).expect("values")
    }

    fn cell(hidden: usize, temperature: f64, alpha: f64, errors: &[f64]) -> DistilledCell {
        DistilledCell {
            student_hidden: vec![hidden],
            temperature,
            alpha,
            soft_scale: SoftScale::TSquared,
            seeds: (1..=errors.len() as u64).collect(),
            test_errors: stats(errors),
            minus_scratch: None,
        }
    }

    /// Two shapes (30: 50 errors from scratch, 60: 40), T ∈ {1, 2}, α ∈ {0.1, 0.5}; the cells
    /// in the order `summarise` makes them (shape, then T, then α).
    fn summary() -> Summary {
        let scratch = |hidden: usize, errors: &[f64]| ScratchCell {
            student_hidden: vec![hidden],
            seeds: (1..=errors.len() as u64).collect(),
            test_errors: stats(errors),
        };
        Summary {
            jobs: 9,
            complete: 8,
            missing: vec!["distilled-60-T2".to_string()],
            teachers: vec![SeedErrors {
                seed: 1,
                test_errors: 100,
            }],
            scratch: vec![scratch(30, &[49.0, 51.0]), scratch(60, &[40.0])],
            distilled: vec![
                cell(30, 1.0, 0.1, &[45.0, 47.0]),
                cell(30, 1.0, 0.5, &[48.0]),
                cell(30, 2.0, 0.1, &[44.0]),
                cell(60, 1.0, 0.1, &[38.0]),
            ],
        }
    }

    #[test]
    fn temperature_series_are_one_per_shape_alpha_and_scale_over_t() {
        let line = |name: &str, points: &[(f64, f64, f64)], baseline: f64| TemperatureSeries {
            name: name.to_string(),
            points: points.to_vec(),
            baseline: Some(baseline), // the shape's scratch mean
        };
        // (T, mean, sd over seeds); one seed has no sd and gets no bar.
        assert_eq!(
            temperature_series(&summary()),
            [
                line(
                    "30 α 0.1 t-squared",
                    &[(1.0, 46.0, 2f64.sqrt()), (2.0, 44.0, 0.0)],
                    50.0
                ),
                line("30 α 0.5 t-squared", &[(1.0, 48.0, 0.0)], 50.0),
                line("60 α 0.1 t-squared", &[(1.0, 38.0, 0.0)], 40.0),
            ]
        );
    }

    #[test]
    fn heatmaps_are_one_panel_per_alpha_and_scale_with_t_across_and_shapes_down() {
        let labels = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            heatmaps(&summary()),
            [
                Heatmap {
                    title: "α 0.1, scale t-squared".to_string(),
                    columns: labels(&["1", "2"]),
                    rows: labels(&["30", "60"]),
                    cells: vec![(0, 0, 46.0), (1, 0, 44.0), (0, 1, 38.0)],
                },
                Heatmap {
                    title: "α 0.5, scale t-squared".to_string(),
                    columns: labels(&["1"]),
                    rows: labels(&["30"]),
                    cells: vec![(0, 0, 48.0)],
                },
            ]
        );
    }

    #[test]
    fn markdown_shows_missing_jobs_teachers_and_plots_only_when_there_are_some() {
        let full = markdown(&summary());
        assert!(full.contains("8 of 9 jobs complete."), "{full}");
        assert!(
            full.contains("Missing (not in the statistics): distilled-60-T2."),
            "{full}"
        );
        assert!(
            full.contains("## Teachers\n\n| seed | test errors |\n|---:|---:|\n| 1 | 100 |\n"),
            "{full}"
        );
        assert!(full.contains("![heatmap](heatmap.png)"), "{full}");

        let bare = markdown(&Summary {
            missing: vec![],
            teachers: vec![],
            ..summary()
        });
        assert!(!bare.contains("Missing"), "{bare}");
        assert!(!bare.contains("## Teachers"), "{bare}");
        assert!(bare.contains("| 30 | 2 | 50.0 | 1.4 | 49 | 51 |"), "{bare}");
        let no_cells = markdown(&Summary {
            distilled: vec![],
            ..summary()
        });
        assert!(!no_cells.contains("!["), "no plots to show: {no_cells}");
    }
}
