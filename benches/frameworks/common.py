"""Shared by keras_seed.py, torch_kd.py and jax_kd.py: the shipped MNIST, the split, the flags, metrics, JSON.

Everything that must be identical on every side lives here once, so the framework scripts differ
only in the framework code itself (candle/, in Rust, mirrors the same rules):

- data: the IDX gz files shipped in ``<repo>/data/mnist`` (never downloaded), pixels scaled by
  1/255 and flattened to 784; validation = the LAST 10% of the training set, unshuffled, which is
  Keras' ``validation_split=0.1``; test = t10k.
- the notebook's hyper-parameters and the command-line flags;
- test metrics computed from the logits in float64 numpy (accuracy, error count, cross-entropy);
- the JSON report, written atomically.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data" / "mnist"

# The notebook's settings (docs: Keras defaults where the notebook leaves them implicit).
INPUT_SIZE = 784
CLASSES = 10
TEACHER_HIDDEN = (1200, 1200)
TEACHER_DROPOUT = 0.5
STUDENT_HIDDEN = (300,)
BATCH_SIZE = 64
VALIDATION_SPLIT = 0.1
LEARNING_RATE = 1e-3
BETA_1 = 0.9
BETA_2 = 0.999
EPSILON = 1e-7  # Keras' Adam default (PyTorch's own default is 1e-8)
ALPHA = 0.1  # weight of the HARD loss, as in Keras' Distiller and torchdistill
TEMPERATURE = 10.0
DEFAULT_EPOCHS = 50
DEFAULT_PATIENCE = 10

TRAININGS = ("teacher", "distill", "scratch")


# ---------------------------------------------------------------------------------------- data


def read_idx(path: Path) -> np.ndarray:
    """Reads one gzip'ed IDX file (unsigned bytes only, as MNIST ships) into an array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    expected = int(np.prod(dims))
    if body.size != expected:
        raise ValueError(f"{path}: {body.size} bytes of data, header says {expected}")
    return body.reshape(dims)


@dataclass
class Mnist:
    """float32 images (n, 784) in [0, 1] and int64 labels (n,) for each split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_mnist(data_dir: Path = DATA_DIR, validation_split: float = VALIDATION_SPLIT,
               train_limit: int | None = None) -> Mnist:
    """The shipped MNIST; validation = the last `validation_split` of train (Keras semantics).

    Keras computes the split index as ``int(n * (1 - validation_split))``: 54,000 of 60,000.
    `train_limit` keeps only the first N training examples BEFORE the split, as `distill
    --train-limit` does (smoke tests); the test set is always the whole t10k.
    """

    def images(name: str) -> np.ndarray:
        x = read_idx(data_dir / name)
        return (x.reshape(len(x), -1).astype(np.float32) / np.float32(255.0))

    def labels(name: str) -> np.ndarray:
        return read_idx(data_dir / name).astype(np.int64)

    x, y = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    x_test, y_test = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    if len(x) != len(y) or len(x_test) != len(y_test):
        raise ValueError(f"{data_dir}: image and label counts differ")
    if train_limit is not None:
        x, y = x[:train_limit], y[:train_limit]
    cut = int(len(x) * (1.0 - validation_split))
    return Mnist(x[:cut], y[:cut], x[cut:], y[cut:], x_test, y_test)


# --------------------------------------------------------------------------------------- flags


def parse_args(description: str, argv: list[str] | None = None,
               extra_flags: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The flags every framework script shares; `extra_flags(parser)` adds a script's own."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help="maximum epochs per training (default %(default)s)")
    p.add_argument("--patience", type=int, default=DEFAULT_PATIENCE,
                   help="early stopping on val_loss, restore best weights (default %(default)s)")
    p.add_argument("--no-early-stopping", action="store_true",
                   help="run exactly --epochs epochs (benchmarks)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="intra-op (and inter-op) threads (default: all cores)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--teacher-logits", choices=("per-batch", "cached", "both"), default="per-batch",
                   help="distillation: teacher forward every batch, logits precomputed once, "
                        "or both one after the other (default %(default)s)")
    p.add_argument("--which", default=",".join(TRAININGS),
                   help="comma-separated subset of teacher,distill,scratch (default: all)")
    p.add_argument("--soft-scale", choices=("one", "t-squared"), default="one",
                   help="factor on the KL term: 1 (the notebook) or T^2 (the paper)")
    p.add_argument("--out", type=Path, help="write the JSON report here")
    p.add_argument("--train-limit", type=int, metavar="N",
                   help="use only the first N training examples, before the validation split "
                        "(smoke tests; default: all 60,000)")
    if extra_flags is not None:
        extra_flags(p)
    args = p.parse_args(argv)
    which = [w.strip() for w in args.which.split(",") if w.strip()]
    unknown = sorted(set(which) - set(TRAININGS))
    if unknown or not which:
        p.error(f"--which: unknown training(s) {unknown}; choose from {','.join(TRAININGS)}")
    if args.epochs < 1 or args.patience < 0 or args.threads < 1:
        p.error("--epochs and --threads must be >= 1, --patience >= 0")
    if args.train_limit is not None and args.train_limit < 10:
        p.error("--train-limit must be >= 10 (both splits need examples)")
    args.which = which
    args.soft_scale_factor = TEMPERATURE**2 if args.soft_scale == "t-squared" else 1.0
    args.logit_modes = ["per-batch", "cached"] if args.teacher_logits == "both" else [args.teacher_logits]
    return args


def distill_key(mode: str) -> str:
    """Report key of a distillation run: `distilled` (teacher forward each batch) or `distilled_cached`."""
    return "distilled" if mode == "per-batch" else "distilled_cached"


# ------------------------------------------------------------------------------------- metrics


def test_metrics(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, error count and mean cross-entropy (float64) of logits (n, 10) against labels (n,)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    errors = int((z.argmax(axis=1) != labels).sum())
    return {
        "test_accuracy": 1.0 - errors / len(labels),
        "test_errors": errors,
        "test_loss": float(-log_q[np.arange(len(labels)), labels].mean()),
    }


def training_record(seconds: list[float], logits: np.ndarray, labels: np.ndarray, *,
                    best_epoch: int | None, history: dict[str, list[float]], **extra) -> dict:
    """One training's entry in the report."""
    return {
        "seconds_per_epoch": seconds,
        "median_seconds_per_epoch": statistics.median(seconds),
        "epochs_run": len(seconds),
        "best_epoch": best_epoch,
        **test_metrics(logits, labels),
        "history": history,
        **extra,
    }


