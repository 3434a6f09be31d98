//! `distill sweep plan`, `job` and `report` without training: plan.json is byte-stable with ids
//! that follow the jobs' content, bad input is a clear error that loses nothing, and the
//! report's statistics equal values computed by hand; a job another process holds exits with
//! 75 and the Slurm flags set their `#SBATCH` lines.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use distill::lock::FolderLock;
use distill::report::ModelReport;
use distill::sweep::job::{checkpoint_path, result_dir, RESULT_FILE};
use distill::sweep::{JobKind, Plan};
use serde_json::Value;

fn distill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must fail; returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = distill(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let out = distill(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const GRID: [&str; 12] = [
    "--train-limit",
    "600",
    "--epochs",
    "1",
    "--teacher-hidden",
    "16",
    "--temperature",
    "2,4",
    "--seeds",
    "3",
    "--student-hidden",
    "8",
];

fn plan(dir: &Path, extra: &[&str]) {
    let mut args = vec!["sweep", "plan", "--out", dir.to_str().unwrap(), "--quiet"];
    args.extend(GRID);
    args.extend(extra);
    ok(&args);
}

#[test]
fn the_same_grid_gives_the_same_plan_bytes_and_ids_follow_the_content() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    plan(&a, &["--student-hidden", "4,4"]);
    plan(&b, &["--student-hidden", "4,4"]);
    let bytes = fs::read(a.join("plan.json")).unwrap();
    assert_eq!(bytes, fs::read(b.join("plan.json")).unwrap());
    plan(&a, &["--student-hidden", "4,4"]); // planning the same grid again is harmless
    assert_eq!(bytes, fs::read(a.join("plan.json")).unwrap());

    let p = Plan::load(&a).unwrap();
    // 3 teachers, 2 shapes × 3 seeds scratch, 2 shapes × 2 T × 3 seeds distilled
    assert_eq!(p.jobs.len(), 3 + 6 + 12);
    let mut ids: Vec<&str> = p.jobs.iter().map(|j| j.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), p.jobs.len(), "ids are unique");
    for (i, job) in p.jobs.iter().enumerate() {
        for dependency in &job.depends_on {
            let at = p.jobs.iter().position(|j| &j.id == dependency).unwrap();
            assert!(at < i, "{} comes before {}", dependency, job.id);
        }
        let teacher_dependency = job.kind == JobKind::Distilled;
        assert_eq!(job.depends_on.len(), usize::from(teacher_dependency));
    }

    // Content, not position: another grid holding the same jobs gives them the same ids;
    // a changed training flag gives every job a new id.
    let mut other = GRID.to_vec();
    other[7] = "4,8"; // --temperature 4,8
    let mut args = vec!["sweep", "plan", "--out", c.to_str().unwrap(), "--quiet"];
    args.extend(other);
    ok(&args);
    let q = Plan::load(&c).unwrap();
    let same: Vec<&str> = q
        .jobs
        .iter()
        .filter(|j| j.kind != JobKind::Distilled || j.config.distill.unwrap().temperature == 4.0)
        .map(|j| j.id.as_str())
        .collect();
    assert!(same.iter().all(|id| p.jobs.iter().any(|j| j.id == *id)));
    let d = tmp.path().join("d");
    let mut changed = GRID.to_vec();
    changed[3] = "2"; // --epochs 2
    let mut args = vec!["sweep", "plan", "--out", d.to_str().unwrap(), "--quiet"];
    args.extend(changed);
    ok(&args);
    let r = Plan::load(&d).unwrap();
    assert!(r.jobs.iter().all(|j| p.jobs.iter().all(|k| k.id != j.id)));

    // Scale-out files: one line per job, teachers first; the arrays cover the plan.
    let jobs_txt = fs::read_to_string(a.join("jobs.txt")).unwrap();
    let lines: Vec<&str> = jobs_txt.lines().collect();
    assert_eq!(lines.len(), p.jobs.len());
    for (line, job) in lines.iter().zip(&p.jobs) {
        assert!(
            line.ends_with(&format!(" sweep job {} {}", a.display(), job.id)),
            "{line}"
        );
    }
    let teachers = fs::read_to_string(a.join("jobs.teachers.txt")).unwrap();
    let students = fs::read_to_string(a.join("jobs.students.txt")).unwrap();
    assert_eq!(teachers + &students, jobs_txt);
    let sbatch = fs::read_to_string(a.join("slurm/students.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=3-20\n"), "{sbatch}");
    assert!(sbatch.contains("--index \"$SLURM_ARRAY_TASK_ID\""));
    let submit = fs::read_to_string(a.join("slurm/submit.sh")).unwrap();
    assert!(submit.contains("--dependency=afterok:"));
}

