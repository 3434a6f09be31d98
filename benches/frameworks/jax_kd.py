"""The notebook's three trainings in JAX + optax on the CPU, for side-by-side benchmarks.

The same trainings, split, metrics, flags and JSON as torch_kd.py (see its docstring and common.py):
teacher 784-1200-1200-10 with Dropout(0.5), distilled and scratch students 784-300-10; Glorot-uniform
weights, zero biases, Adam lr 1e-3 β 0.9/0.999 ε 1e-7, batch 64 reshuffled every epoch, early
stopping on val_loss with the best weights restored.

Two styles, `--jit`:
  step   one jitted train step (forward, backward, Adam) called from a Python loop over the batches:
         the way most JAX code is written; one dispatch per batch.
  epoch  the whole epoch as ONE jitted `lax.scan` over the shuffled batches: one dispatch per epoch.
In both, the data stay on the device and a batch's rows are gathered inside the jitted code from the
epoch's permutation (numpy, like torch_kd.py's randperm); the epoch's dropout key is
fold_in(fold_in(root, epoch), batch) computed inside the jitted code too, so the two styles run the
same arithmetic. The final partial batch (54,000 = 843·64 + 48) is NOT masked: it is one more call
of the same train step compiled at its own shape (48 rows), so every example is seen once per
epoch with the batch mean over its real rows, as in Keras and PyTorch.

Compilation: every jitted function (train step or epoch, partial-batch step, validation loss,
evaluation forward) is compiled ahead of time (`jax.jit(f).lower(...).compile()`) before epoch 1;
its seconds are reported per training as `compile_seconds` and are NOT in `seconds_per_epoch`.

Adam's epsilon: optax.adam divides by sqrt(v̂) + ε with v̂ bias-corrected (PyTorch's placement);
Keras divides by sqrt(v) + ε, i.e. Keras' ε is optax's ε·sqrt(1 − β₂ᵗ). We keep optax.adam as a
JAX user writes it, with ε = 1e-7: the same placement and value as torch_kd.py and candle's AdamW,
so the three peers share one optimizer; it agrees with Keras (and `distill`) once 1 − β₂ᵗ ≈ 1, a
few thousand steps, and changes no timing.

Threads: XLA has no supported thread-count setting for the CPU client; it sizes its thread pools
from the CPUs the process may run on. So `--threads N` (N below the CPUs available) first restricts
the process's CPU affinity to N of them (`os.sched_setaffinity`, what `taskset -c` does), before
jax is imported, and for N = 1 also sets `--xla_cpu_multi_thread_eigen=false` in XLA_FLAGS (Eigen's
own pool single-threaded). The report records the affinity, XLA_FLAGS and the process's OS thread
count after start-up.

    python jax_kd.py --jit epoch --epochs 3 --no-early-stopping --threads 2 --teacher-logits both --out j.json
"""

from __future__ import annotations

import importlib.metadata
import math
import os

import numpy as np

import common
from common import ALPHA, BATCH_SIZE, TEMPERATURE, Stopwatch


def jit_flag(p) -> None:
    p.add_argument("--jit", choices=("step", "epoch"), default="epoch",
                   help="a jitted train step in a Python loop, or the whole epoch as one jitted "
                        "lax.scan (default %(default)s)")


ARGS = common.parse_args(__doc__.splitlines()[0], extra_flags=jit_flag)


def limit_threads(n: int) -> list[int]:
    """Pins the process to n of its CPUs (taskset) before XLA starts; returns the CPUs kept."""
    cpus = sorted(os.sched_getaffinity(0))
    if n < len(cpus):
        cpus = cpus[:n]
        os.sched_setaffinity(0, cpus)
    if n == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    return cpus


CPUS = limit_threads(ARGS.threads)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after the flags and the affinity, so XLA sizes its pools from them)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from jax import lax  # noqa: E402

EVAL_BATCH = 1024  # evaluation only: no gradients, the batch size does not change the result


# ------------------------------------------------------------------------------------ the model


def mlp(key, hidden: tuple[int, ...]) -> list[dict]:
    """784-hidden..-10: per layer {"w": (in, out) Glorot-uniform U(±sqrt(6/(in+out))), "b": zeros}."""
    sizes = (common.INPUT_SIZE, *hidden, common.CLASSES)
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": jax.random.uniform(k, (d_in, d_out), jnp.float32, -1.0, 1.0) * math.sqrt(6.0 / (d_in + d_out)),
             "b": jnp.zeros((d_out,), jnp.float32)}
            for k, d_in, d_out in zip(keys, sizes[:-1], sizes[1:])]


