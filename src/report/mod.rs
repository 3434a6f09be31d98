//! What a run shows: PNG plots and the report (`report.json`, `report.md`, a terminal table).

pub mod plots;

pub use plots::{plot_logit_scatter, plot_loss_curves, plot_roc, plot_samples, Phase, Series};