#[test]
fn bad_grids_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 9] = [
        (&["--seeds", "0"], "seeds"),
        (&["--temperature", "2,2"], "temperature"),
        (&["--temperature", "0"], "temperature"),
        (&["--temperature", "-1"], "temperature"),
        (&["--alpha", "0.1,1.5"], "alpha"),
        (&["--seeds", "1,2,1"], "seeds"),
        (&["--soft-scale", "one,one"], "soft-scale"),
        (
            &["--student-hidden", "30", "--student-hidden", "30"],
            "student-hidden",
        ),
        (&["--student-hidden", "30,0"], "student-hidden"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["sweep", "plan", "--out", o];
        args.extend(extra);
        let err = refused(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} created the sweep folder");
    }
    assert!(refused(&["sweep", "plan", "--out", o, "--temperature", ""]).contains("temperature"));
    assert!(refused(&["sweep", "plan"]).contains("--out"));
    assert!(
        refused(&["sweep", "plan", "--out", o, "--seed", "1", "--seeds", "2"]).contains("--seeds")
    );
}

#[test]
fn unknown_ids_bad_indices_foreign_folders_and_edited_plans_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    plan(&dir, &[]);
    let d = dir.to_str().unwrap();
    assert!(refused(&["sweep", "job", d, "teacher-nope"]).contains("no job with id"));
    let past = Plan::load(&dir).unwrap().jobs.len().to_string(); // 12 jobs: 0..=11
    let err = refused(&["sweep", "job", d, "--index", &past]);
    assert!(
        err.contains(&format!("--index {past} is out of range")),
        "{err}"
    );

    let elsewhere = tmp.path().join("not-a-sweep");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("mine.txt"), "keep").unwrap();
    let e = elsewhere.to_str().unwrap();
    for command in ["run", "report"] {
        assert!(refused(&["sweep", command, e]).contains("not a sweep folder"));
    }
    assert!(refused(&["sweep", "job", e, "--index", "0"]).contains("not a sweep folder"));
    assert!(refused(&["sweep", "plan", "--out", e]).contains("not empty"));
    assert_eq!(
        fs::read_to_string(elsewhere.join("mine.txt")).unwrap(),
        "keep"
    );
    // another grid into an existing sweep folder
    assert!(
        refused(&["sweep", "plan", "--out", d, "--temperature", "3"]).contains("another sweep")
    );

    // A finished job's result survives every kind of edited plan.json.
    let p = Plan::load(&dir).unwrap();
    let done = dir.join("jobs").join(&p.jobs[0].id);
    fs::create_dir_all(&done).unwrap();
    fs::write(done.join("result.json"), "finished").unwrap();
    let original = fs::read_to_string(dir.join("plan.json")).unwrap();
    let edits = [
        ("{ not json".to_string(), "plan.json"),
        (
            original.replace("\"kind\": \"teacher\"", "\"kind\": \"chef\""),
            "plan.json",
        ),
        (
            original.replacen("\"seed\": 1,", "\"seed\": 7,", 1),
            "edited by hand",
        ),
        (
            original.replacen(&p.jobs[4].id, "distilled-made-up", 1),
            "edited by hand",
        ),
        (
            original.replacen("\"epochs\": 1,", "\"epochs\": 0,", 1),
            "epochs",
        ),
        (original.replacen("2.0,", "-2.0,", 1), "temperature"),
        (original.replacen("\"grid\"", "\"grim\"", 1), "plan.json"),
    ];
    for (text, needle) in edits {
        fs::write(dir.join("plan.json"), &text).unwrap();
        for command in ["run", "report"] {
            let err = refused(&["sweep", command, d]);
            assert!(err.contains(needle), "{err}");
        }
        let err = refused(&["sweep", "job", d, "--index", "0"]);
        assert!(err.contains(needle), "{err}");
        assert_eq!(
            fs::read_to_string(done.join("result.json")).unwrap(),
            "finished"
        );
    }
}

