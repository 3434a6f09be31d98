//! Ctrl-C and SIGTERM: the first one stops training cleanly, the second one exits at once.
//!
//! ```text
//! 1st SIGINT/SIGTERM  Stop::request(signal): the fit finishes its batch, writes its state and
//!                     returns Error::Interrupted; main prints the resume command and exits
//!                     with 128 + signal (130 for SIGINT, 143 for SIGTERM)
//! 2nd                 exit at once with the same code (the last epoch's state is on disk)
//! ```

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use distill::train::Stop;
use distill::{Error, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// Installs the handlers; returns the flag they set.
///
/// # Errors
/// [`Error::Io`] when a handler cannot be installed.
pub fn install() -> Result<Stop> {
    let stop = Stop::default();
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        let io = |e| Error::io("signal handler", e);
        // In registration order: exit if this is the second signal, then remember the first.
        flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&signalled))
            .map_err(io)?;
        flag::register(signal, Arc::clone(&signalled)).map_err(io)?;
        flag::register_usize(signal, stop.flag(), signal as usize).map_err(io)?;
    }
    Ok(stop)
}

/// The command that continues an interrupted one: its own arguments with `--out` and `--resume`
/// (and their values) replaced by `--resume <dir>`, shell-quoted.
pub fn resume_command(args: &[OsString], dir: &Path) -> String {
    let mut kept: Vec<String> = Vec::new();
    let mut skip_value = false;
    for arg in args.iter().map(|a| a.to_string_lossy()) {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        match arg.as_ref() {
            "--out" | "--resume" => skip_value = true,
            a if a.starts_with("--out=") || a.starts_with("--resume=") => {}
            a => kept.push(quote(a)),
        }
    }
    kept.push("--resume".into());
    kept.push(quote(&dir.to_string_lossy()));
    kept.join(" ")
}

/// `text` as one shell word: as is when it is plainly safe, else in single quotes.
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_command_replaces_out_and_keeps_every_other_flag() {
        let args: Vec<OsString> = [
            "target/release/distill",
            "run",
            "--epochs",
            "3",
            "--out",
            "old dir",
            "--seed=7",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(
            resume_command(&args, Path::new("runs/it's")),
            r"target/release/distill run --epochs 3 --seed=7 --resume 'runs/it'\''s'"
        );
        let again: Vec<OsString> = ["distill", "teacher", "--resume=x"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            resume_command(&again, Path::new("x")),
            "distill teacher --resume x"
        );
    }
}
