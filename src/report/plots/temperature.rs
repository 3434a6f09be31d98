//! Test errors against the temperature: one line per series with ±sd error bars, and each
//! series' baseline (the scratch student of its shape) as a dashed line in the same colour.

use std::path::Path;

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

use super::{
    draw_legend, invalid, padded_range, render_png, text, title_style, Canvas, DrawResult,
    AXIS_SIZE, PALETTE, TICK_SIZE,
};
use crate::error::Result;

/// One line of the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct TemperatureSeries {
    /// The legend entry, e.g. `"300 α 0.1 t-squared"`.
    pub name: String,
    /// `(T, mean, sd)` per temperature; drawn in increasing T.
    pub points: Vec<(f64, f64, f64)>,
    /// A horizontal dashed line at this value (the scratch mean), if any.
    pub baseline: Option<f64>,
}

/// Draws mean test errors against T on a log₁₀ axis, error bars mean ± sd.
///
/// ```text
/// point (T, mean)   bar from mean − sd to mean + sd   baseline y = scratch mean, dashed
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when there is no point or a T is not positive, or the
/// image cannot be written.
pub fn plot_errors_vs_temperature(
    path: &Path,
    title: &str,
    series: &[TemperatureSeries],
) -> Result<()> {
    render_png(path, (1100, 700), |root| draw(root, title, series))
}

fn draw(root: &Canvas, title: &str, series: &[TemperatureSeries]) -> DrawResult {
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let (t_lo, t_hi) = points().fold((f64::INFINITY, 0.0f64), |(lo, hi), (t, ..)| {
        (lo.min(t), hi.max(t))
    });
    if !(t_lo > 0.0 && t_lo.is_finite()) {
        return Err(invalid("no point with a positive temperature to plot"));
    }
    let ys = points()
        .flat_map(|(_, m, sd)| [m - sd, m + sd])
        .chain(series.iter().filter_map(|s| s.baseline));
    let (lo, hi) = padded_range(ys, 0.08).ok_or_else(|| invalid("no finite value to plot"))?;
    let (x_lo, x_hi) = (t_lo / 1.3, t_hi * 1.3); // room for the end points' bars
    let mut chart = ChartBuilder::on(root)
        .caption(title, title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_lo..x_hi).log_scale().with_key_points(ticks(series)),
            lo..hi,
        )?;
    chart
        .configure_mesh()
        .x_desc("temperature T (log scale)")
        .y_desc("test errors")
        .axis_desc_style(text(AXIS_SIZE))
        .label_style(text(TICK_SIZE))
        .x_labels(usize::MAX) // every temperature of the grid, and only those
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    for (j, s) in series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        let style = color.stroke_width(3);
        let mut line = s.points.clone();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(line.iter().map(|&(t, m, _)| (t, m)), style))?
            .label(&s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 26, y)], style));
        chart.draw_series(
            line.iter()
                .map(|&(t, m, _)| Circle::new((t, m), 5, color.filled())),
        )?;
        let thin = color.stroke_width(2);
        for &(t, m, sd) in &line {
            let (cap_lo, cap_hi) = (t / 1.04, t * 1.04);
            for segment in [
                vec![(t, m - sd), (t, m + sd)],
                vec![(cap_lo, m - sd), (cap_hi, m - sd)],
                vec![(cap_lo, m + sd), (cap_hi, m + sd)],
            ] {
                chart.draw_series(std::iter::once(PathElement::new(segment, thin)))?;
            }
        }
        if let Some(b) = s.baseline {
            let dashed = DashedLineSeries::new([(x_lo, b), (x_hi, b)], 10, 7, thin);
            chart.draw_series(dashed)?;
        }
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The distinct temperatures, ascending: the x axis' ticks.
fn ticks(series: &[TemperatureSeries]) -> Vec<f64> {
    let mut ts: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    ts
}