#[test]
fn a_job_locked_by_another_process_exits_with_75_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    plan(&dir, &[]);
    let id = &Plan::load(&dir).unwrap().jobs[0].id;
    // The documented lock of a job, held here as a live `sweep job` would hold it.
    let lock_dir = dir.join("locks").join(id);
    fs::create_dir_all(&lock_dir).unwrap();
    let _held = FolderLock::acquire(&lock_dir).unwrap();
    let out = distill(&["sweep", "job", dir.to_str().unwrap(), id, "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}"); // the status `sweep run` retries
    assert!(
        err.contains(&format!("locked by process {}", std::process::id())),
        "{err}"
    );
    let jobs = dir.join("jobs");
    assert!(
        !jobs.exists() || fs::read_dir(&jobs).unwrap().count() == 0,
        "nothing trained beside the holder"
    );
}

#[test]
fn the_slurm_flags_set_the_sbatch_lines_and_default_to_four_hours_and_one_cpu() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain, set) = (tmp.path().join("plain"), tmp.path().join("set"));
    plan(&plain, &[]);
    let flags = [
        "--slurm-partition",
        "gpu",
        "--slurm-time",
        "01:30:00",
        "--slurm-cpus",
        "4",
    ];
    plan(&set, &flags);
    for array in ["teachers", "students"] {
        let read =
            |dir: &Path| fs::read_to_string(dir.join(format!("slurm/{array}.sbatch"))).unwrap();
        let (plain, set) = (read(&plain), read(&set));
        for line in ["#SBATCH --time=04:00:00\n", "#SBATCH --cpus-per-task=1\n"] {
            assert!(plain.contains(line), "{array} lacks {line}: {plain}");
        }
        assert!(!plain.contains("--partition"), "{plain}");
        for line in [
            "#SBATCH --partition=gpu\n",
            "#SBATCH --time=01:30:00\n",
            "#SBATCH --cpus-per-task=4\n",
        ] {
            assert!(set.contains(line), "{array} lacks {line}: {set}");
        }
        assert!(
            set.contains("--threads \"${SLURM_CPUS_PER_TASK:-1}\""),
            "{set}"
        );
    }
}

#[test]
fn a_reused_teacher_plans_no_teacher_jobs_and_submits_the_students_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let teacher = tmp.path().join("teacher.safetensors"); // the plan resolves it; jobs read it
    fs::write(&teacher, b"").unwrap();
    plan(&dir, &["--teacher", teacher.to_str().unwrap()]);
    let p = Plan::load(&dir).unwrap();
    assert!(p.jobs.iter().all(|j| j.kind != JobKind::Teacher));
    assert_eq!(
        fs::read_to_string(dir.join("jobs.teachers.txt")).unwrap(),
        ""
    );
    let submit = fs::read_to_string(dir.join("slurm/submit.sh")).unwrap();
    assert!(!submit.contains("teachers.sbatch"), "{submit}");
    assert!(!submit.contains("--dependency"), "{submit}");
    assert!(
        submit.contains("students=$(sbatch --parsable slurm/students.sbatch)\n"),
        "{submit}"
    );
}

/// A result as a finished job writes it, with only `test_errors` mattering here.
fn fake_result(dir: &Path, id: &str, kind: JobKind, test_errors: usize) {
    let job_dir = result_dir(dir, id);
    fs::create_dir_all(&job_dir).unwrap();
    let report = ModelReport {
        test_accuracy: 1.0 - test_errors as f64 / 10_000.0,
        test_errors,
        per_class_errors: vec![0; 10],
        test_loss: 0.1,
        auc: vec![0.99; 10],
        epochs_run: 1,
        best_epoch: 1,
        train_seconds: 1.0,
        parameters: 100,
        history: Default::default(),
        teacher_logits_seconds: None,
    };
    fs::write(
        job_dir.join(RESULT_FILE),
        serde_json::to_string(&report).unwrap(),
    )
    .unwrap();
    let checkpoint = format!("{}.safetensors", kind.name());
    fs::write(job_dir.join(checkpoint), b"not read by the report").unwrap();
}

