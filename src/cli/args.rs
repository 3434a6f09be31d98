//! The flags of every subcommand, and their conversion to the library's typed configs.

use std::path::PathBuf;

use clap::Args;
use distill::config::{ModelConfig, TrainConfig};
use distill::data::default_data_dir;
use distill::loss::{DistillLoss, SoftScale};
use distill::pipeline::RunConfig;

/// Flags shared by every training command.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Folder of the four MNIST IDX files (raw or .gz).
    #[arg(long, value_name = "DIR", default_value_os_t = default_data_dir())]
    pub data: PathBuf,
    /// Output folder [default: a new folder under runs/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the interrupted run in DIR (same flags otherwise): finished models are kept,
    /// the unfinished one continues from its last saved state.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Maximum number of epochs.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Examples per gradient step.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Fraction of the training set held out for validation, from its end (Keras' validation_split).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub validation_split: f64,
    /// Epochs without a lower validation loss before early stopping.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub learning_rate: f64,
    /// Seed of initial weights, dropout masks and shuffles.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Use only the first N training examples (before the validation split).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

impl TrainArgs {
    /// The output folder: `--resume DIR` or `--out DIR` (or none: a new one).
    pub fn out_dir(&self) -> Option<&std::path::Path> {
        self.resume.as_deref().or(self.out.as_deref())
    }

    /// The fit settings these flags describe.
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            validation_split: self.validation_split,
            patience: self.patience,
            learning_rate: self.learning_rate,
            seed: self.seed,
            train_limit: self.train_limit,
        }
    }
}

/// The shape of the model a command trains.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Hidden layer widths, comma-separated [default: teacher 1200,1200; student 300].
    #[arg(long, value_delimiter = ',', value_name = "W1,W2,..")]
    pub hidden: Option<Vec<usize>>,
    /// Dropout rate after each hidden ReLU [default: teacher 0.5; student 0].
    #[arg(long, allow_negative_numbers = true)]
    pub dropout: Option<f64>,
}

impl ModelArgs {
    /// `default` with the flags that were given applied.
    pub fn model_config(&self, default: ModelConfig) -> ModelConfig {
        ModelConfig {
            hidden: self.hidden.clone().unwrap_or(default.hidden),
            dropout: self.dropout.unwrap_or(default.dropout),
        }
    }
}

/// The distillation loss.
#[derive(Args, Debug, Clone)]
pub struct DistillArgs {
    /// Weight of the hard loss CE(y, student); the soft loss gets 1 - alpha.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Softmax temperature T of the soft targets.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    pub temperature: f64,
    /// Scale of the soft term: one (the notebook) or t-squared (the paper's T^2).
    #[arg(long, value_enum, default_value_t = SoftScale::One)]
    pub soft_scale: SoftScale,
}

impl DistillArgs {
    /// The loss these flags describe.
    pub fn loss(&self) -> DistillLoss {
        DistillLoss {
            alpha: self.alpha,
            temperature: self.temperature,
            soft_scale: self.soft_scale,
        }
    }
}

/// Arguments of `distill run` (also the top level: `distill` alone runs the notebook).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub distill: DistillArgs,
    /// Reuse a trained teacher checkpoint instead of training one.
    #[arg(long, value_name = "CKPT")]
    pub teacher: Option<PathBuf>,
    /// Teacher hidden widths.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1200,1200",
        value_name = "W1,W2,.."
    )]
    pub teacher_hidden: Vec<usize>,
    /// Teacher dropout rate.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub teacher_dropout: f64,
    /// Student hidden widths.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "300",
        value_name = "W1,W2,.."
    )]
    pub student_hidden: Vec<usize>,
    /// Student dropout rate.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub student_dropout: f64,
}

impl RunArgs {
    /// The pipeline settings these flags describe.
    pub fn run_config(&self) -> RunConfig {
        RunConfig {
            data_dir: self.train.data.clone(),
            out_dir: self.train.out_dir().map(PathBuf::from),
            resume: self.train.resume.is_some(),
            train: self.train.train_config(),
            teacher: ModelConfig {
                hidden: self.teacher_hidden.clone(),
                dropout: self.teacher_dropout,
            },
            student: ModelConfig {
                hidden: self.student_hidden.clone(),
                dropout: self.student_dropout,
            },
            distill: self.distill.loss(),
            teacher_checkpoint: self.teacher.clone(),
        }
    }
}

/// Arguments of `distill teacher`.
#[derive(Args, Debug, Clone)]
pub struct TeacherArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Arguments of `distill student`.
#[derive(Args, Debug, Clone)]
pub struct StudentArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub distill: DistillArgs,
    /// The trained teacher to distil from (required unless --scratch).
    #[arg(long, value_name = "CKPT", required_unless_present = "scratch")]
    pub teacher: Option<PathBuf>,
    /// Train the student from scratch with plain cross-entropy (no teacher).
    #[arg(long, conflicts_with = "teacher")]
    pub scratch: bool,
}

/// Arguments of `distill eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The checkpoint to evaluate on the test set.
    #[arg(value_name = "CKPT")]
    pub checkpoint: PathBuf,
    /// Folder of the four MNIST IDX files.
    #[arg(long, value_name = "DIR", default_value_os_t = default_data_dir())]
    pub data: PathBuf,
    /// Print one JSON object (test_accuracy, test_errors, test_loss, auc) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `distill data`.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
    /// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz.
    #[arg(long, value_name = "DIR", default_value_os_t = default_data_dir())]
    pub data: PathBuf,
}
