"""The notebook's three trainings in PyTorch eager on the CPU, for side-by-side benchmarks.

teacher   784-1200-1200-10, ReLU, Dropout(0.5) after each hidden layer, cross-entropy
distilled 784-300-10 student, loss per batch (sum over classes, mean over the batch):

    L = α·CE(y, z_s) + (1−α)·s·KL(softmax(z_t/T) ‖ softmax(z_s/T)),   α = 0.1, T = 10, s = 1 or T²

          with the frozen teacher in eval mode, its logits either computed for every batch
          (`--teacher-logits per-batch`, the notebook) or once over train+validation and looked up
          by example index (`cached`, what `distill` does)
scratch   784-300-10 student, cross-entropy

Glorot-uniform weights and zero biases (set explicitly: PyTorch's own Linear init differs), Adam with
Keras' defaults, batch 64 reshuffled every epoch, validation = the last 10% of train, early stopping
on val_loss like Keras' EarlyStopping(patience, restore_best_weights=True).

Adam's epsilon: PyTorch divides by sqrt(v̂) + ε (v̂ bias-corrected), Keras by sqrt(v) + ε with the
bias correction folded into the step size, i.e. Keras' ε equals PyTorch's ε·sqrt(1 − β₂ᵗ). We keep
ε = 1e-7 on both sides; the two agree once 1 − β₂ᵗ ≈ 1 (a few thousand steps; an epoch is 844).

    python torch_kd.py --epochs 3 --no-early-stopping --threads 2 --teacher-logits both --out t.json
"""

from __future__ import annotations

import os

import common
from common import ALPHA, BATCH_SIZE, TEMPERATURE, Stopwatch

ARGS = common.parse_args(__doc__.splitlines()[0])

import torch  # noqa: E402  (after the flags, so --help is fast)
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(ARGS.threads)
EVAL_BATCH = 1024  # evaluation only: no gradients, the batch size does not change the result


