//! The class-similarity matrix as a heatmap, the diagonal apart.

use std::path::Path;

use plotters::prelude::*;

use super::heatmap::lerp;
use super::{invalid, render_png, text, title_style, Canvas, DrawResult, AXIS_SIZE, TICK_SIZE};
use crate::error::Result;

/// Pixels per matrix cell.
const CELL: u32 = 64;

/// The diagonal's colour: light amber, apart from the blue scale of the off-diagonal cells.
const DIAGONAL: RGBColor = RGBColor(255, 224, 150);

/// Draws `matrix` (rows: true class, columns: class) as a heatmap. The off-diagonal cells are
/// shaded white → dark blue on their own scale (`v / max off-diagonal`), so the small
/// probabilities are visible next to a diagonal near 1; the diagonal cells are amber. Every cell
/// is labelled with its value in percent.
///
/// ```text
/// shade(i, j) = M[i][j] / max_{k≠l} M[k][l]    i ≠ j
/// shapes  matrix: (N, N)
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when `matrix` is empty or not square, or the image
/// cannot be written.
pub fn plot_similarity(path: &Path, matrix: &[Vec<f64>], temperature: f64) -> Result<()> {
    let n = matrix.len() as u32;
    let size = (n * CELL + 170, n * CELL + 190);
    render_png(path, size, |root| draw(root, matrix, temperature))
}

fn draw(root: &Canvas, matrix: &[Vec<f64>], temperature: f64) -> DrawResult {
    let n = matrix.len();
    if n == 0 || matrix.iter().any(|row| row.len() != n) {
        return Err(invalid("the matrix must be square and not empty"));
    }
    let off_max = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| matrix[i][j])
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Mean soft targets at T = {temperature} (%)"),
            title_style(),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("class j")
        .y_desc("true class i")
        .axis_desc_style(text(AXIS_SIZE))
        .label_style(text(TICK_SIZE))
        .x_labels(n)
        .y_labels(n)
        .x_label_formatter(&|v| format!("{}", v.round()))
        .y_label_formatter(&|v| format!("{}", (n as f64 - 1.0 - v).round()))
        .draw()?;
    // Cell (i, j) is centred on (j, n − 1 − i): class 0 on top, as in a printed matrix.
    let centre = |i: usize, j: usize| (j as f64, (n - 1 - i) as f64);
    let cell = |i: usize, j: usize| {
        let (x, y) = centre(i, j);
        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)]
    };
    chart.draw_series(
        (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| {
                let color = if i == j {
                    DIAGONAL
                } else {
                    shade(matrix[i][j] / off_max.max(f64::MIN_POSITIVE))
                };
                Rectangle::new(cell(i, j), color.filled())
            }),
    )?;
    let plot = chart.plotting_area();
    for (i, row) in matrix.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let dark = i != j && v / off_max.max(f64::MIN_POSITIVE) > 0.55;
            let style = text(TICK_SIZE - 2)
                .color(if dark { &WHITE } else { &BLACK })
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
            let at = plot.map_coordinate(&centre(i, j));
            root.draw_text(&format!("{:.1}", 100.0 * v), &style, at)?;
        }
    }
    Ok(())
}

/// White (0) to dark blue (1), linear in each channel.
fn shade(v: f64) -> RGBColor {
    lerp((255, 255, 255), (8, 48, 107), v.clamp(0.0, 1.0))
}
