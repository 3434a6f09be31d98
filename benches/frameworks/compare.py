"""Runs `distill`, Keras and PyTorch side by side on this machine and prints one table.

Each side is one process that trains the teacher, the distilled student (teacher forward every
batch, and with the teacher logits computed once) and the scratch student for the same N epochs
(no early stopping) with the same thread count. The sides run one after the other, and the round
is repeated (`--repeats`, A B C A B C ...) so that drift on a shared machine hits every side.
Per training: the median of the per-epoch seconds of a run, then the median over the repeats.

    python compare.py --epochs 3 --threads 2 --repeats 2 --markdown table.md
    python compare.py --skip-distill --epochs 1          # frameworks only

The distill side runs
    target/release/distill run --epochs N --patience N --threads T --seed S --out DIR --quiet
and reads DIR/report.json: models.{teacher,distilled,scratch}.history.seconds, test_accuracy
(and models.distilled.teacher_logits_seconds when present). `distill` always caches the teacher
logits, so its distillation epoch is the cached variant; the per-batch row compares the
frameworks against that same number, which is what issue 6's targets mean.

Peak RSS is the child's maximum resident set, from /usr/bin/time -v when it exists
(`apt-get install time` brings it), else from os.wait4's rusage of that child.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
TIME_BIN = Path("/usr/bin/time")

# (report key, label); a side's report may lack a row (e.g. distill has no per-batch variant).
ROWS = [
    ("teacher", "teacher"),
    ("distilled", "distillation, teacher forward each batch"),
    ("distilled_cached", "distillation, cached teacher logits"),
    ("scratch", "scratch student"),
]
FRAMEWORKS = {"keras": "keras_seed.py", "torch": "torch_kd.py"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--frameworks", default="keras,torch", help="comma-separated subset of keras,torch")
    p.add_argument("--skip-distill", action="store_true", help="run only the frameworks")
    p.add_argument("--distill-bin", type=Path, default=REPO_ROOT / "target" / "release" / "distill")
    p.add_argument("--python", type=Path, default=HERE / ".venv" / "bin" / "python",
                   help="interpreter with requirements.txt installed (default: the venv here)")
    p.add_argument("--omp-wait-policy", choices=("active", "passive"),
                   help="set OMP_WAIT_POLICY for the frameworks (default: unset, their default); "
                        "on a loaded machine PyTorch's spinning OpenMP threads collapse, passive avoids it")
    p.add_argument("--workdir", type=Path, help="keep the runs' reports here (default: a temp dir)")
    p.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")
    p.add_argument("--json", type=Path, help="write every run's raw numbers to this file")
    args = p.parse_args()
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if set(args.frameworks) - set(FRAMEWORKS) or args.epochs < 1 or args.threads < 1 or args.repeats < 1:
        p.error("bad --frameworks, --epochs, --threads or --repeats")
    if not args.skip_distill and not args.distill_bin.exists():
        p.error(f"{args.distill_bin} not found: `cargo build --release` first, or pass --skip-distill")
    if args.frameworks and not args.python.exists():
        p.error(f"{args.python} not found: create the venv (README.md) or pass --python")
    return args


# ------------------------------------------------------------------------------------ running


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Runs cmd (stdout+stderr to log); returns (wall seconds, peak RSS in KiB). Raises on failure."""
    start = time.perf_counter()
    with open(log, "w") as out:
        if TIME_BIN.exists():
            rss_file = log.with_suffix(".time")
            code = subprocess.call([str(TIME_BIN), "-v", "-o", str(rss_file), *cmd],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
            found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", rss_file.read_text())
            rss_kib = int(found.group(1)) if found else -1
        else:
            child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = code = os.waitstatus_to_exitcode(status)
            rss_kib = usage.ru_maxrss  # KiB on Linux
    wall = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"{cmd[0]} ... exited with {code}; see {log}:\n{log.read_text()[-3000:]}")
    return wall, rss_kib


def run_distill(args, out_dir: Path) -> dict:
    cmd = [str(args.distill_bin), "run", "--epochs", str(args.epochs), "--patience", str(args.epochs),
           "--threads", str(args.threads), "--seed", str(args.seed), "--out", str(out_dir), "--quiet"]
    wall, rss = run_measured(cmd, dict(os.environ), out_dir.with_suffix(".log"))
    report = json.loads((out_dir / "report.json").read_text())
    models = {}
    for key, m in report["models"].items():
        row = "distilled_cached" if key == "distilled" else key
        models[row] = {"seconds_per_epoch": m["history"]["seconds"],
                       "test_accuracy": m["test_accuracy"],
                       "teacher_logits_seconds": m.get("teacher_logits_seconds")}
    return {"models": models, "wall_seconds": wall, "peak_rss_kib": rss}


