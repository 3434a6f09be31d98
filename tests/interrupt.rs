//! A real `distill run` interrupted (SIGINT, SIGTERM, SIGKILL at random moments) and resumed
//! ends with the files of an uninterrupted run: every checkpoint and plot byte for byte, and
//! report.json equal but for its timings.
//!
//! `DISTILL_KILL_MOMENTS=10 cargo test --release --test interrupt` runs the kill -9 test at 10
//! moments instead of the default 3.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;

/// A short run: 1800 training examples, small models.
const SHORT: [&str; 10] = [
    "--train-limit",
    "2000",
    "--epochs",
    "3",
    "--teacher-hidden",
    "64",
    "--student-hidden",
    "32",
    "--threads",
    "2",
];

/// A longer one, so that a signal sent once the teacher's first epoch is saved arrives while it
/// still trains: 20 epochs that never stop early.
const LONGER: [&str; 12] = [
    "--train-limit",
    "2000",
    "--epochs",
    "20",
    "--patience",
    "20",
    "--teacher-hidden",
    "64",
    "--student-hidden",
    "32",
    "--threads",
    "2",
];

fn distill(flags: &[&str], out_flag: &str, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
    command
        .arg("run")
        .args(flags)
        .arg(out_flag)
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn finished(mut command: Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A child process killed when the test ends, passing or failing.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(child.id() as i32).unwrap();
    kill_process(pid, signal).unwrap();
}

/// Waits until `path` exists (the process has saved its first state).
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited before {path:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(300), "no {path:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// report.json without its timings, which add up the seconds of every process.
fn untimed_report(dir: &Path) -> Value {
    let mut report: Value = serde_json::from_slice(&fs::read(dir.join("report.json")).unwrap())
        .expect("report.json parses");
    for model in report["models"].as_object_mut().unwrap().values_mut() {
        let model = model.as_object_mut().unwrap();
        model.remove("train_seconds");
        model.remove("teacher_logits_seconds");
        model["history"].as_object_mut().unwrap().remove("seconds");
    }
    report
}

fn names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every file of `resumed` is the reference's: the same names; checkpoints and plots byte for
/// byte; report.json but for its timings (report.md and the states hold timings too).
fn assert_same_outputs(reference: &Path, resumed: &Path, what: &str) {
    assert_eq!(names(resumed), names(reference), "{what}: files differ");
    for name in names(reference) {
        if name.ends_with(".safetensors") || name.ends_with(".png") {
            assert!(
                fs::read(reference.join(&name)).unwrap() == fs::read(resumed.join(&name)).unwrap(),
                "{what}: {name} differs"
            );
        }
    }
    assert_eq!(
        untimed_report(resumed),
        untimed_report(reference),
        "{what}: report.json"
    );
}

/// The uninterrupted run of `flags` in `dir/reference`, and when its output folder appeared
/// and when it ended (after data loading the run writes there: the moments worth a kill).
fn reference(dir: &Path, flags: &[&str]) -> (PathBuf, Duration, Duration) {
    let out = dir.join("reference");
    let start = Instant::now();
    let mut child = Killed(distill(flags, "--out", &out).spawn().unwrap());
    let mut appeared = None;
    let status = loop {
        if appeared.is_none() && out.exists() {
            appeared = Some(start.elapsed());
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(status.success(), "the reference run failed");
    (out, appeared.unwrap(), start.elapsed())
}

#[test]
fn sigint_saves_the_state_prints_the_resume_command_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let (reference, ..) = reference(dir.path(), &LONGER);
    for (sig, code) in [(Signal::INT, 130), (Signal::TERM, 143)] {
        let out = dir.path().join(format!("stopped-{code}"));
        let mut command = distill(&LONGER, "--out", &out);
        let mut child = Killed(command.stderr(Stdio::piped()).spawn().unwrap());
        wait_for(&out.join("teacher.state"), &mut child.0);
        signal(&child.0, sig);
        let output = child.0.wait_with_output_ref();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        let expected = format!(
            "to resume: {} run {} --resume {}",
            env!("CARGO_BIN_EXE_distill"),
            LONGER.join(" "),
            out.display()
        );
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(!out.join("scratch.safetensors").exists(), "stopped early");
        assert!(!out.join(".distill.lock").exists(), "lock released");
        finished(distill(&LONGER, "--resume", &out));
        assert_same_outputs(&reference, &out, &format!("signal {code}"));
    }
}

#[test]
fn kill_9_at_random_moments_then_resume_gives_byte_identical_outputs() {
    let moments: usize = std::env::var("DISTILL_KILL_MOMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let (reference, writing, took) = reference(dir.path(), &SHORT);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(12);
    let mut identical = 0;
    for k in 0..moments {
        let at = writing + (took - writing).mul_f64(rng.gen_range(0.0..1.0));
        let out = dir.path().join(format!("killed-{k}"));
        let mut child = distill(&SHORT, "--out", &out).spawn().unwrap();
        std::thread::sleep(at);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let before = if out.is_dir() {
            names(&out)
        } else {
            BTreeSet::new()
        };
        eprintln!("moment {k}: killed after {at:?}, leaving {before:?}");
        let flag = if out.is_dir() { "--resume" } else { "--out" };
        finished(distill(&SHORT, flag, &out));
        assert_same_outputs(&reference, &out, &format!("moment {k} ({at:?})"));
        identical += 1;
    }
    eprintln!("{identical}/{moments} moments byte-identical");
}

/// `Child::wait_with_output` for a child inside [`Killed`].
trait WaitRef {
    fn wait_with_output_ref(&mut self) -> Output;
}

impl WaitRef for Child {
    fn wait_with_output_ref(&mut self) -> Output {
        let mut stderr = Vec::new();
        if let Some(mut pipe) = self.stderr.take() {
            std::io::Read::read_to_end(&mut pipe, &mut stderr).unwrap();
        }
        Output {
            status: self.wait().unwrap(),
            stdout: Vec::new(),
            stderr,
        }
    }
}
