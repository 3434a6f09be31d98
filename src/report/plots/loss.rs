//! Loss per epoch: training curves solid, validation curves dashed in the same colour.

use std::path::Path;

use plotters::element::ComposedElement;
use plotters::prelude::*;

use super::{
    draw_legend, invalid, padded_range, render_png, text, title_style, DrawResult, AXIS_SIZE,
    PALETTE, TICK_SIZE,
};
use crate::error::Result;

/// Whether a series was measured on the training batches or on the held-out validation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Drawn as a solid line.
    Train,
    /// Drawn dashed, in the colour of the matching training series.
    Validation,
}

/// One named curve: `values[e]` is the value after epoch `e + 1`.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// The legend entry, e.g. `"student loss"` or `"val student loss"`.
    pub name: &'a str,
    /// One value per epoch; non-finite values are left out of the line.
    pub values: &'a [f64],
    /// Solid (train) or dashed (validation).
    pub phase: Phase,
}

/// Draws loss curves against the epoch (1, 2, …).
///
/// Colours go to the training series in order; the k-th validation series takes the colour of
/// the k-th training series, so pass them in matching order (student, distillation, total, and
/// the same again for validation).
///
/// ```text
/// point (e + 1, values[e]) for every finite values[e]
/// shapes  series[j].values: (E_j)   x axis: 1..max_j E_j
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when no series has a finite value, or the image cannot
/// be written.
pub fn plot_loss_curves(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    render_png(path, (1000, 650), |root| draw(root, title, series))
}

fn draw(root: &super::Canvas, title: &str, series: &[Series]) -> DrawResult {
    let epochs = series.iter().map(|s| s.values.len()).max().unwrap_or(0) as i32;
    let (lo, hi) = padded_range(series.iter().flat_map(|s| s.values.iter().copied()), 0.05)
        .ok_or_else(|| invalid("no finite loss value to plot"))?;

    let mut chart = ChartBuilder::on(root)
        .caption(title, title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(0..epochs + 1, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .axis_desc_style(text(AXIS_SIZE))
        .label_style(text(TICK_SIZE))
        .x_labels((epochs as usize + 2).min(12))
        .x_label_formatter(&|e| {
            if (1..=epochs).contains(e) {
                e.to_string()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| format!("{v:.3}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;

    let (mut train_seen, mut val_seen) = (0, 0);
    for s in series {
        let rank = match s.phase {
            Phase::Train => &mut train_seen,
            Phase::Validation => &mut val_seen,
        };
        let color = PALETTE[*rank % PALETTE.len()];
        *rank += 1;
        let style = color.stroke_width(3);
        let points: Vec<(i32, f64)> = (1..)
            .zip(s.values.iter().copied())
            .filter(|(_, v)| v.is_finite())
            .collect();
        let phase = s.phase;
        let legend = move |xy| legend_line(xy, style, phase);
        match phase {
            Phase::Train => chart.draw_series(LineSeries::new(points.iter().copied(), style))?,
            Phase::Validation => {
                chart.draw_series(DashedLineSeries::new(points.iter().copied(), 10, 7, style))?
            }
        }
        .label(s.name)
        .legend(legend);
        let marker = |p| Circle::new(p, 4, color.filled());
        chart.draw_series(points.iter().copied().map(marker))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
}

/// Two strokes drawn as one legend element, in pixel coordinates.
type TwoStrokes<DB> =
    ComposedElement<(i32, i32), DB, PathElement<(i32, i32)>, PathElement<(i32, i32)>>;

/// A legend sample at `(x, y)`: one solid stroke, or two dashes for validation.
fn legend_line<DB: DrawingBackend>(
    (x, y): (i32, i32),
    style: ShapeStyle,
    phase: Phase,
) -> TwoStrokes<DB> {
    let (first, gap) = match phase {
        Phase::Train => (26, 0),
        Phase::Validation => (10, 7),
    };
    EmptyElement::at((x, y))
        + PathElement::new(vec![(0, 0), (first, 0)], style)
        + PathElement::new(vec![(first + gap, 0), (26, 0)], style)
}
