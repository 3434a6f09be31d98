//! What a fit shows while it runs: a live bar per epoch and a Keras-like line at its end.
//!
//! On a terminal, an indicatif bar on stderr with the running loss and accuracy; when stderr is
//! not a terminal, indicatif draws nothing and only the end-of-epoch lines are printed; with
//! `quiet`, nothing at all (errors are the caller's to print).

use indicatif::{ProgressBar, ProgressStyle};

/// How much a fit reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Print nothing.
    pub quiet: bool,
}

/// Batches between two refreshes of the bar's message.
const REFRESH_EVERY: usize = 32;

impl Progress {
    /// A bar for one epoch of `batches` batches.
    pub fn epoch(&self, label: &str, batches: usize) -> EpochBar {
        if self.quiet {
            return EpochBar { bar: None };
        }
        let bar = ProgressBar::new(batches as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed} {msg}")
                .expect("static template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        EpochBar { bar: Some(bar) }
    }

    /// Prints a line (to stderr) unless quiet.
    pub fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// The live bar of one epoch.
#[derive(Debug)]
pub struct EpochBar {
    bar: Option<ProgressBar>,
}

impl EpochBar {
    /// Marks batch `batch` (0-based) done, with the running mean loss and accuracy.
    pub fn batch_done(&self, batch: usize, loss: f64, accuracy: f64) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            if batch.is_multiple_of(REFRESH_EVERY) {
                bar.set_message(format!("loss: {loss:.4} - accuracy: {accuracy:.4}"));
            }
        }
    }

    /// Removes the bar and prints the epoch's summary line in its place.
    pub fn finish(self, summary: &str) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
            eprintln!("{summary}");
        }
    }
}
