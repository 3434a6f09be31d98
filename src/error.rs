//! The one error type of `distill`: everything a user's input can get wrong.
//!
//! Errors live at the edges (files, IDX, checkpoints, CLI flags, configs). The numeric core
//! asserts its shapes instead: a shape mismatch there is a programmer's error, not a user's.
//! Every variant that concerns a file names it, so a message alone says where to look.

use std::path::PathBuf;

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong with data, configuration, checkpoints and outputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ----- files ---------------------------------------------------------------------------
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file that should be there is not.
    #[error("{}: missing file{}", path.display(), hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Missing { path: PathBuf, hint: Option<String> },

    // ----- IDX files -----------------------------------------------------------------------
    /// The file is empty.
    #[error("{}: empty file", path.display())]
    Empty { path: PathBuf },

    /// The file ends inside the IDX header.
    #[error("{}: truncated header: an IDX header of {expected} bytes, found {found}", path.display())]
    TruncatedHeader {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    /// The first bytes are not an IDX header.
    #[error("{}: bad magic: expected {expected}, found {found}", path.display())]
    BadMagic {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// An IDX dtype other than unsigned byte.
    #[error("{}: unsupported IDX dtype {name} (0x{code:02x}); only unsigned byte (0x08) is supported", path.display())]
    UnsupportedDtype {
        path: PathBuf,
        code: u8,
        name: &'static str,
    },

    /// A dtype code the IDX format does not define.
    #[error("{}: unknown IDX dtype code 0x{code:02x}", path.display())]
    UnknownDtype { path: PathBuf, code: u8 },

    /// The product of the dimensions does not fit in memory sizes.
    #[error("{}: dimensions {dims:?} overflow", path.display())]
    DimsOverflow { path: PathBuf, dims: Vec<u32> },

    /// The header promises more payload than the file can hold (found before allocating).
    #[error("{}: header promises {expected} payload bytes but the file can hold at most {available}", path.display())]
    TooLarge {
        path: PathBuf,
        expected: u64,
        available: u64,
    },

    /// The payload ended early.
    #[error("{}: truncated: header promises {expected} payload bytes, found {found}", path.display())]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    /// Bytes after the payload.
    #[error("{}: trailing bytes: header promises {expected} payload bytes, found {found}", path.display())]
    TrailingBytes {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    /// The gzip stream is damaged.
    #[error("{}: damaged gzip stream: {reason}", path.display())]
    Gzip { path: PathBuf, reason: String },

    /// The file has the wrong number of dimensions or an unexpected shape.
    #[error("{}: {reason}", path.display())]
    BadShape { path: PathBuf, reason: String },

    // ----- datasets ------------------------------------------------------------------------
    /// Image and label files disagree on the number of examples.
    #[error("{} holds {images} images but {} holds {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        images: usize,
        labels_path: PathBuf,
        labels: usize,
    },

    /// A label outside 0..classes.
    #[error("{}: label {label} at index {index} is out of range (expected 0..{classes})", path.display())]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        classes: usize,
    },

    /// Train and test images differ in shape.
    #[error(
        "train images are {train_rows}x{train_cols} but test images are {test_rows}x{test_cols}"
    )]
    ImageShapeMismatch {
        train_rows: usize,
        train_cols: usize,
        test_rows: usize,
        test_cols: usize,
    },

    /// A decoded file whose SHA-256 differs from the one its checksum file lists.
    #[error("{}: payload SHA-256 mismatch: expected {expected}, found {found}", path.display())]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// A checksum file that is not in `sha256sum` format.
    #[error("{}: line {line}: {reason}", path.display())]
    ChecksumFile {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    // ----- configuration -------------------------------------------------------------------
    /// A setting outside its valid range. `field` is the flag's name without its dashes
    /// (`batch-size`, `student-hidden`); the message prints it as typed: `--batch-size`.
    #[error("invalid --{field}: {reason}")]
    InvalidConfig { field: &'static str, reason: String },

    // ----- training ------------------------------------------------------------------------
    /// The loss became NaN or infinite.
    #[error("non-finite loss {loss} in epoch {epoch}, batch {batch}: training stopped")]
    NonFinite {
        epoch: usize,
        batch: usize,
        loss: f64,
    },

    /// The validation loss became NaN or infinite.
    #[error("non-finite validation loss {loss} after epoch {epoch}: training stopped")]
    NonFiniteValidation { epoch: usize, loss: f64 },

    /// A stop was requested (by a signal): the state was saved after the current batch.
    #[error("interrupted by signal {signal}: training state saved in {}", state.display())]
    Interrupted { signal: i32, state: PathBuf },

    /// A training state that is damaged or does not belong to the model being trained.
    #[error("{}: bad training state: {reason}", path.display())]
    State { path: PathBuf, reason: String },

    /// Resuming with settings that differ from the interrupted run's.
    #[error("{}: cannot resume with different settings: {setting} was {stored} and is now {current}", path.display())]
    ResumeMismatch {
        path: PathBuf,
        setting: String,
        stored: String,
        current: String,
    },

    /// `distill gradcheck`: some analytic gradients disagree with central differences.
    #[error("gradient check failed: {failed} of {total} checks out of tolerance in {dtype}")]
    GradcheckFailed {
        failed: usize,
        total: usize,
        dtype: String,
    },

    // ----- checkpoints ---------------------------------------------------------------------
    /// A checkpoint that cannot be read or does not match what is expected.
    #[error("{}: bad checkpoint: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },

    // ----- metrics and reports -------------------------------------------------------------
    /// ROC/AUC inputs that have no defined answer.
    #[error("ROC: {reason}")]
    Roc { reason: String },

    /// A `report.json` that cannot be serialised or parsed.
    #[error("{}: bad report: {reason}", path.display())]
    Report { path: PathBuf, reason: String },

    /// A plot could not be drawn.
    #[error("{}: plot failed: {reason}", path.display())]
    Plot { path: PathBuf, reason: String },

    /// A folder another process is writing (it holds the folder's lock).
    #[error("{}: locked by {}: one writer per folder; wait for it to finish or choose another --out", dir.display(), pid.map_or("another process".to_string(), |p| format!("process {p}")))]
    Locked { dir: PathBuf, pid: Option<u32> },

    // ----- sweeps --------------------------------------------------------------------------
    /// A sweep folder, its `plan.json` or a job id that is not what `distill sweep` expects.
    #[error("{}: {reason}", path.display())]
    Sweep { path: PathBuf, reason: String },

    /// A job whose dependency has no complete result yet.
    #[error("job {job} depends on job {dependency}, which has not finished (run it first: `distill sweep job DIR {dependency}`)")]
    DependencyPending { job: String, dependency: String },

    /// An output folder that would overwrite a user's files.
    #[error("{}: output folder exists and is not empty; choose another --out", path.display())]
    OutputExists { path: PathBuf },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
