//! `distill paper`: the MNIST experiments of Hinton, Vinyals & Dean (2015), §3.
//!
//! ```text
//! recipe.rs   PaperConfig (what the user asks) and Recipe (how each model trains; full or quick)
//! shift.rs    the shared bias-shift search, chosen on validation
//! run.rs      the seven models in order, their checkpoints, the plots and the report
//! report.rs   paper.json (PaperReport) and paper.md beside the paper's table
//! ```
//! It composes the steps of [`crate::experiment`]; nothing below it knows about it.

pub mod recipe;
pub mod report;
mod run;
pub mod shift;

pub use recipe::{PaperConfig, Recipe};
pub use report::{PaperReport, MODELS};
pub use run::{run, PaperOutcome};
pub use shift::{errors_with_shift, search, ShiftSearch};
