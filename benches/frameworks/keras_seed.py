"""The notebook's three trainings in Keras 3 on TensorFlow (CPU), for side-by-side benchmarks.

teacher   Sequential 784-1200-1200-10, ReLU, Dropout(0.5) after each hidden layer, logits out,
          SparseCategoricalCrossentropy(from_logits=True)
distilled 784-300-10 student trained through a `Distiller` keras.Model, as in the keras.io
          knowledge-distillation example (Keras 3 form: `compute_loss` and `call` overridden):

    L = α·CE(y, z_s) + (1−α)·s·KL(softmax(z_t/T) ‖ softmax(z_s/T)),   α = 0.1, T = 10, s = 1 or T²

          (keras.losses.KLDivergence: sum over classes, mean over the batch; it clips both
          distributions to [1e-7, 1]). The teacher runs with training=False (no dropout) and is
          frozen (trainable=False). Its logits are computed every batch (`--teacher-logits
          per-batch`, the notebook) or once, with predict(), and fed beside the images (`cached`).
          val_loss is the same combined loss on the validation split, as in the notebook.
scratch   784-300-10 student, cross-entropy

Keras defaults everywhere: Glorot-uniform kernels, zero biases, Adam(1e-3, 0.9, 0.999, 1e-7),
fit(batch_size=64, shuffle=True); validation = the last 10% of train (common.load_mnist does the
split that validation_split=0.1 would do); EarlyStopping(val_loss, patience, restore_best_weights).

    python keras_seed.py --epochs 3 --no-early-stopping --threads 2 --teacher-logits both --out k.json
"""

from __future__ import annotations

import os
import time

import common
from common import ALPHA, BATCH_SIZE, TEMPERATURE, Stopwatch

ARGS = common.parse_args(__doc__.splitlines()[0])

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402  (after the flags and the environment)

tf.config.threading.set_intra_op_parallelism_threads(ARGS.threads)
tf.config.threading.set_inter_op_parallelism_threads(ARGS.threads)
import keras  # noqa: E402
from keras import layers, ops  # noqa: E402

PREDICT_BATCH = 1024  # inference only: the batch size does not change the result


def mlp(hidden: tuple[int, ...], dropout: float, name: str) -> keras.Sequential:
    """784-hidden..-10, ReLU (and Dropout when dropout > 0) after each hidden layer, logits out."""
    stack: list[layers.Layer] = [keras.Input((common.INPUT_SIZE,))]
    for width in hidden:
        stack.append(layers.Dense(width, activation="relu"))
        if dropout > 0:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(common.CLASSES))
    return keras.Sequential(stack, name=name)


def adam() -> keras.optimizers.Adam:
    return keras.optimizers.Adam(learning_rate=common.LEARNING_RATE, beta_1=common.BETA_1,
                                 beta_2=common.BETA_2, epsilon=common.EPSILON)


class Distiller(keras.Model):
    """Trains `student` to match a frozen `teacher` (keras.io's example, Keras 3 form).

    x is either the images (the teacher runs on every batch) or a pair (images, teacher logits)
    computed beforehand (the cached variant).
    """

    def __init__(self, student: keras.Model, teacher: keras.Model):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn,
                alpha=ALPHA, temperature=TEMPERATURE, soft_scale=1.0):
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature
        self.soft_scale = soft_scale

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(x, (tuple, list)):
            teacher_pred = x[1]
        else:
            teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)
        distillation_loss = self.distillation_loss_fn(
            ops.softmax(teacher_pred / self.temperature, axis=1),
            ops.softmax(y_pred / self.temperature, axis=1),
        ) * self.soft_scale
        return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

    def call(self, x, training=False):
        images = x[0] if isinstance(x, (tuple, list)) else x
        return self.student(images, training=training)


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch: the training pass and the validation loss, as fit's line shows."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def fit(model: keras.Model, x, y, validation_data) -> tuple[list[float], dict, int | None]:
    """model.fit with the notebook's settings; returns (seconds per epoch, history, best epoch)."""
    timer = EpochTimer()
    callbacks: list[keras.callbacks.Callback] = [timer]
    early = None
    if not ARGS.no_early_stopping:
        early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=ARGS.patience,
                                              restore_best_weights=True)
        callbacks.append(early)
    h = model.fit(x, y, batch_size=BATCH_SIZE, epochs=ARGS.epochs, shuffle=True,
                  validation_data=validation_data, callbacks=callbacks, verbose=0)
    history = {k: [float(v) for v in h.history[k]] for k in ("loss", "val_loss")}
    best = early.best_epoch + 1 if early is not None else None
    return timer.seconds, history, best


def main() -> None:
    keras.utils.set_random_seed(ARGS.seed)
    mn = common.load_mnist(train_limit=ARGS.train_limit)
    report = common.base_report("keras", ARGS, {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
    })
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    accuracy = [keras.metrics.SparseCategoricalAccuracy()]

    def record(model, seconds, history, best, **extra):
        z = model.predict(mn.x_test, batch_size=PREDICT_BATCH, verbose=0)
        return common.training_record(seconds, z, mn.y_test, best_epoch=best, history=history, **extra)

    teacher = mlp(common.TEACHER_HIDDEN, common.TEACHER_DROPOUT, "teacher")
    if "teacher" in ARGS.which:
        teacher.compile(optimizer=adam(), loss=ce, metrics=accuracy)
        seconds, history, best = fit(teacher, mn.x_train, mn.y_train, (mn.x_val, mn.y_val))
        report["models"]["teacher"] = record(teacher, seconds, history, best)

    if "distill" in ARGS.which:
        teacher.trainable = False
        for mode in ARGS.logit_modes:
            keras.utils.set_random_seed(ARGS.seed + 1)
            student = mlp(common.STUDENT_HIDDEN, 0.0, "student")
            distiller = Distiller(student=student, teacher=teacher)
            distiller.compile(optimizer=adam(), metrics=[keras.metrics.SparseCategoricalAccuracy()],
                              student_loss_fn=ce, distillation_loss_fn=keras.losses.KLDivergence(),
                              alpha=ALPHA, temperature=TEMPERATURE, soft_scale=ARGS.soft_scale_factor)
            extra = {"teacher_trained": "teacher" in ARGS.which, "teacher_logits": mode}
            if mode == "per-batch":
                x, val = mn.x_train, (mn.x_val, mn.y_val)
            else:
                with Stopwatch() as cache_clock:
                    z_t_train = teacher.predict(mn.x_train, batch_size=PREDICT_BATCH, verbose=0)
                    z_t_val = teacher.predict(mn.x_val, batch_size=PREDICT_BATCH, verbose=0)
                extra["teacher_logits_seconds"] = cache_clock.seconds
                x, val = (mn.x_train, z_t_train), ((mn.x_val, z_t_val), mn.y_val)
            seconds, history, best = fit(distiller, x, mn.y_train, val)
            report["models"][common.distill_key(mode)] = record(student, seconds, history, best, **extra)

    if "scratch" in ARGS.which:
        keras.utils.set_random_seed(ARGS.seed + 1)
        student = mlp(common.STUDENT_HIDDEN, 0.0, "scratch")
        student.compile(optimizer=adam(), loss=ce, metrics=accuracy)
        seconds, history, best = fit(student, mn.x_train, mn.y_train, (mn.x_val, mn.y_val))
        report["models"]["scratch"] = record(student, seconds, history, best)

    common.finish_report(report, ARGS.out)


if __name__ == "__main__":
    main()
