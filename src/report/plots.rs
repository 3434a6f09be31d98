//! PNG plots of a run, drawn with plotters into memory and written atomically.
//!
//! Every plot function takes plain data (slices, views, [`RocCurve`](crate::metrics::RocCurve)),
//! so it does not depend on the training types, and returns [`Error::Plot`] instead of
//! panicking. Text uses DejaVu Sans, bundled by the `dejavu` crate and registered with plotters'
//! `ab_glyph` backend: no system font library is needed.
//!
//! The image is rendered into an RGB buffer, encoded as PNG in memory and written with
//! [`write_atomic`]: plotters' own file target picks the encoder from the file extension, which
//! the temporary file of an atomic write does not have.

mod heatmap;
mod logits;
mod loss;
mod paper;
mod roc;
mod samples;
mod similarity;
mod soft_targets;
mod temperature;

pub use heatmap::{plot_heatmap, Heatmap};
pub use logits::plot_logit_scatter;
pub use loss::{plot_loss_curves, Phase, Series};
pub use paper::{plot_bias_shift, plot_per_class_errors, ShiftCurve};
pub use roc::{plot_roc, FPR_FLOOR};
pub use samples::plot_samples;
pub use similarity::plot_similarity;
pub use soft_targets::{plot_soft_targets, SoftTargetPanel};
pub use temperature::{plot_errors_vs_temperature, TemperatureSeries};

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle, RGBColor};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// The family name the bundled font is registered under.
const FONT: &str = "sans-serif";

/// matplotlib's `tab10`: ten colours told apart at a glance (one per digit).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// Font sizes in pixels: titles, axis descriptions, tick labels and legends.
const TITLE_SIZE: u32 = 30;
const AXIS_SIZE: u32 = 22;
const TICK_SIZE: u32 = 17;
const LEGEND_SIZE: u32 = 19;

/// Errors inside a drawing closure: plotters' error types, or our own message.
type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The bitmap drawing area a plot draws on.
type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Registers DejaVu Sans (regular and bold) with plotters, once per process.
fn register_fonts() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let regular = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
            let bold = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
            match (regular, bold) {
                (Ok(()), Ok(())) => Ok(()),
                _ => Err("the bundled DejaVu Sans font could not be parsed".into()),
            }
        })
        .clone()
}

/// Renders `draw` on a white `width × height` canvas and writes it to `path` as a PNG, atomically.
fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Canvas) -> DrawResult,
) -> Result<()> {
    let plot_error = |reason: String| Error::Plot {
        path: path.to_path_buf(),
        reason,
    };
    register_fonts().map_err(plot_error)?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into));
        drawn.map_err(|e| plot_error(e.to_string()))?;
    }
    let png = encode_png(&rgb, width, height).map_err(|e| plot_error(e.to_string()))?;
    write_atomic(path, &png)
}

/// PNG bytes of an 8-bit RGB image.
fn encode_png(
    rgb: &[u8],
    width: u32,
    height: u32,
) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// A text style of the bundled font.
/// Draws the chart's legend at `position`: a white, slightly see-through box with a thin border.
fn draw_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(text(LEGEND_SIZE))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// The bold title style.
fn title_style() -> TextStyle<'static> {
    (FONT, TITLE_SIZE, FontStyle::Bold).into_font().into()
}

/// `[lo, hi]` of the finite values, padded by `pad` of the span (a unit span around a constant);
/// `None` when there is no finite value.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    Some((lo - pad * span, hi + pad * span))
}

/// A plain error message as a drawing error.
fn invalid(reason: impl Into<String>) -> Box<dyn std::error::Error> {
    reason.into().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_range_ignores_non_finite_values() {
        let r = padded_range([1.0, f64::NAN, 3.0, f64::INFINITY].into_iter(), 0.1);
        assert_eq!(r, Some((0.8, 3.2)));
        assert_eq!(padded_range([2.0].into_iter(), 0.5), Some((1.5, 2.5)));
        assert_eq!(padded_range([f64::NAN].into_iter(), 0.1), None);
    }

    #[test]
    fn png_round_trips_through_the_decoder() {
        let rgb: Vec<u8> = (0..2 * 3 * 3).map(|v| v as u8 * 10).collect();
        let bytes = encode_png(&rgb, 2, 3).unwrap();
        let mut reader = png::Decoder::new(bytes.as_slice()).read_info().unwrap();
        let mut out = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut out).unwrap();
        assert_eq!((info.width, info.height), (2, 3));
        assert_eq!(&out[..info.buffer_size()], rgb.as_slice());
    }
}
