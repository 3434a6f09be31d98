//! A grid of digit images with their labels.

use std::path::Path;

use ndarray::{ArrayView1, ArrayView2};
use plotters::prelude::*;

use super::{invalid, render_png, text, title_style, Canvas, DrawResult, AXIS_SIZE};
use crate::error::Result;

/// Pixels of one grid cell, the digit's label above it included.
const CELL: u32 = 170;
/// Height of the figure title strip.
const HEADER: u32 = 72;

/// Draws the first `count` images as a near-square grid, each titled with its label, light
/// strokes on a dark background (matplotlib's `gray` colour map, as in the notebook).
///
/// ```text
/// grid columns = ⌈√count⌉   grid rows = ⌈count / columns⌉   count ← min(count, N)
/// shapes  pixels: (N, rows·cols) row-major u8   labels: (N)
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when `pixels` is not `(N, rows·cols)`, `labels` is not
/// `N` long, there is nothing to draw, or the image cannot be written.
pub fn plot_samples(
    path: &Path,
    pixels: ArrayView2<u8>,
    rows: usize,
    cols: usize,
    labels: &[u8],
    count: usize,
) -> Result<()> {
    let count = count.min(pixels.nrows());
    let grid_cols = (count as f64).sqrt().ceil().max(1.0) as usize;
    let grid_rows = count.div_ceil(grid_cols).max(1);
    let size = (grid_cols as u32 * CELL, HEADER + grid_rows as u32 * CELL);
    render_png(path, size, |root| {
        if pixels.ncols() != rows * cols || rows == 0 || cols == 0 {
            return Err(invalid(format!(
                "pixels have {} columns, not rows·cols = {rows}·{cols}",
                pixels.ncols()
            )));
        }
        if labels.len() != pixels.nrows() {
            return Err(invalid(format!(
                "{} labels for {} images",
                labels.len(),
                pixels.nrows()
            )));
        }
        if count == 0 {
            return Err(invalid("no images to draw"));
        }
        let grid = root
            .margin(12, 0, 0, 0)
            .titled(&format!("Sample digits ({count})"), title_style())?;
        let cells = grid.split_evenly((grid_rows, grid_cols));
        for (i, cell) in cells.iter().take(count).enumerate() {
            draw_digit(
                cell,
                pixels.row(i),
                rows,
                cols,
                &format!("label {}", labels[i]),
            )?;
        }
        Ok(())
    })
}

/// One digit: `title` on top, then the image scaled up by whole pixels and centred.
pub(super) fn draw_digit(
    cell: &Canvas,
    image: ArrayView1<u8>,
    rows: usize,
    cols: usize,
    title: &str,
) -> DrawResult {
    let area = cell.titled(title, text(AXIS_SIZE))?;
    let (w, h) = area.dim_in_pixel();
    let scale = ((w.min(h) as usize - 8) / rows.max(cols)).max(1) as i32;
    let x0 = (w as i32 - scale * cols as i32) / 2;
    let y0 = (h as i32 - scale * rows as i32) / 2;
    for r in 0..rows {
        for c in 0..cols {
            let v = image[r * cols + c];
            let (x, y) = (x0 + c as i32 * scale, y0 + r as i32 * scale);
            area.draw(&Rectangle::new(
                [(x, y), (x + scale, y + scale)],
                RGBColor(v, v, v).filled(),
            ))?;
        }
    }
    Ok(())
}
