//! The text `distill data` prints: files, counts, image shape, per-class counts, mean pixel.

use std::fmt;

use crate::data::mnist::{Mnist, MnistFiles};
use crate::data::split::Split;
use crate::data::CLASSES;

/// A loaded data set described for people; `Display` renders it.
pub struct DataSummary<'a> {
    /// Where the files came from.
    pub files: &'a MnistFiles,
    /// The loaded splits.
    pub mnist: &'a Mnist,
}

impl fmt::Display for DataSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self.files;
        let (train, test) = (&self.mnist.train, &self.mnist.test);
        let (rows, cols) = train.image_shape();
        writeln!(f, "files:")?;
        for path in files.paths() {
            writeln!(f, "  {}", path.display())?;
        }
        writeln!(f, "train: {} examples", train.len())?;
        writeln!(f, "test:  {} examples", test.len())?;
        writeln!(
            f,
            "image shape: {rows}x{cols} (input size {})",
            train.input_size()
        )?;
        write!(f, "per-class counts:\n  class")?;
        for c in 0..CLASSES {
            write!(f, " {c:>5}")?;
        }
        writeln!(f)?;
        class_row(f, "train", train)?;
        class_row(f, "test ", test)?;
        writeln!(
            f,
            "mean pixel (of 255): train {}, test {}",
            mean(train),
            mean(test)
        )
    }
}

/// `  train  5923  6742 …`
fn class_row(f: &mut fmt::Formatter<'_>, name: &str, split: &Split) -> fmt::Result {
    write!(f, "  {name}")?;
    for count in split.class_counts() {
        write!(f, " {count:>5}")?;
    }
    writeln!(f)
}

/// The mean pixel to 2 decimals, `-` for an empty split.
fn mean(split: &Split) -> String {
    split
        .mean_pixel()
        .map_or_else(|| "-".into(), |m| format!("{m:.2}"))
}