def run_framework(args, name: str, out_json: Path) -> dict:
    cmd = [str(args.python), str(HERE / FRAMEWORKS[name]), "--epochs", str(args.epochs),
           "--no-early-stopping", "--threads", str(args.threads), "--seed", str(args.seed),
           "--teacher-logits", "both", "--out", str(out_json)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if args.omp_wait_policy:
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()
    wall, rss = run_measured(cmd, env, out_json.with_suffix(".log"))
    report = json.loads(out_json.read_text())
    return {"models": report["models"], "versions": report["versions"],
            "wall_seconds": wall, "peak_rss_kib": rss}


# ------------------------------------------------------------------------------------- table


def summarize(runs: list[dict]) -> dict:
    """Median over repeats of each training's median s/epoch; last accuracy; max peak RSS."""
    out: dict = {"rows": {}, "peak_rss_mib": max(r["peak_rss_kib"] for r in runs) / 1024}
    for key, _ in ROWS:
        present = [r["models"][key] for r in runs if key in r["models"]]
        if not present:
            continue
        caches = [m["teacher_logits_seconds"] for m in present if m.get("teacher_logits_seconds")]
        out["rows"][key] = {
            "seconds": statistics.median(statistics.median(m["seconds_per_epoch"]) for m in present),
            "accuracy": present[-1]["test_accuracy"],
            "cache_seconds": statistics.median(caches) if caches else None,
        }
    return out


def render(args, sides: dict[str, dict], load: tuple[list[float], list[float]]) -> str:
    names = list(sides)
    base = sides.get("distill")

    def distill_seconds(key: str) -> float | None:
        if base is None:
            return None
        row = base["rows"].get(key) or (base["rows"].get("distilled_cached") if key == "distilled" else None)
        return row["seconds"] if row else None

    head = ["training"] + [f"{n} s/epoch" for n in names]
    head += [f"{n}/distill" for n in names if n != "distill" and base is not None]
    head += [f"{n} test acc" for n in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, label in ROWS:
        cells = [label]
        for n in names:
            row = sides[n]["rows"].get(key)
            if n == "distill" and row is None and key == "distilled":
                cells.append(f"({distill_seconds(key):.2f}, cached)" if distill_seconds(key) else "–")
            else:
                cells.append(f"{row['seconds']:.2f}" if row else "–")
        if base is not None:
            ref = distill_seconds(key)
            for n in names:
                if n == "distill":
                    continue
                row = sides[n]["rows"].get(key)
                cells.append(f"{row['seconds'] / ref:.2f}x" if row and ref else "–")
        for n in names:
            row = sides[n]["rows"].get(key)
            cells.append(f"{row['accuracy']:.4f}" if row else "–")
        lines.append("| " + " | ".join(cells) + " |")
    caches = ["teacher-logit cache, once (s)"]
    caches += [next((f"{r['cache_seconds']:.2f}" for r in sides[n]["rows"].values() if r["cache_seconds"]), "–")
               for n in names]
    rss = ["peak RSS of the process (MiB)"] + [f"{sides[n]['peak_rss_mib']:.0f}" for n in names]
    pad = len(head) - len(caches)
    lines += ["| " + " | ".join(caches + [""] * pad) + " |", "| " + " | ".join(rss + [""] * pad) + " |"]
    notes = [
        f"{args.epochs} epochs of each training, batch 64, {args.threads} threads, seed {args.seed}, "
        f"{args.repeats} repeat(s) alternating {' '.join(names)}, OMP_WAIT_POLICY "
        f"{args.omp_wait_policy or os.environ.get('OMP_WAIT_POLICY', 'unset')}; s/epoch = median over epochs, "
        "then over repeats; ratios > 1 mean distill is faster.",
        f"load average before {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}, "
        f"after {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f} ({os.cpu_count()} CPUs).",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def main() -> None:
    args = parse_args()
    order = ([] if args.skip_distill else ["distill"]) + args.frameworks
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="distill-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    load_before = list(os.getloadavg())
    runs: dict[str, list[dict]] = {n: [] for n in order}
    for r in range(args.repeats):
        for name in order:
            print(f"[repeat {r + 1}/{args.repeats}] {name} ...", file=sys.stderr, flush=True)
            if name == "distill":
                out_dir = workdir / f"distill-{r}"
                shutil.rmtree(out_dir, ignore_errors=True)
                runs[name].append(run_distill(args, out_dir))
            else:
                runs[name].append(run_framework(args, name, workdir / f"{name}-{r}.json"))
            print(f"    {runs[name][-1]['wall_seconds']:.1f} s, peak RSS "
                  f"{runs[name][-1]['peak_rss_kib'] / 1024:.0f} MiB", file=sys.stderr, flush=True)
    sides = {n: summarize(runs[n]) for n in order}
    table = render(args, sides, (load_before, list(os.getloadavg())))
    versions = {k: v for n in args.frameworks for k, v in runs[n][0]["versions"].items()
                if k in ("python", "numpy", "tensorflow", "keras", "torch", "omp_wait_policy")}
    table += "versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "runs": runs, "summary": sides}, indent=2) + "\n")
    print(f"reports and logs in {workdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
