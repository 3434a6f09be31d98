"""Evaluates distill's checkpoints in PyTorch: an independent check of the Rust forward pass.

For every `*.safetensors` in a run folder (or the files given), loads the tensors with
`safetensors.torch`, runs `h = relu(h @ W_i + b_i)` (no ReLU after the last layer) on the test
set, and prints the test errors and loss next to what distill's report.json says:

    benches/frameworks/.venv/bin/python benches/frameworks/torch_eval.py runs/<run>

With `--write FILE` it also saves a random 784-32-10 MLP from PyTorch, for `distill eval FILE`
(the other direction of the format). Needs `pip install safetensors` in the venv.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from common import load_mnist, test_metrics


def logits(tensors: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The MLP of a distill checkpoint: layers.{i}.weight (D_in, D_out), layers.{i}.bias (D_out)."""
    layers = len(tensors) // 2
    h = x
    for i in range(layers):
        h = h @ tensors[f"layers.{i}.weight"] + tensors[f"layers.{i}.bias"]
        if i < layers - 1:
            h = torch.relu(h)
    return h


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", nargs="+", type=Path, help="a run folder or checkpoint files")
    p.add_argument("--write", type=Path, help="also save a random PyTorch MLP here")
    args = p.parse_args()
    mnist = load_mnist()
    x = torch.from_numpy(mnist.x_test)
    for path in args.paths:
        files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
        report_path = (path if path.is_dir() else path.parent) / "report.json"
        report = json.loads(report_path.read_text())["models"] if report_path.exists() else {}
        for file in files:
            ours = test_metrics(logits(load_file(file), x).numpy(), mnist.y_test)
            theirs = report.get(file.stem, {})
            print(f"{file}: torch {ours['test_errors']} errors, loss {ours['test_loss']:.6f}; "
                  f"report.json {theirs.get('test_errors', '-')} errors, "
                  f"loss {theirs.get('test_loss', float('nan')):.6f}")
    if args.write:
        torch.manual_seed(0)
        save_file({"layers.0.weight": torch.randn(784, 32) * 0.05, "layers.0.bias": torch.zeros(32),
                   "layers.1.weight": torch.randn(32, 10) * 0.1, "layers.1.bias": torch.zeros(10)},
                  str(args.write))
        print(f"wrote {args.write}: try `distill eval {args.write}`")


if __name__ == "__main__":
    main()
