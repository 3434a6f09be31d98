//! A real `distill run` interrupted (SIGINT, SIGTERM, SIGKILL at random moments) and resumed
//! ends with the files of an uninterrupted run: every checkpoint and plot byte for byte, and
//! report.json equal but for its timings. A second signal exits at once, where the first waits
//! for the end of a batch.
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

/// Polls `done` every 5 ms until it gives a value; fails after 5 minutes, naming `what`.
fn poll<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "never {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `ready` holds, asserting the child still runs meanwhile.
fn wait_until(child: &mut Child, what: &str, ready: impl Fn(&Child) -> bool) {
    poll(what, || {
        assert!(child.try_wait().unwrap().is_none(), "exited before {what}");
        ready(child).then_some(())
    })
}

/// Waits until `path` exists (the process has saved its first state).
fn wait_for(path: &Path, child: &mut Child) {
    wait_until(child, &format!("{path:?}"), |_| path.exists());
}

/// `signal`'s bit in a signal mask of `/proc/PID/status`.
fn bit(signal: Signal) -> u64 {
    1 << (signal.as_raw() - 1)
}

/// The signal mask `key` of the child's `/proc/PID/status`: `SigCgt` the signals it has handlers
/// for, `ShdPnd` those sent to it and not yet handled.
fn signal_mask(child: &Child, key: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {status}"));
    u64::from_str_radix(mask.trim(), 16).unwrap()
}

/// Every thread of the child asleep in the kernel (state S): none is inside a signal handler.
fn asleep(child: &Child) -> bool {
    let tasks = fs::read_dir(format!("/proc/{}/task", child.id())).unwrap();
    tasks.into_iter().all(|task| {
        let stat = fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
        // "pid (comm) S ...": the state follows the command name, which may hold spaces
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
    })
}

/// Waits for the child's exit: its status and stderr.
fn exited(child: &mut Child) -> (std::process::ExitStatus, String) {
    let status = poll("exited", || child.try_wait().unwrap());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status, stderr)
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

/// A first SIGINT waits for the run to reach the end of a batch; a second one exits at once.
///
/// The run is held before its first batch for as long as the test likes: a student whose
/// `--teacher` is a FIFO nobody writes to yet blocks reading it. Once the first SIGINT is handled
/// (no longer pending, every thread back asleep), the student lives on; fed its teacher, it stops
/// cleanly after one batch (state saved, exit 130); sent a second SIGINT instead, it exits with
/// 130 while still blocked, saving nothing.
#[test]
fn a_second_signal_exits_at_once_while_the_first_waits_for_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = ["--train-limit", "600", "--epochs", "2", "--threads", "2"];
    let teacher = dir.path().join("teacher");
    let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
    command.args(["teacher", "--hidden", "16", "--quiet", "--out"]);
    command.arg(&teacher).args(tiny);
    finished(command);
    let fifo = dir.path().join("teacher.fifo");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .unwrap();
    for signals in [1, 2] {
        let out = dir.path().join(format!("student-{signals}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
        command
            .args(["student", "--hidden", "8", "--teacher"])
            .arg(&fifo);
        command.arg("--out").arg(&out).args(tiny);
        let mut child = Killed(command.stderr(Stdio::piped()).spawn().unwrap());
        // SIGTERM's handlers are installed after all of SIGINT's (src/cli/signals.rs).
        let both = bit(Signal::INT) | bit(Signal::TERM);
        wait_until(&mut child.0, "the handlers are installed", |c| {
            signal_mask(c, "SigCgt") & both == both
        });
        signal(&child.0, Signal::INT);
        wait_until(&mut child.0, "the first SIGINT is handled", |c| {
            signal_mask(c, "ShdPnd") & bit(Signal::INT) == 0 && asleep(c)
        });
        if signals == 2 {
            signal(&child.0, Signal::INT);
        } else {
            let (fifo, bytes) = (fifo.clone(), fs::read(teacher.join("teacher.safetensors")));
            // Opening the FIFO blocks until the student reads it (forever if it never does:
            // then `exited` below is what fails).
            std::thread::spawn(move || fs::write(fifo, bytes.unwrap()));
        }
        let (status, stderr) = exited(&mut child.0);
        assert_eq!(status.code(), Some(130), "{signals} signals: {stderr}");
        let clean = stderr.contains("interrupted: training state saved in");
        assert_eq!(clean, signals == 1, "{signals} signals: {stderr}");
        assert_eq!(out.join("distilled.state").is_file(), signals == 1);
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
