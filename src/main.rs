//! `distill`: the command line. Parses flags into typed arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, CommandFactory, Parser, Subcommand};
use distill::data::{default_data_dir, verify_payloads, DataSummary, Mnist, MnistFiles};

/// Knowledge distillation (Hinton, Vinyals & Dean 2015) on MNIST with a hand-written,
/// gradient-checked numeric engine.
#[derive(Parser)]
#[command(name = "distill", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Load and validate a data set: counts, image shape, per-class counts, mean pixel and
    /// payload checksums.
    Data(DataArgs),
}

/// Arguments of `distill data`.
#[derive(Args)]
struct DataArgs {
    /// Directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
    /// t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz.
    #[arg(long, value_name = "DIR", default_value_os_t = default_data_dir())]
    data: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Data(args)) => data(&args),
        None => Cli::command()
            .print_help()
            .map_err(|e| distill::Error::io("stdout", e)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `distill data`: load, validate, describe, and check the decoded payloads.
fn data(args: &DataArgs) -> distill::Result<()> {
    let start = Instant::now();
    let files = MnistFiles::find(&args.data)?;
    let mnist = Mnist::load_files(&files)?;
    let seconds = start.elapsed().as_secs_f64();
    print!(
        "{}",
        DataSummary {
            files: &files,
            mnist: &mnist
        }
    );
    println!("loaded in {seconds:.3} s");
    println!("{}", verify_payloads(&args.data, &files, &mnist)?);
    Ok(())
}
