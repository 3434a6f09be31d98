//! `distill sweep job` and `sweep run` with real (tiny) trainings: one, two and interrupted
//! worker pools give byte-identical results, a killed job leaves no result and continues to the
//! same bytes, nothing complete runs twice, a job trains what `distill run` with its seed
//! trains, a failed job's dependants are skipped, and a job another process holds is retried.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use distill::lock::FolderLock;
use distill::sweep::run::log_path;
use distill::sweep::{Job, JobKind, Plan};
use rustix::process::{kill_process_group, Pid, Signal};
use serde_json::Value;

fn distill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .unwrap()
}

/// `distill sweep run DIR --jobs JOBS --quiet`, whatever its exit status.
fn sweep_run(dir: &Path, jobs: &str) -> Output {
    distill(&[
        "sweep",
        "run",
        dir.to_str().unwrap(),
        "--jobs",
        jobs,
        "--quiet",
    ])
}

fn ok(args: &[&str]) -> Output {
    let out = distill(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    out
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// 2 teachers, 2 scratch and 2 distilled students, each a second or so.
const TINY: [&str; 14] = [
    "--train-limit",
    "600",
    "--epochs",
    "2",
    "--teacher-hidden",
    "16",
    "--student-hidden",
    "8",
    "--temperature",
    "3",
    "--seeds",
    "2",
    "--soft-scale",
    "t-squared",
];

fn plan(dir: &Path, grid: &[&str]) -> Plan {
    let mut args = vec!["sweep", "plan", "--out", dir.to_str().unwrap(), "--quiet"];
    args.extend(grid);
    ok(&args);
    Plan::load(dir).unwrap()
}

/// `grid` planned in `tmp/a` and in `tmp/b`: a sweep to interrupt and its uninterrupted twin.
fn planned_twice(tmp: &Path, grid: &[&str]) -> (PathBuf, PathBuf, Plan) {
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    let p = plan(&a, grid);
    plan(&b, grid);
    (a, b, p)
}

/// The training state of teacher job `id` while it trains: `DIR/jobs/.<id>.tmp/teacher.state`.
fn teacher_state(dir: &Path, id: &str) -> PathBuf {
    dir.join("jobs")
        .join(format!(".{id}.tmp"))
        .join("teacher.state")
}

/// A result's numbers: result.json without its timings.
fn numbers(path: &Path) -> Value {
    untimed(serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap())
}

/// A model report (result.json, or a model of report.json) without its timings.
fn untimed(mut v: Value) -> Value {
    let object = v.as_object_mut().unwrap();
    object.remove("train_seconds");
    object.remove("teacher_logits_seconds");
    object["history"].as_object_mut().unwrap().remove("seconds");
    v
}

/// The jobs' checkpoint bytes and result numbers in `a` equal those in `b`.
fn assert_same_results(jobs: &[Job], a: &Path, b: &Path) {
    for job in jobs {
        let (x, y) = (a.join("jobs").join(&job.id), b.join("jobs").join(&job.id));
        let checkpoint = format!("{}.safetensors", job.kind.name());
        assert_eq!(
            fs::read(x.join(&checkpoint)).unwrap(),
            fs::read(y.join(&checkpoint)).unwrap(),
            "{} checkpoint",
            job.id
        );
        let (r, s) = (x.join("result.json"), y.join("result.json"));
        assert_eq!(numbers(&r), numbers(&s), "{} result", job.id);
        let mut files: Vec<_> = fs::read_dir(&x)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        files.sort();
        let mut want = vec!["result.json", checkpoint.as_str()];
        want.sort_unstable();
        assert_eq!(files, want, "{}: only the results", job.id);
    }
}

/// Polls `ready` until it holds; fails after 2 minutes, naming `what` it waited for.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "not in 2 minutes: {what}");
        sleep(Duration::from_millis(10));
    }
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

fn complete_jobs(dir: &Path, plan: &Plan) -> Vec<PathBuf> {
    plan.jobs
        .iter()
        .map(|j| dir.join("jobs").join(&j.id).join("result.json"))
        .filter(|p| p.is_file())
        .collect()
}

#[test]
fn one_two_and_killed_worker_pools_give_the_same_bytes_and_nothing_runs_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let p = plan(&a, &TINY);
    plan(&b, &TINY);
    plan(&c, &TINY);
    let (sa, sb, sc) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    );

    ok(&["sweep", "run", sa, "--jobs", "1", "--quiet"]);
    ok(&["sweep", "run", sb, "--jobs", "2", "--quiet"]);
    assert_same_results(&p.jobs, &a, &b);

    // A finished sweep runs nothing: every result stays as it was.
    let before: Vec<_> = complete_jobs(&a, &p).iter().map(|r| modified(r)).collect();
    let out = ok(&["sweep", "run", sa, "--jobs", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("6 complete before, 0 run now"), "{stdout}");
    let after: Vec<_> = complete_jobs(&a, &p).iter().map(|r| modified(r)).collect();
    assert_eq!(before, after);

    // kill -9 of `sweep run` once a job is complete (its worker may live on), then run again.
    let mut run = spawn(&["sweep", "run", sc, "--jobs", "1", "--quiet"]);
    wait_until("a job finished", || !complete_jobs(&c, &p).is_empty());
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let finished: Vec<(PathBuf, SystemTime)> = complete_jobs(&c, &p)
        .into_iter()
        .map(|r| (r.clone(), modified(&r)))
        .collect();
    assert!(finished.len() < p.jobs.len(), "killed before the end");
    ok(&["sweep", "run", sc, "--jobs", "2", "--quiet"]);
    for (result, time) in &finished {
        assert_eq!(modified(result), *time, "{} ran twice", result.display());
    }
    assert_same_results(&p.jobs, &a, &c);

    for dir in [sa, sc] {
        ok(&["sweep", "report", dir]);
    }
    assert_eq!(
        fs::read(a.join("summary.json")).unwrap(),
        fs::read(c.join("summary.json")).unwrap()
    );
}