#[test]
fn report_statistics_equal_hand_computed_values_and_name_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    plan(&dir, &[]);
    let p = Plan::load(&dir).unwrap();
    // Seeds 1, 2, 3. Scratch 100, 110, 120; distilled at T 2: 90, 105, 111; at T 4 only seed 1
    // finished (92); teachers 50, 60, 70 with seed 3's missing.
    let errors = |kind: JobKind, t: Option<f64>, seed: u64| -> Option<usize> {
        match (kind, t, seed) {
            (JobKind::Teacher, _, 3) => None,
            (JobKind::Teacher, _, s) => Some(40 + 10 * s as usize),
            (JobKind::Scratch, _, s) => Some(90 + 10 * s as usize),
            (JobKind::Distilled, Some(2.0), s) => Some([90, 105, 111][s as usize - 1]),
            (JobKind::Distilled, _, 1) => Some(92),
            _ => None,
        }
    };
    let mut missing = Vec::new();
    for job in &p.jobs {
        let t = job.config.distill.map(|d| d.temperature);
        match errors(job.kind, t, job.config.train.seed) {
            Some(e) => fake_result(&dir, &job.id, job.kind, e),
            None => missing.push(job.id.clone()),
        }
    }
    // Seed 3's teacher left a result without its checkpoint (a folder someone emptied): that
    // is not a complete job either.
    let teacher_3 = p
        .jobs
        .iter()
        .find(|j| j.kind == JobKind::Teacher && j.config.train.seed == 3)
        .unwrap();
    fake_result(&dir, &teacher_3.id, JobKind::Teacher, 0);
    fs::remove_file(checkpoint_path(&dir, teacher_3)).unwrap();
    let stdout = ok(&["sweep", "report", dir.to_str().unwrap()]);
    assert!(stdout.contains(&format!(
        "{} of {} jobs complete",
        p.jobs.len() - missing.len(),
        p.jobs.len()
    )));
    let summary: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["missing"], serde_json::json!(missing));
    assert_eq!(
        summary["teachers"],
        serde_json::json!([{"seed": 1, "test_errors": 50}, {"seed": 2, "test_errors": 60}])
    );

    let close = |v: &Value, want: f64| {
        let got = v.as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    };
    // Scratch: x̄ = 110, s = √((100 + 0 + 100)/2) = 10.
    let scratch = &summary["scratch"][0]["test_errors"];
    let keys: Vec<&str> = scratch
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["max", "mean", "min", "n", "sd", "values"]);
    assert_eq!(scratch["values"], serde_json::json!([100.0, 110.0, 120.0]));
    close(&scratch["mean"], 110.0);
    close(&scratch["sd"], 10.0);
    assert_eq!(
        (
            scratch["n"].as_u64(),
            scratch["min"].as_f64(),
            scratch["max"].as_f64()
        ),
        (Some(3), Some(100.0), Some(120.0))
    );

    // Distilled at T 2: x̄ = 306/3 = 102, s = √((144 + 9 + 81)/2) = √117 = 10.816654.
    let cell = &summary["distilled"][0];
    assert_eq!(cell["temperature"], 2.0);
    close(&cell["test_errors"]["mean"], 102.0);
    close(&cell["test_errors"]["sd"], 117f64.sqrt());
    // d = −10, −5, −9: d̄ = −8, s_d = √((4 + 9 + 1)/2) = √7 = 2.6457513;
    // t_{0.975, 2} = 4.3026527 (tables): half-width 4.3026527 · 2.6457513 / √3 = 6.5724106.
    let d = &cell["minus_scratch"];
    assert_eq!(d["values"], serde_json::json!([-10.0, -5.0, -9.0]));
    close(&d["mean"], -8.0);
    close(&d["sd"], 7f64.sqrt());
    let [lo, hi] = [&d["ci95"][0], &d["ci95"][1]];
    assert!(
        (lo.as_f64().unwrap() - (-8.0 - 6.572_410_6)).abs() < 1e-5,
        "{lo}"
    );
    assert!(
        (hi.as_f64().unwrap() - (-8.0 + 6.572_410_6)).abs() < 1e-5,
        "{hi}"
    );

    // T 4: one seed, no sd and no interval; the difference of seed 1 only: 92 − 100.
    let one = &summary["distilled"][1];
    assert_eq!(
        (
            one["test_errors"]["n"].as_u64(),
            one["test_errors"]["sd"].is_null()
        ),
        (Some(1), true)
    );
    assert_eq!(one["minus_scratch"]["values"], serde_json::json!([-8.0]));
    assert!(one["minus_scratch"]["ci95"].is_null());

    let md = fs::read_to_string(dir.join("summary.md")).unwrap();
    let row = "| 8 | 2 | 0.1 | one | 3 | 102.0 | 10.8 | 90 | 111 | -8.0 | [-14.6, -1.4] |";
    assert!(md.contains(row), "{md}");
    for png in ["errors_vs_temperature.png", "heatmap.png"] {
        assert!(fs::read(dir.join(png)).unwrap().starts_with(b"\x89PNG"));
    }
}
