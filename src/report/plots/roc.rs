//! ROC curves on a logarithmic false-positive axis, as the notebook draws them.

use std::path::Path;

use plotters::prelude::*;

use super::{
    draw_legend, invalid, render_png, text, title_style, Canvas, DrawResult, AXIS_SIZE, PALETTE,
    TICK_SIZE,
};
use crate::error::Result;
use crate::metrics::RocCurve;

/// The largest left edge of the false-positive axis. A log axis cannot show `fpr = 0`, where
/// every ROC curve starts; those points are drawn at the left edge.
pub const FPR_FLOOR: f64 = 1e-4;

/// Draws ROC curves, true-positive rate against false-positive rate on a log₁₀ axis, with each
/// curve's AUC in its legend entry; a dashed grey `tpr = fpr` line marks chance.
///
/// ```text
/// left edge f₀ = 10^⌊log₁₀ min(FPR_FLOOR, smallest nonzero fpr)⌋
/// point (max(fpr_i, f₀), tpr_i)          legend "name (AUC = 0.9876)"
/// shapes  curves[j].1.fpr, .tpr: (K_j)
/// ```
/// So nothing but the `fpr = 0` points is moved: they land on the left edge, the vertical run
/// of the curve at `fpr = 0` becomes a vertical run at `f₀`.
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when `curves` is empty or a curve's `fpr` and `tpr`
/// differ in length, or the image cannot be written.
pub fn plot_roc(path: &Path, title: &str, curves: &[(&str, &RocCurve, f64)]) -> Result<()> {
    render_png(path, (1000, 700), |root| draw(root, title, curves))
}

fn draw(root: &Canvas, title: &str, curves: &[(&str, &RocCurve, f64)]) -> DrawResult {
    if curves.is_empty() {
        return Err(invalid("no ROC curve to plot"));
    }
    if let Some((name, ..)) = curves.iter().find(|(_, c, _)| c.fpr.len() != c.tpr.len()) {
        return Err(invalid(format!(
            "ROC curve {name}: fpr and tpr differ in length"
        )));
    }
    let floor = left_edge(curves.iter().flat_map(|(_, c, _)| c.fpr.iter().copied()));

    let mut chart = ChartBuilder::on(root)
        .caption(title, title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        // A hair below the floor: plotters labels powers of ten strictly inside the range.
        .build_cartesian_2d((floor * 0.999..1.0).log_scale(), 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc("false-positive rate (log scale)")
        .y_desc("true-positive rate")
        .axis_desc_style(text(AXIS_SIZE))
        .label_style(text(TICK_SIZE))
        .x_label_formatter(&|v| format_rate(*v))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    let grey = RGBColor(150, 150, 150).stroke_width(2);
    let diagonal = (0..=40).map(|i| {
        let f = floor * (1.0 / floor).powf(f64::from(i) / 40.0); // evenly spaced on the log axis
        (f, f)
    });
    let dashed = DashedLineSeries::new(diagonal, 8, 6, grey);
    chart
        .draw_series(dashed)?
        .label("chance")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 26, y)], grey));

    for (j, (name, curve, area)) in curves.iter().enumerate() {
        let style = PALETTE[j % PALETTE.len()].stroke_width(3);
        let points = curve
            .fpr
            .iter()
            .zip(&curve.tpr)
            .map(|(&f, &t)| (f.max(floor), t));
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(format!("{name} (AUC = {area:.4})"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 26, y)], style));
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// `10^⌊log₁₀ min(FPR_FLOOR, smallest nonzero finite fpr)⌋`.
fn left_edge(fpr: impl Iterator<Item = f64>) -> f64 {
    let smallest = fpr
        .filter(|&f| f > 0.0 && f.is_finite())
        .fold(FPR_FLOOR, f64::min);
    10f64.powi(smallest.log10().floor() as i32)
}

/// Tick labels: `1e-4`, `0.001`, `0.01`, `0.1`, `1`.
fn format_rate(v: f64) -> String {
    if v < 1e-3 {
        format!("{v:.0e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_edge_is_a_power_of_ten_below_every_nonzero_rate() {
        assert_eq!(left_edge([0.0, 0.5, 1.0].into_iter()), 1e-4);
        assert_eq!(left_edge([0.0, 3.2e-6, 1.0].into_iter()), 1e-6);
        assert_eq!(left_edge([0.0, 1.1e-4].into_iter()), 1e-4);
    }
}
