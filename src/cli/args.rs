//! The flags of every subcommand, and their conversion to the library's typed configs.

use std::path::PathBuf;

use clap::Args;
use distill::config::{LrSchedule, ModelConfig, Regularisation, TrainConfig};
use distill::data::{DataSource, TransferSet};
use distill::loss::{DistillLoss, SoftScale};
use distill::nn::BiasShift;
use distill::paper::PaperConfig;
use distill::pipeline::RunConfig;
use distill::study::Dtype;

/// `--data DIR`: where the MNIST comes from, shared by every command that reads it.
#[derive(Args, Debug, Clone)]
pub struct DataFlag {
    /// Folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
    /// and t10k-labels-idx1-ubyte, each raw or .gz [default: the MNIST embedded in the binary].
    #[arg(id = "data", long = "data", value_name = "DIR")]
    pub path: Option<PathBuf>,
}

impl DataFlag {
    /// The source the flag names (the embedded MNIST when it is absent).
    pub fn source(&self) -> DataSource {
        DataSource::from_flag(self.path.as_deref())
    }
}

/// Flags shared by every training command.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataFlag,
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
    /// Learning rate over the epochs: constant, or cosine (half a cosine from the learning rate
    /// down towards 0 over --epochs).
    #[arg(long, value_enum, default_value_t = LrSchedule::Constant)]
    pub lr_schedule: LrSchedule,
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
            lr_schedule: self.lr_schedule,
            regularisation: Regularisation::default(),
        }
    }
}

/// The teacher's regularisers (the 2012 dropout recipe), each off by default.
#[derive(Args, Debug, Clone)]
pub struct RegularisationArgs {
    /// Dropout rate on the input pixels (the 2012 recipe: 0.2).
    #[arg(
        long,
        default_value_t = 0.0,
        allow_negative_numbers = true,
        value_name = "P"
    )]
    pub input_dropout: f64,
    /// After every optimiser step, rescale each hidden unit's incoming weight vector to L2 norm
    /// at most C.
    #[arg(long, allow_negative_numbers = true, value_name = "C")]
    pub max_norm: Option<f64>,
    /// Shift every training image by a random integer offset in [-P, P] along each axis each
    /// time it is drawn (zero fill); validation and test images are never shifted.
    #[arg(long, default_value_t = 0, value_name = "PIXELS")]
    pub jitter: usize,
}

impl RegularisationArgs {
    /// The regularisers these flags describe.
    pub fn regularisation(&self) -> Regularisation {
        Regularisation {
            input_dropout: self.input_dropout,
            max_norm: self.max_norm,
            jitter: self.jitter,
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

/// The teacher's shape in commands that also train students (`distill run`, `distill sweep plan`).
#[derive(Args, Debug, Clone)]
pub struct TeacherShapeArgs {
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
}

impl TeacherShapeArgs {
    /// The teacher's [`ModelConfig`].
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            hidden: self.teacher_hidden.clone(),
            dropout: self.teacher_dropout,
        }
    }
}

/// Arguments of `distill run` (also the top level: `distill` alone runs the notebook).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// The teacher's regularisers (the students are not regularised).
    #[command(flatten)]
    pub regularisation: RegularisationArgs,
    #[command(flatten)]
    pub distill: DistillArgs,
    /// Reuse a trained teacher checkpoint instead of training one.
    #[arg(long, value_name = "CKPT")]
    pub teacher: Option<PathBuf>,
    #[command(flatten)]
    pub teacher_shape: TeacherShapeArgs,
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
            data_dir: self.train.data.source(),
            out_dir: self.train.out_dir().map(PathBuf::from),
            resume: self.train.resume.is_some(),
            train: TrainConfig {
                regularisation: self.regularisation.regularisation(),
                ..self.train.train_config()
            },
            teacher: self.teacher_shape.model_config(),
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
    pub regularisation: RegularisationArgs,
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
    /// Drop every training example of these classes from the transfer set (validation and
    /// test are untouched).
    #[arg(long, value_delimiter = ',', value_name = "C1,C2,..")]
    pub transfer_omit: Vec<u8>,
    /// Keep only the training examples of these classes in the transfer set.
    #[arg(long, value_delimiter = ',', value_name = "C1,C2,..")]
    pub transfer_only: Vec<u8>,
    /// After training, add DELTA to the output bias of CLASS and save that model separately as
    /// <name>_shifted.safetensors (the unshifted one is kept).
    #[arg(
        long,
        value_name = "CLASS=DELTA[,CLASS=DELTA]",
        allow_hyphen_values = true
    )]
    pub bias_shift: Option<BiasShift>,
}