#[test]
fn a_student_waits_for_its_teacher_and_a_complete_job_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let p = plan(&dir, &TINY);
    let d = dir.to_str().unwrap();
    let student = p
        .jobs
        .iter()
        .find(|j| j.kind == JobKind::Distilled)
        .unwrap();
    let out = distill(&["sweep", "job", d, &student.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("depends on job {}", student.depends_on[0])),
        "{err}"
    );
    assert!(err.contains("has not finished"), "{err}");
    assert!(!dir.join("jobs").join(&student.id).exists());

    let teacher = &student.depends_on[0];
    let index = p
        .jobs
        .iter()
        .position(|j| &j.id == teacher)
        .unwrap()
        .to_string();
    ok(&["sweep", "job", d, "--index", &index, "--quiet"]);
    let result = dir.join("jobs").join(teacher).join("result.json");
    let (bytes, time) = (fs::read(&result).unwrap(), modified(&result));
    let out = ok(&["sweep", "job", d, teacher]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already complete"));
    assert_eq!(
        (fs::read(&result).unwrap(), modified(&result)),
        (bytes, time)
    );
    ok(&["sweep", "job", d, &student.id, "--quiet"]);
}

#[test]
fn a_job_killed_mid_training_leaves_no_result_and_continues_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    // One teacher long enough to be caught between two epochs.
    let grid = [
        "--train-limit",
        "6000",
        "--epochs",
        "8",
        "--teacher-hidden",
        "512",
        "--seeds",
        "1",
    ];
    let (a, b, p) = planned_twice(tmp.path(), &grid);
    let teacher = &p.jobs[0].id;
    ok(&["sweep", "job", b.to_str().unwrap(), teacher, "--quiet"]);

    let sa = a.to_str().unwrap();
    let mut job = spawn(&["sweep", "job", sa, teacher]);
    let state = teacher_state(&a, teacher);
    wait_until("an epoch finished", || state.is_file());
    job.kill().unwrap(); // SIGKILL: the lock file stays behind, held by no one
    job.wait().unwrap();
    assert!(
        !a.join("jobs").join(teacher).exists(),
        "no result from a killed job"
    );
    assert!(a.join("locks").join(teacher).join(".distill.lock").exists());

    let out = ok(&["sweep", "job", sa, teacher]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("taking over the lock"), "{err}");
    assert!(err.contains("continuing the interrupted run"), "{err}");
    assert_same_results(&p.jobs[..1], &a, &b);
    assert!(!a.join("jobs").join(format!(".{teacher}.tmp")).exists());
}