def forward(params: list[dict], x, key=None, rate: float = 0.0):
    """Logits; h = relu(h·W + b) per hidden layer, then inverted dropout (keep 1 − rate, scale
    1/(1 − rate)) when a key is given (training)."""
    h = x
    for i, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        if i < len(params) - 1:
            h = jax.nn.relu(h)
            if key is not None and rate > 0:
                keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - rate, h.shape)
                h = jnp.where(keep, h / (1.0 - rate), 0.0)
    return h


def cross_entropy(z, y):
    return optax.softmax_cross_entropy_with_integer_labels(z, y).mean()


def kd_loss(z_s, z_t, y):
    """α·CE(y, z_s) + (1−α)·s·KL(p_t ‖ p_s) at temperature T: sum over classes, mean over the batch."""
    log_p_s = jax.nn.log_softmax(z_s / TEMPERATURE, axis=1)
    log_p_t = jax.nn.log_softmax(z_t / TEMPERATURE, axis=1)
    soft = (jnp.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=1).mean()
    return ALPHA * cross_entropy(z_s, y) + (1.0 - ALPHA) * ARGS.soft_scale_factor * soft


# An objective is (params, data, idx, key) -> loss: the rows idx of data {"x", "y", and for the
# distillation "teacher" (params, forward each batch) or "z" (cached teacher logits)}; idx None =
# all rows; key None = eval mode (no dropout).


def rows(a, idx):
    return a if idx is None else a[idx]


def ce_objective(rate: float):
    def objective(params, data, idx, key):
        return cross_entropy(forward(params, rows(data["x"], idx), key, rate), rows(data["y"], idx))
    return objective


def kd_objective(params, data, idx, key):
    x = rows(data["x"], idx)
    z_t = forward(data["teacher"], x) if "teacher" in data else rows(data["z"], idx)
    return kd_loss(forward(params, x), z_t, rows(data["y"], idx))


# ------------------------------------------------------------------------------- the training


def aot(fn, *example, donate: tuple[int, ...] = ()):
    """`fn` jitted and compiled now for the shapes and dtypes of `example`."""
    return jax.jit(fn, donate_argnums=donate).lower(*example).compile()


def train_step(objective, opt):
    """(params, opt_state, total, data, idx, root, epoch, batch) -> (params, opt_state, total + loss·rows)."""
    def step(params, opt_state, total, data, idx, root, epoch, batch):
        key = jax.random.fold_in(jax.random.fold_in(root, epoch), batch)
        loss, grads = jax.value_and_grad(objective)(params, data, idx, key)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, total + loss * idx.shape[0]
    return step


def scanned_epoch(step):
    """The full batches of an epoch, idx_batches (nb, 64), as one lax.scan of `step`."""
    def epoch_fn(params, opt_state, total, data, idx_batches, root, epoch):
        def body(carry, xs):
            idx, batch = xs
            return step(*carry, data, idx, root, epoch, batch), None
        batches = jnp.arange(idx_batches.shape[0], dtype=jnp.int32)
        carry, _ = lax.scan(body, (params, opt_state, total), (idx_batches, batches))
        return carry
    return epoch_fn


def fit(params, objective, data: dict, val_data: dict, seed: int):
    """Keras-style fit: (params, seconds per epoch, history, best epoch or None, compile seconds).

    An epoch's seconds cover the training pass and the validation loss, as in torch_kd.py."""
    opt = optax.adam(common.LEARNING_RATE, b1=common.BETA_1, b2=common.BETA_2, eps=common.EPSILON)
    opt_state = opt.init(params)
    n = len(data["y"])
    full, rest = divmod(n, BATCH_SIZE)
    root = jax.random.fold_in(jax.random.PRNGKey(seed), 1)  # dropout; the init used fold_in(.., 0)
    step = train_step(objective, opt)
    zero, i32 = np.zeros((), np.float32), np.int32(0)
    donate = (0, 1)  # params and Adam state are updated in place
    with Stopwatch() as compile_clock:
        if ARGS.jit == "epoch":
            run_full = aot(scanned_epoch(step), params, opt_state, zero, data,
                           np.zeros((full, BATCH_SIZE), np.int32), root, i32, donate=donate)
        else:
            run_one = aot(step, params, opt_state, zero, data, np.zeros(BATCH_SIZE, np.int32), root, i32, i32,
                          donate=donate)
        run_rest = aot(step, params, opt_state, zero, data, np.zeros(rest, np.int32), root, i32, i32,
                       donate=donate) if rest else None
        val_loss = aot(lambda p, v: objective(p, v, None, None), params, val_data)
    shuffle = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": [], "val_loss": []}
    seconds: list[float] = []
    stopper, best_params = common.EarlyStopping(ARGS.patience), None
    early = not ARGS.no_early_stopping
    for epoch in range(ARGS.epochs):
        with Stopwatch() as clock:
            perm = shuffle.permutation(n).astype(np.int32)
            e = np.int32(epoch)
            state = (params, opt_state, zero)
            if ARGS.jit == "epoch":
                state = run_full(*state, data, perm[: full * BATCH_SIZE].reshape(full, BATCH_SIZE), root, e)
            else:
                for b in range(full):
                    state = run_one(*state, data, perm[b * BATCH_SIZE : (b + 1) * BATCH_SIZE], root, e, np.int32(b))
            if rest:
                state = run_rest(*state, data, perm[full * BATCH_SIZE :], root, e, np.int32(full))
            params, opt_state, total = state
            current = float(val_loss(params, val_data))  # float() waits for the device
            mean_loss = float(total) / n
        seconds.append(clock.seconds)
        history["loss"].append(mean_loss)
        history["val_loss"].append(current)
        if not early:
            continue
        improved, stop = stopper.update(current, epoch)
        if improved:
            best_params = jax.tree.map(np.array, params)  # a host copy: params are donated next step
        elif stop:
            break
    if early and best_params is not None:
        params = jax.device_put(best_params)
    return params, seconds, history, stopper.best_epoch, compile_clock.seconds