def mlp(hidden: tuple[int, ...], dropout: float) -> nn.Sequential:
    """784-hidden..-10 with ReLU (and Dropout when dropout > 0) after each hidden layer."""
    layers: list[nn.Module] = []
    sizes = (common.INPUT_SIZE, *hidden, common.CLASSES)
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        dense = nn.Linear(d_in, d_out)
        nn.init.xavier_uniform_(dense.weight)  # Keras' glorot_uniform: U(±sqrt(6/(d_in+d_out)))
        nn.init.zeros_(dense.bias)
        layers.append(dense)
        if i < len(hidden):
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode logits (n, 10), in chunks."""
    model.eval()
    return torch.cat([model(x[i : i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])


def kd_loss(z_s: torch.Tensor, z_t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """α·CE(y, z_s) + (1−α)·s·KL(p_t ‖ p_s): sum over classes, mean over the batch."""
    hard = F.cross_entropy(z_s, y)
    soft = F.kl_div(F.log_softmax(z_s / TEMPERATURE, dim=1), F.softmax(z_t / TEMPERATURE, dim=1),
                    reduction="batchmean")
    return ALPHA * hard + (1.0 - ALPHA) * ARGS.soft_scale_factor * soft


def fit(model: nn.Module, data: dict, batch_loss, val_loss, seed: int) -> tuple[list[float], dict, int | None]:
    """Keras-style fit: returns (seconds per epoch, history, best epoch 1-based or None).

    `batch_loss(model, idx, x, y)` is the training loss of the rows `idx` of the training split;
    `val_loss(model)` the loss on the validation split in eval mode. An epoch's seconds cover the
    training pass and the validation loss, as Keras' fit line does.
    """
    opt = torch.optim.Adam(model.parameters(), lr=common.LEARNING_RATE,
                           betas=(common.BETA_1, common.BETA_2), eps=common.EPSILON)
    x, y = data["x_train"], data["y_train"]
    shuffle = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    seconds: list[float] = []
    stopper, best_state = common.EarlyStopping(ARGS.patience), None
    early = not ARGS.no_early_stopping
    for epoch in range(ARGS.epochs):
        with Stopwatch() as clock:
            model.train()
            perm = torch.randperm(len(x), generator=shuffle)
            total = torch.zeros(())
            for start in range(0, len(x), BATCH_SIZE):
                idx = perm[start : start + BATCH_SIZE]
                opt.zero_grad(set_to_none=True)
                loss = batch_loss(model, idx, x[idx], y[idx])
                loss.backward()
                opt.step()
                total += loss.detach() * len(idx)
            model.eval()
            with torch.no_grad():
                current = float(val_loss(model))
        seconds.append(clock.seconds)
        history["loss"].append(float(total) / len(x))
        history["val_loss"].append(current)
        if not early:
            continue
        improved, stop = stopper.update(current, epoch)
        if improved:
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        elif stop:
            break
    if early and best_state is not None:
        model.load_state_dict(best_state)
    return seconds, history, stopper.best_epoch


def main() -> None:
    torch.manual_seed(ARGS.seed)
    mn = common.load_mnist(train_limit=ARGS.train_limit)
    data = {k: torch.from_numpy(v) for k, v in vars(mn).items()}
    report = common.base_report("pytorch", ARGS, {
        "torch": torch.__version__,
        "mkl": str(torch.backends.mkl.is_available()),
        "mkldnn": str(torch.backends.mkldnn.is_available()),
        "intra_op_threads": str(torch.get_num_threads()),
        "inter_op_threads": str(torch.get_num_interop_threads()),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset (libgomp default: spin)"),
    })

    def ce_batch(model, idx, xb, yb):
        return F.cross_entropy(model(xb), yb)

    def ce_val(model):
        return F.cross_entropy(logits_of(model, data["x_val"]), data["y_val"])

    def record(model, seconds, history, best, **extra):
        z = logits_of(model, data["x_test"]).numpy()
        return common.training_record(seconds, z, mn.y_test, best_epoch=best, history=history, **extra)

    teacher = mlp(common.TEACHER_HIDDEN, common.TEACHER_DROPOUT)
    if "teacher" in ARGS.which:
        seconds, history, best = fit(teacher, data, ce_batch, ce_val, ARGS.seed)
        report["models"]["teacher"] = record(teacher, seconds, history, best)

    if "distill" in ARGS.which:
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        for mode in ARGS.logit_modes:
            torch.manual_seed(ARGS.seed + 1)
            student = mlp(common.STUDENT_HIDDEN, 0.0)
            extra = {"teacher_trained": "teacher" in ARGS.which, "teacher_logits": mode}
            if mode == "per-batch":
                def kd_batch(model, idx, xb, yb):
                    with torch.no_grad():
                        z_t = teacher(xb)
                    return kd_loss(model(xb), z_t, yb)
                z_t_val = None
            else:
                with Stopwatch() as cache_clock:
                    z_t_train = logits_of(teacher, data["x_train"])
                    z_t_val = logits_of(teacher, data["x_val"])
                extra["teacher_logits_seconds"] = cache_clock.seconds

                def kd_batch(model, idx, xb, yb):
                    return kd_loss(model(xb), z_t_train[idx], yb)

            def kd_val(model, z_t_val=z_t_val):
                z_t = logits_of(teacher, data["x_val"]) if z_t_val is None else z_t_val
                return kd_loss(logits_of(model, data["x_val"]), z_t, data["y_val"])

            seconds, history, best = fit(student, data, kd_batch, kd_val, ARGS.seed + 1)
            report["models"][common.distill_key(mode)] = record(student, seconds, history, best, **extra)

    if "scratch" in ARGS.which:
        torch.manual_seed(ARGS.seed + 1)
        student = mlp(common.STUDENT_HIDDEN, 0.0)
        seconds, history, best = fit(student, data, ce_batch, ce_val, ARGS.seed + 2)
        report["models"]["scratch"] = record(student, seconds, history, best)

    common.finish_report(report, ARGS.out)


if __name__ == "__main__":
    main()
