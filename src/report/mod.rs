//! What a run shows: PNG plots, `report.json`, `report.md` and the terminal summary table.
//!
//! Everything here takes plain data (slices, views, [`Report`]), not training types, so the
//! pipeline decides what to draw and the drawing does not depend on how it was computed.

mod markdown;
pub mod plots;
mod summary;
mod table;

pub use markdown::{render_markdown, write_report_md};
pub use plots::{
    plot_bias_shift, plot_errors_vs_temperature, plot_heatmap, plot_logit_scatter,
    plot_loss_curves, plot_per_class_errors, plot_roc, plot_samples, Heatmap, Phase, Series,
    ShiftCurve, TemperatureSeries,
};
pub use summary::{
    read_report_json, write_json, write_report_json, ModelReport, Report, ROC_DIGIT,
};
pub use table::summary_table;