# -------------------------------------------------------------------------------------- report


class EarlyStopping:
    """Keras' ``EarlyStopping(monitor="val_loss", patience, min_delta=0, restore_best_weights=True)``.

    A strictly lower validation loss resets the wait; training stops once ``patience`` epochs in
    a row bring none (never after the first epoch). The caller keeps the weights of each
    improvement and restores the last kept ones at the end.
    """

    def __init__(self, patience: int):
        self.patience = patience
        self.best = math.inf
        self.best_epoch: int | None = None  # 1-based
        self.wait = 0

    def update(self, val_loss: float, epoch: int) -> tuple[bool, bool]:
        """After 0-based ``epoch``: (this epoch is the new best, stop now)."""
        self.wait += 1
        if val_loss < self.best:
            self.best, self.best_epoch, self.wait = val_loss, epoch + 1, 0
            return True, False
        return False, self.wait >= self.patience and epoch > 0


class Stopwatch:
    """`with Stopwatch() as t: ...` then `t.seconds` (monotonic, high resolution)."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


def base_report(framework: str, args: argparse.Namespace, versions: dict[str, str]) -> dict:
    """The parts of the report that do not depend on the trainings."""
    return {
        "framework": framework,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, **versions},
        "threads": args.threads,
        "seed": args.seed,
        "config": {
            "epochs": args.epochs,
            "early_stopping": not args.no_early_stopping,
            "patience": args.patience,
            "batch_size": BATCH_SIZE,
            "validation_split": VALIDATION_SPLIT,
            "alpha": ALPHA,
            "temperature": TEMPERATURE,
            "soft_scale": args.soft_scale,
            "teacher_logits": args.teacher_logits,
            "which": args.which,
            "train_limit": args.train_limit,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_start": os.getloadavg()},
        "models": {},
    }


def finish_report(report: dict, path: Path | None) -> None:
    """Stamps the end load average, prints a summary line per training, writes JSON atomically."""
    report["machine"]["loadavg_end"] = os.getloadavg()
    for name, m in report["models"].items():
        cache = m.get("teacher_logits_seconds")
        print(f"{report['framework']:>7} {name:<17} {m['epochs_run']:>2} epochs  "
              f"median {m['median_seconds_per_epoch']:6.2f} s/epoch  "
              f"test acc {m['test_accuracy']:.4f} ({m['test_errors']} errors)"
              + (f"  cache {cache:.2f} s" if cache is not None else ""), file=sys.stderr)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)
