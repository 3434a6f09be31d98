//! Heat maps of mean test errors: one panel per setting, columns × rows (T × shape), every cell
//! coloured on one shared scale and labelled with its value.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{invalid, render_png, text, title_style, Canvas, DrawResult, TICK_SIZE};
use crate::error::Result;

/// One panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// The panel's title, e.g. `"α 0.1, scale t-squared"`.
    pub title: String,
    /// Column labels, left to right (temperatures).
    pub columns: Vec<String>,
    /// Row labels, top to bottom (shapes).
    pub rows: Vec<String>,
    /// `(column, row, value)`; a missing cell stays white.
    pub cells: Vec<(usize, usize, f64)>,
}

/// Draws the panels side by side; the colour runs from light yellow (fewest errors of all
/// panels) to dark blue (most).
///
/// ```text
/// colour(v) = lerp(light, dark, (v − min)/(max − min))     one scale over every panel
/// ```
///
/// # Errors
/// [`Error::Plot`](crate::Error::Plot) when there is no panel, a cell is outside its panel or
/// not finite, or the image cannot be written.
pub fn plot_heatmap(path: &Path, panels: &[Heatmap]) -> Result<()> {
    let width = 160 + 110 * panels.iter().map(|p| p.columns.len()).sum::<usize>() as u32;
    render_png(path, (width.max(600), 520), |root| draw(root, panels))
}

fn draw(root: &Canvas, panels: &[Heatmap]) -> DrawResult {
    if panels.is_empty() {
        return Err(invalid("no heat map panel to draw"));
    }
    for p in panels {
        let outside = |&&(c, r, v): &&(usize, usize, f64)| {
            c >= p.columns.len() || r >= p.rows.len() || !v.is_finite()
        };
        if p.cells.iter().any(|cell| outside(&cell)) {
            return Err(invalid(format!(
                "panel {}: a cell outside the grid",
                p.title
            )));
        }
    }
    let values = || panels.iter().flat_map(|p| p.cells.iter().map(|c| c.2));
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(f64::NEG_INFINITY, f64::max);
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel, lo, hi)?;
    }
    Ok(())
}

fn draw_panel(area: &Canvas, panel: &Heatmap, lo: f64, hi: f64) -> DrawResult {
    let (columns, rows) = (panel.columns.len() as i32, panel.rows.len() as i32);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, title_style())
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(
            (0..columns - 1).into_segmented(),
            (0..rows - 1).into_segmented(),
        )?;
    // Segmented axes put each label at the centre of its cell.
    let label = |labels: &[String], v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(k) => usize::try_from(*k)
            .ok()
            .and_then(|k| labels.get(k))
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("temperature T")
        .y_desc("student hidden")
        .axis_desc_style(text(TICK_SIZE + 3))
        .label_style(text(TICK_SIZE))
        .x_labels(panel.columns.len() + 1)
        .y_labels(panel.rows.len() + 1)
        .x_label_formatter(&|c| label(&panel.columns, c))
        .y_label_formatter(&|r| match r {
            SegmentValue::CenterOf(k) => label(&panel.rows, &SegmentValue::CenterOf(rows - 1 - k)),
            _ => String::new(),
        })
        .draw()?;
    for &(c, r, v) in &panel.cells {
        let (x, y) = (c as i32, rows - 1 - r as i32); // the first row at the top
        let share = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        let fill = lerp((255, 247, 188), (37, 52, 148), share);
        let corners = [
            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
        ];
        chart.draw_series(std::iter::once(Rectangle::new(corners, fill.filled())))?;
        let ink = if share > 0.5 { WHITE } else { BLACK };
        let style = text(TICK_SIZE + 1)
            .color(&ink)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let centre = (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y));
        chart.draw_series(std::iter::once(Text::new(format!("{v:.1}"), centre, style)))?;
    }
    Ok(())
}

/// The colour a `share` ∈ [0, 1] of the way from `a` to `b`.
pub(super) fn lerp(a: (u8, u8, u8), b: (u8, u8, u8), share: f64) -> RGBColor {
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * share).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
