"""Runs `distill` and its peers (Keras, PyTorch, JAX, candle) side by side and prints one table.

Each side is one process that trains the teacher, the distilled student (teacher forward every
batch, and with the teacher logits computed once) and the scratch student for the same N epochs
(no early stopping) with the same thread count. The sides run one after the other, and the round
is repeated (`--repeats`, A B C A B C ...) so that drift on a shared machine hits every side.
Per training: the median of the per-epoch seconds of a run, then the median over the repeats.
The last column divides the fastest peer's time by distill's (> 1: distill is faster).

Peers (`--frameworks`, in the order given): keras (keras_seed.py), torch (torch_kd.py), jax-step
and jax-epoch (jax_kd.py --jit step|epoch; their compile time is reported apart and not in the
epoch), candle (the binary built in candle/, `--candle-bin`).

    python compare.py --epochs 3 --threads 2 --repeats 3 --frameworks jax-epoch,jax-step,candle,torch,keras
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
# Peer name -> (script, extra flags) for the Python ones; "candle" is a binary (--candle-bin).
PYTHON_PEERS = {
    "keras": ("keras_seed.py", []),
    "torch": ("torch_kd.py", []),
    "jax-step": ("jax_kd.py", ["--jit", "step"]),
    "jax-epoch": ("jax_kd.py", ["--jit", "epoch"]),
}
FRAMEWORKS = [*PYTHON_PEERS, "candle"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--frameworks", default="keras,torch",
                   help=f"comma-separated subset of {','.join(FRAMEWORKS)} (default %(default)s)")
    p.add_argument("--skip-distill", action="store_true", help="run only the frameworks")
    p.add_argument("--distill-bin", type=Path, default=REPO_ROOT / "target" / "release" / "distill")
    p.add_argument("--candle-bin", type=Path, default=HERE / "candle" / "target" / "release" / "candle-kd",
                   help="the candle peer (`cargo build --release` in candle/)")
    p.add_argument("--train-limit", type=int, metavar="N",
                   help="every side uses only the first N training examples (smoke tests; default: all)")
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
    if "candle" in args.frameworks and not args.candle_bin.exists():
        p.error(f"{args.candle_bin} not found: `cargo build --release` in {HERE / 'candle'} (README.md)")
    if set(args.frameworks) & set(PYTHON_PEERS) and not args.python.exists():
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
           "--threads", str(args.threads), "--seed", str(args.seed), "--out", str(out_dir), "--quiet",
           *limit_flag(args)]
    wall, rss = run_measured(cmd, dict(os.environ), out_dir.with_suffix(".log"))
    report = json.loads((out_dir / "report.json").read_text())
    models = {}
    for key, m in report["models"].items():
        row = "distilled_cached" if key == "distilled" else key
        models[row] = {"seconds_per_epoch": m["history"]["seconds"],
                       "test_accuracy": m["test_accuracy"],
                       "teacher_logits_seconds": m.get("teacher_logits_seconds")}
    return {"models": models, "wall_seconds": wall, "peak_rss_kib": rss}


def limit_flag(args) -> list[str]:
    return [] if args.train_limit is None else ["--train-limit", str(args.train_limit)]


def run_framework(args, name: str, out_json: Path) -> dict:
    if name == "candle":
        program = [str(args.candle_bin)]
    else:
        script, extra = PYTHON_PEERS[name]
        program = [str(args.python), str(HERE / script), *extra]
    cmd = [*program, "--epochs", str(args.epochs),
           "--no-early-stopping", "--threads", str(args.threads), "--seed", str(args.seed),
           "--teacher-logits", "both", "--out", str(out_json), *limit_flag(args)]
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
    compiles = [sum(m.get("compile_seconds") or 0.0 for m in r["models"].values()) for r in runs]
    out["compile_seconds"] = statistics.median(compiles) if any(compiles) else None
    return out


def render(args, sides: dict[str, dict], load: tuple[list[float], list[float]]) -> str:
    """The timing table (a column per side, then fastest peer / distill) and the accuracies."""
    names = list(sides)
    peers = [n for n in names if n != "distill"]
    base = sides.get("distill")

    def distill_seconds(key: str) -> float | None:
        if base is None:
            return None
        row = base["rows"].get(key) or (base["rows"].get("distilled_cached") if key == "distilled" else None)
        return row["seconds"] if row else None

    def seconds(n: str, key: str) -> float | None:
        row = sides[n]["rows"].get(key)
        return row["seconds"] if row else None

    def table(head: list[str], rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]

    head = ["training"] + [f"{n} s/epoch" for n in names] + ["fastest peer / distill"]
    rows = []
    for key, label in ROWS:
        cells = [label]
        for n in names:
            if n == "distill" and seconds(n, key) is None and key == "distilled" and distill_seconds(key):
                cells.append(f"({distill_seconds(key):.2f}, cached)")
            else:
                cells.append(f"{seconds(n, key):.2f}" if seconds(n, key) is not None else "–")
        timed = [(seconds(n, key), n) for n in peers if seconds(n, key) is not None]
        ref = distill_seconds(key)
        if timed and ref:
            fastest, who = min(timed)
            cells.append(f"{fastest / ref:.2f}x ({who})")
        else:
            cells.append("–")
        rows.append(cells)
    pad = [""]
    rows.append(["teacher-logit cache, once (s)"]
                + [next((f"{r['cache_seconds']:.2f}" for r in sides[n]["rows"].values() if r["cache_seconds"]), "–")
                   for n in names] + pad)
    rows.append(["compile before epoch 1, all trainings (s)"]
                + [f"{sides[n]['compile_seconds']:.2f}" if sides[n]["compile_seconds"] else "–" for n in names] + pad)
    rows.append(["peak RSS of the process (MiB)"] + [f"{sides[n]['peak_rss_mib']:.0f}" for n in names] + pad)
    lines = table(head, rows)
    accuracy = [[label] + [f"{sides[n]['rows'][key]['accuracy']:.4f}" if key in sides[n]["rows"] else "–"
                           for n in names] for key, label in ROWS]
    lines += [""] + table(["test accuracy"] + names, accuracy)
    notes = [
        f"{args.epochs} epochs of each training, batch 64, {args.threads} threads, seed {args.seed}, "
        + (f"first {args.train_limit} training examples, " if args.train_limit is not None else "")
        + f"{args.repeats} repeat(s) alternating {' '.join(names)}, OMP_WAIT_POLICY "
        f"{args.omp_wait_policy or os.environ.get('OMP_WAIT_POLICY', 'unset')}; s/epoch = median over epochs, "
        "then over repeats; fastest peer / distill > 1 means distill is faster.",
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
                if k in ("python", "numpy", "tensorflow", "keras", "torch", "omp_wait_policy",
                         "jax", "jaxlib", "optax", "candle-core")}
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
