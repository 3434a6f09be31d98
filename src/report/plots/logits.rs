//! Two logits of every test example, one colour per true digit.

use std::path::Path;

use plotters::prelude::*;

use super::{
    draw_legend, invalid, padded_range, render_png, text, title_style, Canvas, DrawResult,
    AXIS_SIZE, PALETTE, TICK_SIZE,
};
use crate::error::Result;

/// Draws the scatter of `(x_i, y_i)` (logit 0 against logit 1 in the notebook), coloured by
/// the true label, with small semi-transparent points and a legend of the labels present.
///
/// ```text
/// point i at (x_i, y_i), colour tab10[labels_i mod 10]; non-finite points are left out
/// shapes  x: (N)   y: (N)   labels: (N)
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when the three slices differ in length, no point is
/// finite, or the image cannot be written.
pub fn plot_logit_scatter(
    path: &Path,
    title: &str,
    x: &[f32],
    y: &[f32],
    labels: &[u8],
) -> Result<()> {
    render_png(path, (1000, 800), |root| draw(root, title, x, y, labels))
}

fn draw(root: &Canvas, title: &str, x: &[f32], y: &[f32], labels: &[u8]) -> DrawResult {
    if x.len() != y.len() || x.len() != labels.len() {
        return Err(invalid(format!(
            "{} x, {} y and {} labels",
            x.len(),
            y.len(),
            labels.len()
        )));
    }
    let finite = |i: &usize| x[*i].is_finite() && y[*i].is_finite();
    let points: Vec<usize> = (0..x.len()).filter(finite).collect();
    let x_range = padded_range(points.iter().map(|&i| f64::from(x[i])), 0.05);
    let y_range = padded_range(points.iter().map(|&i| f64::from(y[i])), 0.05);
    let ((x0, x1), (y0, y1)) = x_range
        .zip(y_range)
        .ok_or_else(|| invalid("no finite point to plot"))?;

    let mut chart = ChartBuilder::on(root)
        .caption(title, title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc("logit 0")
        .y_desc("logit 1")
        .axis_desc_style(text(AXIS_SIZE))
        .label_style(text(TICK_SIZE))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    let mut present: Vec<u8> = points.iter().map(|&i| labels[i]).collect();
    present.sort_unstable();
    present.dedup();
    for &label in &present {
        let color = PALETTE[usize::from(label) % PALETTE.len()];
        let of_label = points.iter().filter(|&&i| labels[i] == label);
        chart
            .draw_series(of_label.map(|&i| {
                Circle::new(
                    (f64::from(x[i]), f64::from(y[i])),
                    2,
                    color.mix(0.45).filled(),
                )
            }))?
            .label(format!("digit {label}"))
            .legend(move |(px, py)| Circle::new((px + 8, py), 6, color.filled()));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
