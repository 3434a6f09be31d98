//! Soft targets: each test image beside one bar chart of its probabilities per temperature.

use std::path::Path;

use ndarray::ArrayView1;
use plotters::prelude::*;

use super::samples::draw_digit;
use super::{invalid, render_png, text, title_style, Canvas, DrawResult, PALETTE, TICK_SIZE};
use crate::error::Result;

/// Width of the image column and of each bar chart, and the height of a row, in pixels.
const IMAGE_WIDTH: u32 = 190;
const CHART_WIDTH: u32 = 250;
const ROW_HEIGHT: u32 = 200;
/// Height of the figure title strip.
const HEADER: u32 = 64;

/// One image and its probabilities at every temperature.
#[derive(Debug, Clone)]
pub struct SoftTargetPanel<'a> {
    /// The image, `rows·cols` u8 pixels, row-major.
    pub pixels: ArrayView1<'a, u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Index in the test set (shown in the image's title).
    pub index: usize,
    /// True label.
    pub label: u8,
    /// The model's arg-max class.
    pub predicted: u8,
    /// `softmax(z/T)`, one slice of N per temperature.
    pub probabilities: Vec<&'a [f64]>,
    /// Entropy in nats, one per temperature.
    pub entropy: Vec<f64>,
}

/// Draws one row per panel: the image (titled with index, label and prediction), then one bar
/// chart per temperature with bars coloured by class (tab10) on a fixed `[0, 1]` scale, titled
/// `T = …, H = …`.
///
/// ```text
/// size = (IMAGE_WIDTH + K·CHART_WIDTH) × (HEADER + P·ROW_HEIGHT)      K temperatures, P panels
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when there is no panel or temperature, a panel's
/// probabilities or entropies do not have one entry per temperature, or the image cannot be
/// written.
pub fn plot_soft_targets(
    path: &Path,
    temperatures: &[f64],
    panels: &[SoftTargetPanel],
) -> Result<()> {
    let size = (
        IMAGE_WIDTH + temperatures.len() as u32 * CHART_WIDTH,
        HEADER + panels.len().max(1) as u32 * ROW_HEIGHT,
    );
    render_png(path, size, |root| draw(root, temperatures, panels))
}

fn draw(root: &Canvas, temperatures: &[f64], panels: &[SoftTargetPanel]) -> DrawResult {
    if panels.is_empty() || temperatures.is_empty() {
        return Err(invalid("no image or no temperature to draw"));
    }
    if let Some(p) = panels.iter().find(|p| {
        p.probabilities.len() != temperatures.len() || p.entropy.len() != temperatures.len()
    }) {
        return Err(invalid(format!(
            "image {}: {} probability rows and {} entropies for {} temperatures",
            p.index,
            p.probabilities.len(),
            p.entropy.len(),
            temperatures.len()
        )));
    }
    let body = root.margin(10, 0, 0, 0).titled(
        "Soft targets softmax(z/T): the image, then one chart per temperature",
        title_style(),
    )?;
    let rows = body.split_evenly((panels.len(), 1));
    for (panel, row) in panels.iter().zip(&rows) {
        let (image, charts) = row.split_horizontally(IMAGE_WIDTH);
        let verdict = if panel.label == panel.predicted {
            format!("#{}: {} (right)", panel.index, panel.label)
        } else {
            format!("#{}: {} as {}", panel.index, panel.label, panel.predicted)
        };
        draw_digit(&image, panel.pixels, panel.rows, panel.cols, &verdict)?;
        let cells = charts.split_evenly((1, temperatures.len()));
        for (k, cell) in cells.iter().enumerate() {
            let caption = format!("T = {}, H = {:.2}", temperatures[k], panel.entropy[k]);
            draw_bars(cell, &caption, panel.probabilities[k], panel.label)?;
        }
    }
    Ok(())
}

/// A bar per class on `[0, 1]`; the true class's bar gets a black outline.
fn draw_bars(cell: &Canvas, caption: &str, p: &[f64], label: u8) -> DrawResult {
    let classes = p.len();
    let mut chart = ChartBuilder::on(cell)
        .caption(caption, text(TICK_SIZE + 1))
        .margin(6)
        .x_label_area_size(22)
        .y_label_area_size(34)
        .build_cartesian_2d(-0.5..classes as f64 - 0.5, 0.0..1.0)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(classes)
        .y_labels(3)
        .label_style(text(TICK_SIZE - 3))
        .x_label_formatter(&|v| format!("{}", v.round()))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart.draw_series(p.iter().enumerate().map(|(j, &v)| {
        let color = PALETTE[j % PALETTE.len()];
        Rectangle::new(
            [(j as f64 - 0.4, 0.0), (j as f64 + 0.4, v.clamp(0.0, 1.0))],
            color.filled(),
        )
    }))?;
    let y = usize::from(label);
    chart.draw_series(p.get(y).map(|&v| {
        Rectangle::new(
            [(y as f64 - 0.4, 0.0), (y as f64 + 0.4, v.clamp(0.0, 1.0))],
            BLACK.stroke_width(2),
        )
    }))?;
    Ok(())
}
