//! The plots of `distill paper`: test errors per digit for each model, and errors against a
//! bias shift.

use std::path::Path;

use plotters::prelude::*;

use super::{
    draw_legend, invalid, render_png, text, title_style, DrawResult, AXIS_SIZE, PALETTE, TICK_SIZE,
};
use crate::error::Result;

/// Draws a grouped bar chart: for each digit 0..9, one bar per model (its test errors on that
/// digit), models in the order given, each in its own colour.
///
/// ```text
/// bar (digit d, model m) has height errors_m[d]
/// shapes  models[m].1: (10)
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when there is no model, a model has not 10 counts, or the
/// image cannot be written.
pub fn plot_per_class_errors(path: &Path, models: &[(&str, &[usize])]) -> Result<()> {
    render_png(path, (1200, 650), |root| draw_bars(root, models))
}

fn draw_bars(root: &super::Canvas, models: &[(&str, &[usize])]) -> DrawResult {
    if models.is_empty() || models.iter().any(|(_, e)| e.len() != 10) {
        return Err(invalid(
            "per-class errors need 10 counts for each of at least one model",
        ));
    }
    let top = models
        .iter()
        .flat_map(|(_, e)| e.iter())
        .copied()
        .max()
        .unwrap_or(0);
    let top = (top as f64 * 1.1).max(1.0);
    let width = 1.0 / (models.len() as f64 + 1.0); // one bar per model, and a gap, per digit
    let mut chart = ChartBuilder::on(root)
        .caption("Test errors per digit", title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..9.5, 0.0..top)?; // digit d spans [d − 0.5, d + 0.5)
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("true digit")
        .y_desc("test errors")
        .axis_desc_style(text(AXIS_SIZE))
        .label_style(text(TICK_SIZE))
        .x_labels(10)
        .x_label_formatter(&|x: &f64| match x.fract().abs() < 1e-6 && *x >= 0.0 {
            true => format!("{x:.0}"),
            false => String::new(),
        })
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (m, (name, errors)) in models.iter().enumerate() {
        let colour = PALETTE[m % PALETTE.len()];
        chart
            .draw_series(errors.iter().enumerate().map(|(d, &e)| {
                let x0 = d as f64 - 0.5 + width * (m as f64 + 0.5);
                Rectangle::new([(x0, 0.0), (x0 + 0.9 * width, e as f64)], colour.filled())
            }))?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// The errors of one bias-shift search: validation and test error rates at each shift, the
/// shift chosen on validation and the paper's.
#[derive(Debug, Clone, Copy)]
pub struct ShiftCurve<'a> {
    /// The panel's title, e.g. `"omit3: bias of 3"`.
    pub name: &'a str,
    /// The shifts tried, increasing.
    pub deltas: &'a [f64],
    /// Validation error rate in % at each shift (same length as `deltas`).
    pub validation: &'a [f64],
    /// Test error rate in % at each shift (same length as `deltas`).
    pub test: &'a [f64],
    /// The shift with the fewest validation errors.
    pub chosen: f64,
    /// The paper's shift.
    pub paper: f64,
}

/// Draws one panel per curve, side by side: validation (dashed) and test (solid) error rates against
/// the shift, with vertical lines at the chosen shift and at the paper's.
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when there is no curve, a curve is empty or its lengths
/// differ, or the image cannot be written.
pub fn plot_bias_shift(path: &Path, curves: &[ShiftCurve]) -> Result<()> {
    let width = 700 * curves.len().max(1) as u32;
    render_png(path, (width, 600), |root| {
        if curves.is_empty() {
            return Err(invalid("no bias-shift curve to plot"));
        }
        let panels = root.split_evenly((1, curves.len()));
        for (panel, curve) in panels.iter().zip(curves) {
            draw_shift(panel, curve)?;
        }
        Ok(())
    })
}

fn draw_shift(root: &super::Canvas, curve: &ShiftCurve) -> DrawResult {
    let n = curve.deltas.len();
    if n == 0 || curve.validation.len() != n || curve.test.len() != n {
        return Err(invalid(
            "a bias-shift curve needs one error count per shift",
        ));
    }
    let (lo, hi) = (curve.deltas[0], curve.deltas[n - 1]);
    let top = curve
        .validation
        .iter()
        .chain(curve.test)
        .copied()
        .fold(1.0, f64::max)
        * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption(curve.name, text(AXIS_SIZE))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi.max(lo + 1e-9), 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("bias shift")
        .y_desc("error rate (%)")
        .axis_desc_style(text(TICK_SIZE))
        .label_style(text(TICK_SIZE))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let points = |rates: &[f64]| -> Vec<(f64, f64)> {
        curve
            .deltas
            .iter()
            .zip(rates)
            .map(|(&d, &r)| (d, r))
            .collect()
    };
    let (val_colour, test_colour) = (PALETTE[0], PALETTE[3]);
    chart
        .draw_series(DashedLineSeries::new(
            points(curve.validation),
            8,
            5,
            val_colour.stroke_width(2),
        ))?
        .label("validation error rate")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], val_colour.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            points(curve.test),
            test_colour.stroke_width(2),
        ))?
        .label("test error rate")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], test_colour.stroke_width(2)));
    for (x, colour, label) in [
        (
            curve.chosen,
            PALETTE[2],
            format!("chosen on validation: {:+.1}", curve.chosen),
        ),
        (
            curve.paper,
            PALETTE[7],
            format!("paper: {:+.1}", curve.paper),
        ),
    ] {
        chart
            .draw_series(LineSeries::new(
                [(x, 0.0), (x, top)],
                colour.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}