#[test]
fn a_failed_job_is_reported_and_the_others_finish() {
    let tmp = tempfile::tempdir().unwrap();
    // A reused teacher that disappears after planning: every distilled job fails.
    let teacher = tmp.path().join("teacher");
    ok(&[
        "teacher",
        "--out",
        teacher.to_str().unwrap(),
        "--train-limit",
        "600",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--quiet",
    ]);
    let ckpt = teacher.join("teacher.safetensors");
    let dir = tmp.path().join("sweep");
    let mut grid = TINY[..12].to_vec(); // 2 seeds; no teacher jobs with --teacher
    grid.extend(["--teacher", ckpt.to_str().unwrap()]);
    let p = plan(&dir, &grid);
    fs::remove_file(&ckpt).unwrap();
    let out = sweep_run(&dir, "2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("2 jobs failed"), "{err}");
    for job in &p.jobs {
        let done = dir.join("jobs").join(&job.id).join("result.json").is_file();
        assert_eq!(done, job.kind == JobKind::Scratch, "{}", job.id);
        if job.kind == JobKind::Distilled {
            assert!(err.contains(&job.id), "{err}");
        }
    }
}

#[test]
fn a_sweep_job_trains_the_model_distill_run_trains_with_its_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let mut grid = TINY.to_vec();
    grid[11] = "1"; // --seeds 1: seed 1 only
    let p = plan(&dir, &grid);
    assert_eq!(p.jobs.len(), 3);
    ok(&[
        "sweep",
        "run",
        dir.to_str().unwrap(),
        "--jobs",
        "1",
        "--quiet",
    ]);
    let run = tmp.path().join("run");
    let mut args = vec![
        "run",
        "--out",
        run.to_str().unwrap(),
        "--seed",
        "1",
        "--quiet",
    ];
    args.extend(&TINY[..8]); // --train-limit, --epochs, --teacher-hidden, --student-hidden
    args.extend(["--temperature", "3", "--soft-scale", "t-squared"]);
    ok(&args);
    let report: Value =
        serde_json::from_str(&fs::read_to_string(run.join("report.json")).unwrap()).unwrap();
    for job in &p.jobs {
        let name = job.kind.name();
        let job_dir = dir.join("jobs").join(&job.id);
        let checkpoint = format!("{name}.safetensors");
        // The tensors, not the files: each file's metadata holds its own command's config.
        let swept = distill::checkpoint::load(&job_dir.join(&checkpoint)).unwrap();
        let notebook = distill::checkpoint::load(&run.join(&checkpoint)).unwrap();
        assert!(swept.layers == notebook.layers, "{}: tensors", job.id);
        assert_eq!(
            numbers(&job_dir.join("result.json")),
            untimed(report["models"][name].clone()),
            "{}: report",
            job.id
        );
    }
}

#[test]
fn a_failed_teacher_skips_its_students_and_each_failure_shows_its_logs_last_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Data that disappears after planning: every job that loads it fails.
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    let dir = tmp.path().join("sweep");
    let mut grid = TINY.to_vec();
    grid.extend(["--data", data.to_str().unwrap()]);
    let p = plan(&dir, &grid);
    fs::remove_dir(&data).unwrap();
    let out = sweep_run(&dir, "1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // 2 teachers and 2 scratch students fail; the 2 distilled students never start.
    assert!(
        err.contains("4 jobs failed (2 skipped after them)"),
        "{err}"
    );
    for job in &p.jobs {
        let log = dir.join("logs").join(format!("{}.log", job.id));
        if job.kind == JobKind::Distilled {
            assert!(!log.exists(), "{}: skipped, never started", job.id);
            assert!(!err.contains(&job.id), "{err}");
        } else {
            let text = fs::read_to_string(&log).unwrap();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
            assert!(last.contains(data.to_str().unwrap()), "{}: {last}", job.id);
            let reported = format!("{}: {last} (log: {})", job.id, log.display());
            assert!(err.contains(&reported), "{err}");
        }
        assert!(!dir.join("jobs").join(&job.id).exists(), "{}", job.id);
    }
}