def logits_of(forward_c, params, x: np.ndarray) -> np.ndarray:
    """Eval-mode logits (n, 10) with the compiled (EVAL_BATCH, 784) forward; last chunk zero-padded."""
    chunks = []
    for i in range(0, len(x), EVAL_BATCH):
        part = x[i : i + EVAL_BATCH]
        padded = np.zeros((EVAL_BATCH, x.shape[1]), np.float32)
        padded[: len(part)] = part
        chunks.append(np.asarray(forward_c(params, padded))[: len(part)])
    return np.concatenate(chunks)


def main() -> None:
    mn = common.load_mnist(train_limit=ARGS.train_limit)
    report = common.base_report(f"jax-{ARGS.jit}", ARGS, {
        "jax": jax.__version__,
        "jaxlib": importlib.metadata.version("jaxlib"),
        "optax": optax.__version__,
        "backend": jax.default_backend(),
        "jit": ARGS.jit,
        "cpu_affinity": ",".join(map(str, CPUS)),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "os_threads_after_start": str(len(os.listdir("/proc/self/task"))),
    })
    train = jax.device_put({"x": mn.x_train, "y": mn.y_train.astype(np.int32)})
    val = jax.device_put({"x": mn.x_val, "y": mn.y_val.astype(np.int32)})

    def init(seed: int, hidden):
        return mlp(jax.random.fold_in(jax.random.PRNGKey(seed), 0), hidden)

    def eval_forward(params):
        return aot(lambda p, x: forward(p, x), params, np.zeros((EVAL_BATCH, common.INPUT_SIZE), np.float32))

    def record(params, seconds, history, best, compile_seconds, **extra):
        with Stopwatch() as clock:
            forward_c = eval_forward(params)
        z = logits_of(forward_c, params, mn.x_test)
        return common.training_record(seconds, z, mn.y_test, best_epoch=best, history=history,
                                      compile_seconds=compile_seconds + clock.seconds, **extra)

    teacher = init(ARGS.seed, common.TEACHER_HIDDEN)
    if "teacher" in ARGS.which:
        teacher, *result = fit(teacher, ce_objective(common.TEACHER_DROPOUT), train, val, ARGS.seed)
        report["models"]["teacher"] = record(teacher, *result)

    if "distill" in ARGS.which:
        for mode in ARGS.logit_modes:
            student = init(ARGS.seed + 1, common.STUDENT_HIDDEN)
            extra = {"teacher_trained": "teacher" in ARGS.which, "teacher_logits": mode}
            if mode == "per-batch":
                data, val_data, cache_compile = {**train, "teacher": teacher}, {**val, "teacher": teacher}, 0.0
            else:
                with Stopwatch() as compile_clock:
                    teacher_forward = eval_forward(teacher)
                with Stopwatch() as cache_clock:
                    z_train = jax.device_put(logits_of(teacher_forward, teacher, mn.x_train))
                    z_val = jax.device_put(logits_of(teacher_forward, teacher, mn.x_val))
                extra["teacher_logits_seconds"] = cache_clock.seconds
                data, val_data, cache_compile = {**train, "z": z_train}, {**val, "z": z_val}, compile_clock.seconds
            student, seconds, history, best, compile_seconds = fit(student, kd_objective, data, val_data, ARGS.seed + 1)
            report["models"][common.distill_key(mode)] = record(student, seconds, history, best,
                                                                compile_seconds + cache_compile, **extra)

    if "scratch" in ARGS.which:
        student = init(ARGS.seed + 1, common.STUDENT_HIDDEN)
        student, *result = fit(student, ce_objective(0.0), train, val, ARGS.seed + 2)
        report["models"]["scratch"] = record(student, *result)

    common.finish_report(report, ARGS.out)


if __name__ == "__main__":
    main()