impl StudentArgs {
    /// The transfer set these flags describe.
    pub fn transfer_set(&self) -> TransferSet {
        TransferSet {
            omit: self.transfer_omit.clone(),
            only: self.transfer_only.clone(),
        }
    }
}

/// Arguments of `distill paper`.
#[derive(Args, Debug, Clone)]
pub struct PaperArgs {
    #[command(flatten)]
    pub data: DataFlag,
    /// Output folder [default: a new folder under runs/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the interrupted `distill paper` in DIR (same flags otherwise): finished models
    /// are kept, the unfinished one continues from its last saved state.
    #[arg(long, value_name = "DIR", conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// The same steps on 3,000 training images and 2 epochs per model (under a minute).
    #[arg(long)]
    pub quick: bool,
    /// Seed of every model's weights, dropout masks, shuffles and jitter.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Reuse a trained teacher checkpoint instead of training one.
    #[arg(long, value_name = "CKPT")]
    pub teacher: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    pub quiet: bool,
}

impl PaperArgs {
    /// The settings these flags describe.
    pub fn paper_config(&self) -> PaperConfig {
        PaperConfig {
            data_dir: self.data.source(),
            out_dir: self.resume.clone().or_else(|| self.out.clone()),
            resume: self.resume.is_some(),
            quick: self.quick,
            seed: self.seed,
            teacher_checkpoint: self.teacher.clone(),
        }
    }
}

/// Arguments of `distill eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The checkpoint to evaluate on the test set.
    #[arg(value_name = "CKPT")]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataFlag,
    /// Print one JSON object (test_accuracy, test_errors, test_loss, auc) on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `distill data`.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    #[command(flatten)]
    pub data: DataFlag,
}

/// Arguments of `distill explain`.
#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {
    /// The teacher checkpoint [default: a freshly initialised 784-1200-1200-10, said so].
    #[arg(long, value_name = "CKPT")]
    pub teacher: Option<PathBuf>,
    /// The student checkpoint [default: a freshly initialised 784-300-10, said so].
    #[arg(long, value_name = "CKPT")]
    pub student: Option<PathBuf>,
    /// Test image(s) to explain; several, comma-separated, make a tiny batch.
    #[arg(long, value_delimiter = ',', default_value = "0", value_name = "I,..")]
    pub index: Vec<usize>,
    #[command(flatten)]
    pub distill: DistillArgs,
    #[command(flatten)]
    pub data: DataFlag,
    /// Print one JSON object instead of the text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `distill soft-targets`.
#[derive(Args, Debug, Clone)]
pub struct SoftTargetsArgs {
    /// The model whose soft targets are shown.
    #[arg(value_name = "CKPT")]
    pub checkpoint: PathBuf,
    /// Test images, comma-separated [default: the first 3 the model gets wrong, then the first
    /// 3 it gets right].
    #[arg(long, value_delimiter = ',', value_name = "I,..")]
    pub index: Option<Vec<usize>>,
    /// Temperatures, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,5,10,20",
        allow_negative_numbers = true,
        value_name = "T,.."
    )]
    pub temperature: Vec<f64>,
    #[command(flatten)]
    pub data: DataFlag,
    /// Output folder for soft_targets.png [default: a new folder under runs/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object ({"images": [{"index", "label", "probabilities": {"T": [..]}}]}).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `distill similarity`.
#[derive(Args, Debug, Clone)]
pub struct SimilarityArgs {
    /// The model whose class similarities are measured.
    #[arg(value_name = "CKPT")]
    pub checkpoint: PathBuf,
    /// Softmax temperature T of the soft targets.
    #[arg(long, default_value_t = distill::study::similarity::DEFAULT_TEMPERATURE, allow_negative_numbers = true)]
    pub temperature: f64,
    #[command(flatten)]
    pub data: DataFlag,
    /// Output folder for similarity.png [default: a new folder under runs/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object ({"temperature": T, "matrix": [[10 numbers] x 10], ...}).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `distill gradcheck`.
#[derive(Args, Debug, Clone)]
pub struct GradcheckArgs {
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Element type the checked code runs in (f32 shows why checks run in f64).
    #[arg(long, value_enum, default_value_t = Dtype::F64)]
    pub dtype: Dtype,
    /// Print one JSON object ({"dtype", "checks": [{"op", "parameter", "max_abs_error", ...}]}).
    #[arg(long)]
    pub json: bool,
}