#[test]
fn sweep_run_retries_a_job_another_process_holds_until_it_is_free() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let mut grid = TINY.to_vec();
    grid[11] = "1"; // --seeds 1: a teacher, a scratch and a distilled student
    let p = plan(&dir, &grid);
    let teacher = &p.jobs[0].id;
    let lock_dir = dir.join("locks").join(teacher);
    fs::create_dir_all(&lock_dir).unwrap();
    let held = FolderLock::acquire(&lock_dir).unwrap();
    let mut run = spawn(&["sweep", "run", dir.to_str().unwrap(), "--jobs", "1"]);
    // The teacher's worker meets the lock and exits with 75 (its log names the holder) ...
    let log = dir.join("logs").join(format!("{teacher}.log"));
    wait_until("the worker met the lock", || {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("locked by process")
    });
    // ... and `sweep run` waits for it instead of failing it; freed, the job runs.
    drop(held);
    let status = run.wait().unwrap();
    assert!(status.success(), "sweep run failed a locked job");
    assert_eq!(complete_jobs(&dir, &p).len(), p.jobs.len());
}

#[test]
fn each_worker_gets_the_cores_over_n_threads_or_the_global_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut grid = TINY.to_vec();
    grid[11] = "1"; // --seeds 1: a teacher, a scratch and a distilled student
    grid[3] = "1"; // --epochs 1
    for (threads, jobs, expected) in [
        (None, 1, cores),
        (None, 2, (cores / 2).max(1)),
        (Some("3"), 2, 3),
    ] {
        let dir = tmp.path().join(format!("jobs-{jobs}-threads-{threads:?}"));
        let p = plan(&dir, &grid);
        let jobs = jobs.to_string();
        let mut args = vec![
            "sweep",
            "run",
            dir.to_str().unwrap(),
            "--jobs",
            &jobs,
            "--quiet",
        ];
        args.extend(threads.map(|t| ["--threads", t]).iter().flatten());
        ok(&args);
        for job in &p.jobs {
            let log = fs::read_to_string(log_path(&dir, &job.id)).unwrap();
            assert!(
                log.contains(&format!(" s on {expected} threads")),
                "{args:?}, {} cores: {}: {log}",
                cores,
                job.id
            );
        }
    }
}

#[test]
fn ctrl_c_stops_starting_jobs_the_running_worker_saves_its_state_and_a_rerun_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    // A teacher long enough to be caught between its first epoch and its last, and its students.
    let grid = [
        "--train-limit",
        "3000",
        "--epochs",
        "12",
        "--patience",
        "12",
        "--teacher-hidden",
        "256",
        "--student-hidden",
        "8",
        "--seeds",
        "1",
    ];
    let (a, b, p) = planned_twice(tmp.path(), &grid);
    let teacher = &p.jobs[0];
    assert_eq!(teacher.kind, JobKind::Teacher);
    let sa = a.to_str().unwrap();
    // Its own process group, as a shell gives a foreground command: Ctrl-C signals the group,
    // `sweep run` and its workers alike, and not this test.
    let mut run = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(["sweep", "run", sa, "--jobs", "1", "--quiet"])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let state = teacher_state(&a, &teacher.id);
    wait_until("the teacher's first epoch finished", || {
        assert!(run.try_wait().unwrap().is_none(), "sweep run ended early");
        state.is_file()
    });
    let group = Pid::from_raw(run.id() as i32).unwrap();
    kill_process_group(group, Signal::INT).unwrap(); // Ctrl-C
    let mut stderr = String::new();
    run.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!run.wait().unwrap().success());
    assert!(stderr.contains("interrupted by signal 2"), "{stderr}");

    let log = |job: &Job| log_path(&a, &job.id);
    let teacher_log = fs::read_to_string(log(teacher)).unwrap();
    assert!(
        teacher_log.contains("interrupted: training state saved in"),
        "the worker must save its state: {teacher_log}"
    );
    assert!(state.is_file());
    for job in &p.jobs[1..] {
        assert!(!log(job).exists(), "{} started after Ctrl-C", job.id);
    }
    assert!(complete_jobs(&a, &p).is_empty());

    let out = ok(&["sweep", "run", sa, "--jobs", "1", "--quiet"]);
    let rerun_log = fs::read_to_string(log(teacher)).unwrap();
    assert!(
        rerun_log.contains("continuing the interrupted run")
            && rerun_log.contains("teacher: resuming epoch"),
        "the teacher must continue from its state: {rerun_log}"
    );
    assert!(out.status.success());
    assert_eq!(complete_jobs(&a, &p).len(), p.jobs.len());
    // Resumed, the teacher is the one an uninterrupted job trains.
    ok(&["sweep", "job", b.to_str().unwrap(), &teacher.id, "--quiet"]);
    assert_same_results(&p.jobs[..1], &a, &b);
}
