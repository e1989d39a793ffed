"""The compression method registry, training data, and the fine-tuning loop every method shares.

A compression method is a function ``apply(model, argument, ctx) -> model`` registered under a name with a fixed
pipeline order (:func:`register_method`). ``edgesdk compress --method prune=0.9,share=4bit`` runs the named methods
in that order, whatever order the user wrote them in, and always ends with the calibrated int8 conversion through
the real TFLite converter (``int8``, order 100, implied). Fixed order: lowrank 10, filter/fpgm 20, pattern 30,
prune 40, share 50, ternary/binary/xnor 60, int8 100.

Each method returns a plain Keras model whose weights carry the structure (ternary planes, zeros, few values, ...),
so that the int8 ``.tflite`` the converter writes still runs in TFLite and TFLite Micro, and edgesdk's passes find
the structure again after reading it (see ``edgesdk.passes``). Training wrappers (quantizers, masks) are stripped
before the method returns.

:class:`CompressContext` carries the training and validation data, the per-layer report entries, the pruning
masks every later stage keeps, and :meth:`CompressContext.fit`, the fine-tuning recipe every method shares: Adam
with warm-up and cosine decay from the float weights, the best validation epoch restored, progress lines (epoch,
loss, accuracy, val accuracy) and knowledge distillation from the float model (Hinton, Vinyals and Dean 2015,
"Distilling the Knowledge in a Neural Network": soft targets at temperature T, loss scaled by T²).
:func:`reestimate_batchnorm` recomputes BatchNorm statistics with the compressed weights before conversion.
Methods register a check (:func:`register_check`) that refuses what cannot work before anything trains.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CompressError, ModelFormatError

log = logging.getLogger(__name__)

#: Keras layer classes whose kernel a weight-compression method can change.
WEIGHT_LAYER_CLASSES = ("Dense", "Conv2D", "DepthwiseConv2D")

DEFAULT_EPOCHS = 30
DEFAULT_BATCH = 32
DEFAULT_LR = 1e-3
WARMUP = 0.05  # fraction of the fine-tuning steps with a linearly rising learning rate
DISTILL_ALPHA = 0.5  # weight of the hard-label loss when distilling; the rest goes to the soft targets


# --- the registry ------------------------------------------------------------------------------------------
@dataclass
class MethodSpec:
    """A registered compression method."""

    name: str  # e.g. "prune", "share", "ternary"
    order: int  # fixed pipeline order (lower runs first)
    apply: Callable[[Any, str | None, CompressContext], Any]  # (model, argument, ctx) -> model
    help: str
    #: (model, argument, ctx) -> None: raises CompressError for what cannot work, before any training.
    check: Callable[[Any, str | None, CompressContext], None] | None = None


METHODS: dict[str, MethodSpec] = {}
_CHECKS: dict[str, Callable] = {}  # checks registered before their method


def register_method(name: str, order: int, help: str) -> Callable[[Callable], Callable]:
    """Decorator: register ``fn(model, argument, ctx) -> model`` as compression method ``name``."""

    def deco(fn: Callable) -> Callable:
        METHODS[name] = MethodSpec(name=name, order=order, apply=fn, help=help, check=_CHECKS.get(name))
        return fn

    return deco


def register_check(name: str) -> Callable[[Callable], Callable]:
    """Decorator: ``fn(model, argument, ctx)`` checks method ``name``'s argument and the model before anything
    trains (a refusal takes seconds, not a fine-tuning run); it raises :class:`CompressError` or returns."""

    def deco(fn: Callable) -> Callable:
        _CHECKS[name] = fn
        if name in METHODS:
            METHODS[name].check = fn
        return fn

    return deco


#: Methods that each decide every weight's value set; at most one of them in one run.
EXCLUSIVE = ("ternary", "binary", "xnor", "adder")
#: Methods whose zeros or shared values a later EXCLUSIVE method would overwrite.
KEEPS_STRUCTURE = ("prune", "pattern", "share")


def parse_methods(spec: str | Iterable[str]) -> list[tuple[MethodSpec, str | None]]:
    """``"prune=0.9,share=4bit,int8"`` -> the registered methods with their arguments, in pipeline order.

    ``int8`` is implied (always the last step) and appears in the result exactly once.
    """
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
    else:
        parts = [str(p).strip() for p in spec]
    parts = [p for p in parts if p]
    if not parts:
        raise CompressError("no compression method given; choose from " + ", ".join(sorted(METHODS)))
    out: dict[str, tuple[MethodSpec, str | None]] = {}
    for part in parts:
        name, _, arg = part.partition("=")
        name = name.strip().lower()
        if name not in METHODS:
            raise CompressError(
                f"unknown compression method {name!r}; known methods: {', '.join(sorted(METHODS))}"
            )
        if name in out:
            raise CompressError(f"compression method {name!r} is given twice in {spec!r}")
        out[name] = (METHODS[name], arg.strip() or None)
    exclusive = [n for n in out if n in EXCLUSIVE]
    if len(exclusive) > 1:
        raise CompressError(
            f"methods {' and '.join(exclusive)} cannot be combined: each sets every weight's values"
        )
    if "filter" in out and "fpgm" in out:
        raise CompressError(
            "methods filter and fpgm cannot be combined: both choose which filters to remove; pick one"
        )
    structure = [n for n in out if n in KEEPS_STRUCTURE]
    if exclusive and structure:
        raise CompressError(
            f"methods {structure[0]} and {exclusive[0]} cannot be combined: {exclusive[0]} re-quantizes every "
            f"weight after {structure[0]} and does not keep its zeros or shared values"
        )
    if "int8" not in out and "int8" in METHODS:
        out["int8"] = (METHODS["int8"], None)
    return sorted(out.values(), key=lambda ms: (ms[0].order, ms[0].name))


# --- data --------------------------------------------------------------------------------------------------
def load_xy(data: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``data`` as float32 samples and int64 labels: an ``.npz`` path with keys ``x`` and ``y``, or ``(x, y)``."""
    if data is None:
        raise CompressError(
            f"compress needs {what} data: an .npz file with arrays x (samples) and y (integer labels)"
        )
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise CompressError(f"{what} data {path} does not exist")
        from edgesdk.util.safeio import read_array_file

        arrays = read_array_file(path, f"{what} data {path}", CompressError, keys=("x", "y"))
        missing = [k for k in ("x", "y") if k not in arrays]
        if missing:
            raise CompressError(f"{what} data {path} has no array {' or '.join(missing)}")
        x, y = arrays["x"], arrays["y"]
        name = f"{what} data {path}"
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
        name = f"{what} data"
    else:
        raise CompressError(f"{what} data must be an .npz path or an (x, y) pair, not {type(data).__name__}")
    if x.dtype.kind not in "fiu":
        raise CompressError(f"{name}: samples x have dtype {x.dtype}, expected numbers")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise CompressError(f"{name}: labels y have dtype {y.dtype}, expected integer class labels")
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if len(x) != len(y):
        raise CompressError(f"{name} has {len(x)} samples but {len(y)} labels")
    if len(x) == 0:
        raise CompressError(f"{name} holds no samples")
    x = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise CompressError(f"{name} contains NaN or infinite samples")
    return x, y


def check_fits_model(model: Any, x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Samples must have the model's input shape and labels must index the model's output classes."""
    in_shape = tuple(model.inputs[0].shape[1:])
    if tuple(x.shape[1:]) != in_shape:
        if int(np.prod(x.shape[1:])) == int(np.prod(in_shape)):
            return
        raise CompressError(
            f"{what} samples have shape {tuple(x.shape[1:])}, but model {model.name} takes {in_shape}"
        )
    out_shape = tuple(model.outputs[0].shape[1:])
    if len(out_shape) != 1:
        raise CompressError(
            f"model {model.name} has output shape {out_shape}; compress needs a classifier with one "
            "score per class"
        )
    n = int(out_shape[0])
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n:
        raise CompressError(
            f"{what} labels run from {lo} to {hi}, but model {model.name} has {n} output classes (0..{n - 1})"
        )


def outputs_probabilities(model: Any) -> bool:
    """Whether the model ends in a softmax (probabilities) rather than logits."""
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if act is not None and getattr(act, "__name__", "") == "softmax":
        return True
    return type(last).__name__ == "Softmax"


# --- model helpers -----------------------------------------------------------------------------------------
def weight_layers(model: Any) -> list[Any]:
    """The layers with a kernel a method may compress, in model order."""
    return [layer for layer in model.layers if type(layer).__name__ in WEIGHT_LAYER_CLASSES]


def chosen_layers(
    model: Any,
    ctx: Any,
    classes: tuple[str, ...],
    report: bool,
    none_left: str,
    other_note: Callable[[Any], str] | None = None,
) -> list[Any]:
    """The weight layers of ``classes`` that a method compresses: not kept int8 (with ``report``, such a layer's
    report row says so, and a layer of another class gets ``other_note(layer)`` when given). CompressError with
    ``none_left`` when no layer is left."""
    chosen = []
    for layer in weight_layers(model):
        if layer.name in ctx.keep_int8:
            if report:
                ctx.layer(layer.name).setdefault("note", ctx.kept_note(layer.name))
        elif type(layer).__name__ in classes:
            chosen.append(layer)
        elif report and other_note is not None:
            ctx.layer(layer.name).setdefault("note", other_note(layer))
    if not chosen:
        raise CompressError(none_left)
    return chosen


def resolve_keep_int8(model: Any, keep: str | Iterable[str] | None) -> set[str]:
    """``"first,last"`` and/or layer names -> the names of the weight layers that stay int8."""
    if keep is None:
        return set()
    items = [k.strip() for k in keep.split(",")] if isinstance(keep, str) else [str(k).strip() for k in keep]
    items = [k for k in items if k and k.lower() != "none"]
    layers = weight_layers(model)
    names = {layer.name for layer in model.layers}
    out: set[str] = set()
    for item in items:
        if item.lower() == "first" and layers:
            out.add(layers[0].name)
        elif item.lower() == "last" and layers:
            out.add(layers[-1].name)
        elif item in names:
            out.add(item)
        else:
            raise CompressError(
                f"--keep-int8 names layer {item!r}, which model {model.name} does not have "
                f"(its weight layers: {', '.join(la.name for la in layers)})"
            )
    return out


def bias_and_activation(layer: Any, x: Any) -> Any:
    """The rest of a Keras Dense/Conv layer's forward pass after its product ``x``: its bias (when it has one)
    added, then its activation; for the compressed layers that compute the product with their own kernel."""
    from keras import ops

    if layer.bias is not None:
        x = ops.add(x, layer.bias)
    return layer.activation(x) if layer.activation is not None else x


def trainable_copy(model: Any, clone_function: Callable[[Any], Any] | None = None) -> Any:
    """A functional copy of ``model`` with a free batch dimension (for ``fit``), the weights copied over.

    ``clone_function(layer) -> layer`` may replace layers (for quantization-aware training); the replacement
    must keep the layer's name and weight order.
    """
    import keras

    inp = keras.Input(tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)

    def _clone(layer: Any) -> Any:
        if clone_function is not None:
            new = clone_function(layer)
            if new is not None:
                return new
        return layer.__class__.from_config(layer.get_config())

    # Keras would re-compile the clone from the model's compile config (our loss closures do not serialize).
    was_compiled = getattr(model, "compiled", False)
    try:
        model.compiled = False
        new = keras.models.clone_model(model, input_tensors=inp, clone_function=_clone)
    except Exception as exc:
        raise CompressError(
            f"model {model.name} cannot be rebuilt for training ({type(exc).__name__}: {exc}); "
            "compress takes Sequential and functional Keras models"
        ) from exc
    finally:
        model.compiled = was_compiled
    old_by_name = {layer.name: layer for layer in model.layers}
    for layer in new.layers:
        src = old_by_name.get(layer.name)
        if src is not None and src.weights:
            # A replacement may add weights after the original ones (trained scales) or drop them again.
            dst = layer.get_weights()
            got = src.get_weights()
            n = min(len(dst), len(got))
            layer.set_weights(got[:n] + dst[n:])
    return new


def fixed_batch(model: Any) -> Any:
    """A batch-1 functional wrapper (what the TFLite converter needs for a static graph)."""
    import keras

    shape = tuple(model.inputs[0].shape[1:])
    inp = keras.Input(shape, batch_size=1, dtype=model.inputs[0].dtype)
    return keras.Model(inp, model(inp), name=model.name)


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a Keras model (float forward pass)."""
    pred = model.predict(x.reshape((len(x), *model.inputs[0].shape[1:])), batch_size=256, verbose=0)
    return float(np.mean(np.argmax(pred, axis=-1) == y))


# --- the context -------------------------------------------------------------------------------------------
def _epoch_lines(ctx: CompressContext, what: str, epochs: int) -> Any:
    """A Keras callback writing one line per epoch (loss, accuracy, val accuracy) through ``ctx.progress``."""
    import keras

    class EpochLines(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            parts = [f"loss {logs.get('loss', float('nan')):.4f}"]
            if "acc" in logs:
                parts.append(f"accuracy {logs['acc']:.4f}")
            if "val_acc" in logs:
                parts.append(f"val accuracy {logs['val_acc']:.4f}")
            ctx.progress(f"{what}: epoch {epoch + 1}/{epochs}: " + ", ".join(parts))

    return EpochLines()


class _BestEpoch:
    """Keeps the weights of the epoch with the best validation accuracy (from ``select_from`` on)."""

    def __init__(self, model: Any, select_from: int, x: np.ndarray, y: np.ndarray) -> None:
        self.model = model
        self.select_from = select_from
        self.x, self.y = x, y
        self.best: float = -1.0
        self.epoch: int = -1
        self.weights: list[np.ndarray] | None = None

    def callback(self) -> Any:
        import keras

        keeper = self

        class _CB(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                # Exact top-1 accuracy (Keras' own val metric averages per-batch means).
                pred = keeper.model.predict(keeper.x, batch_size=256, verbose=0)
                acc = float(np.mean(np.argmax(pred, axis=-1) == keeper.y))
                if logs is not None:
                    logs["val_acc"] = acc
                # Later epochs win ties: the learning rate is lower there and the structure final.
                if epoch >= keeper.select_from and acc >= keeper.best:
                    keeper.best, keeper.epoch = acc, epoch
                    keeper.weights = [np.array(w) for w in keeper.model.get_weights()]

        return _CB()


def _masks_callback(model: Any, masks: dict[str, np.ndarray]) -> Any:
    """A callback re-applying the pruning masks of ``masks`` (Keras layer name -> 0/1 kernel mask) to the layers
    of ``model`` that carry them, after every training step: zeros an earlier method made stay exact zeros."""
    import keras

    targets = []
    for layer in model.layers:
        mask = masks.get(layer.name)
        kernel = getattr(layer, "kernel", None)
        if mask is not None and kernel is not None and tuple(kernel.shape) == mask.shape:
            targets.append((kernel, mask))

    class _CB(keras.callbacks.Callback):
        def apply(self) -> None:
            for kernel, mask in targets:
                kernel.assign(np.asarray(kernel.numpy()) * mask)

        def on_train_begin(self, logs: dict | None = None) -> None:
            self.apply()

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.apply()

    return _CB()


def reestimate_batchnorm(model: Any, x: np.ndarray, what: str = "", progress: Callable | None = None) -> int:
    """Recompute every BatchNormalization layer's moving mean and variance from ``x`` with the model's current
    (compressed) weights, in model order, each layer seeing its predecessors' new statistics; returns how many.

    During fine-tuning the moving averages follow weights that change every step (momentum 0.99); after the last
    step, and after the best epoch is restored, they describe none of those weights exactly. The TFLite converter
    folds BatchNorm into the preceding convolution, so these statistics end up inside the int8 weights and biases:
    they must be right before conversion (Nagel et al. 2019, "Data-Free Quantization", on BN statistics and
    quantized weights; the re-estimation itself is the usual "BN recalibration" after quantization).
    """
    import keras

    bns = [
        la
        for la in model.layers
        if type(la).__name__ == "BatchNormalization"
        and int(getattr(la, "axis", -1)) in (-1, len(la.input.shape) - 1)
    ]
    if not bns or len(x) == 0:
        return 0
    xs = x.reshape((len(x), *model.inputs[0].shape[1:]))
    for bn in bns:
        feats = keras.Model(model.inputs, bn.input).predict(xs, batch_size=256, verbose=0).astype(np.float64)
        flat = feats.reshape(-1, feats.shape[-1])
        bn.moving_mean.assign(flat.mean(axis=0).astype(np.float32))
        bn.moving_variance.assign(flat.var(axis=0).astype(np.float32))
    if progress is not None:
        progress(f"{what}: re-estimated the statistics of {len(bns)} BatchNorm layers on {len(x)} samples")
    return len(bns)


def warmup_cosine(lr: float, total_steps: int, warmup_steps: int) -> Any:
    """Linear warm-up from 0 to ``lr`` over ``warmup_steps``, then cosine decay to 0 (Loshchilov and Hutter 2017,
    "SGDR"; warm-up as in Goyal et al. 2017): fine-tuning a compressed model starts from trained float weights,
    and a full learning rate at the first step would throw away what the float model knew."""
    import keras

    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=0.0,
        warmup_target=lr,
        warmup_steps=max(1, warmup_steps),
    )


@dataclass
class CompressContext:
    """What a method can use: the data, the user's choices, the report entries, and :meth:`fit`."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    epochs: int
    seed: int
    keep_int8: set[str] = field(default_factory=set)  # Keras layer names that stay int8
    teacher: Any = None  # the original float model when distilling, else None
    temperature: float = 4.0
    layers: dict[str, dict] = field(default_factory=dict)  # per-layer report entries; methods add keys
    show_progress: bool = True
    batch_size: int = DEFAULT_BATCH
    #: Keras layer name -> why it stays int8 (``--keep-int8`` or the measured sensitivity).
    keep_why: dict[str, str] = field(default_factory=dict)
    #: Keras layer name -> 0/1 kernel mask of a pruning method; every later fine-tuning keeps those zeros.
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    #: One entry per fine-tuning run: epochs, the chosen (best) epoch and its validation accuracy.
    fits: list[dict[str, Any]] = field(default_factory=list)

    def progress(self, msg: str) -> None:
        """One progress line: on stderr when progress is shown, always in the INFO log."""
        log.info("%s", msg)
        if self.show_progress:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    def layer(self, name: str) -> dict:
        """The report entry of Keras layer ``name`` (created on first use)."""
        return self.layers.setdefault(name, {"name": name})

    def probe(self) -> CompressContext:
        """A copy whose report entries are thrown away: for checks that plan without reporting."""
        return replace(self, layers={}, show_progress=False)

    def kept_note(self, name: str) -> str:
        """The report note of a layer that stays int8 by the user's or the automatic choice."""
        return self.keep_why.get(name, "kept int8 (--keep-int8)")

    def fit(
        self,
        model: Any,
        epochs: int | None = None,
        callbacks: Iterable[Any] = (),
        lr: float | None = None,
        select_from: int = 0,
    ) -> Any:
        """Fine-tune ``model`` in place on the training data and return it with its best epoch's weights.

        The recipe: Adam with a linear warm-up (``WARMUP`` of the steps) and cosine decay to zero from ``lr``
        (default ``DEFAULT_LR``), sparse categorical cross-entropy; with a ``teacher`` the loss is
        ``α·CE(y, p) + (1-α)·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (Hinton et al. 2015), α = 0.5.
        A model ending in a softmax has its log-probabilities used as logits (they differ by a constant).
        After every epoch from ``select_from`` (0-based) on, the validation accuracy is measured; the weights
        of the best such epoch are restored at the end (a method whose structure is still changing, e.g. the
        pruning ramp, starts the selection where it is final). The masks in ``self.masks`` are re-applied after
        every step. Choosing the epoch on the validation data makes its accuracy an optimistic estimate.
        """
        import keras
        from keras import ops

        n_epochs = self.epochs if epochs is None else int(epochs)
        if n_epochs <= 0:
            return model
        keras.utils.set_random_seed(self.seed)
        probs = outputs_probabilities(model)
        x = self.x_train.reshape((len(self.x_train), *model.inputs[0].shape[1:]))
        xv = self.x_val.reshape((len(self.x_val), *model.inputs[0].shape[1:]))

        def logits_of(p: Any) -> Any:
            return ops.log(ops.clip(p, 1e-7, 1.0)) if probs else p

        def acc(y_true: Any, y_pred: Any) -> Any:
            label = ops.cast(ops.reshape(y_true[:, 0], (-1,)), "int32")
            return ops.mean(
                ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), label), "float32")
            )

        temp = float(self.temperature)

        def loss(y_true: Any, y_pred: Any) -> Any:
            label = ops.cast(y_true[:, 0], "int32")
            z = logits_of(y_pred)
            hard = keras.losses.sparse_categorical_crossentropy(label, z, from_logits=True)
            if self.teacher is None:
                return hard
            soft_t = y_true[:, 1:]
            log_s = ops.log_softmax(z / temp, axis=-1)
            kl = ops.sum(soft_t * (ops.log(ops.clip(soft_t, 1e-12, 1.0)) - log_s), axis=-1)
            return DISTILL_ALPHA * hard + (1.0 - DISTILL_ALPHA) * temp * temp * kl

        def targets(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
            t = ys.reshape(-1, 1).astype(np.float32)
            if self.teacher is None:
                return t
            zt = self.teacher.predict(xs, batch_size=256, verbose=0).astype(np.float64)
            if outputs_probabilities(self.teacher):
                zt = np.log(np.clip(zt, 1e-7, 1.0))
            zt = zt / temp
            zt -= zt.max(axis=1, keepdims=True)
            soft = np.exp(zt)
            soft /= soft.sum(axis=1, keepdims=True)
            return np.concatenate([t, soft.astype(np.float32)], axis=1)

        steps = n_epochs * math.ceil(len(x) / self.batch_size)
        schedule = warmup_cosine(lr or DEFAULT_LR, steps, int(WARMUP * steps))
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=[acc])
        select_from = min(max(0, int(select_from)), n_epochs - 1)
        best = _BestEpoch(model, select_from, xv, self.y_val)
        cbs = [
            _masks_callback(model, self.masks),
            *callbacks,
            best.callback(),
            _epoch_lines(self, model.name, n_epochs),
        ]
        model.fit(
            x,
            targets(x, self.y_train),
            epochs=n_epochs,
            batch_size=self.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=cbs,
        )
        if best.weights is not None:
            model.set_weights(best.weights)
            self.progress(
                f"{model.name}: kept epoch {best.epoch + 1}/{n_epochs} (val accuracy {best.best:.4f}, "
                "optimistic: chosen on the validation data)"
            )
        self.fits.append(
            {"model": model.name, "epochs": n_epochs, "best_epoch": best.epoch + 1, "val_accuracy": best.best}
        )
        return model


__all__ = [
    "METHODS",
    "CompressContext",
    "MethodSpec",
    "accuracy",
    "check_fits_model",
    "fixed_batch",
    "load_xy",
    "parse_methods",
    "reestimate_batchnorm",
    "register_check",
    "register_method",
    "resolve_keep_int8",
    "trainable_copy",
    "weight_layers",
]


@dataclass
class CompressResult:
    """What ``compress`` measured. Accuracies are fractions in [0, 1]; bytes see :mod:`edgesdk.numerics.weights`."""

    method: str
    out: str
    accuracy_float: float
    accuracy_compressed: float
    weight_bytes_float: int
    weight_bytes_compressed: int
    weight_bytes_int8: int
    #: weight bytes of the ``--optimize size`` export (``weight_bytes_compressed`` is the default export's)
    weight_bytes_size_export: int = 0
    #: the export the byte figures describe: ``{"board": ..., "optimize": "balanced"}``
    export: dict[str, str] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    epochs: int = 0
    seed: int = 0
    distill: bool = False
    keep_int8: list[str] = field(default_factory=list)  # Keras names of the layers kept int8
    fits: list[dict[str, Any]] = field(default_factory=list)  # per fine-tuning: epochs, chosen epoch, val acc
    #: True when epochs or int8 layers were chosen on the validation data: accuracy_compressed is optimistic
    val_optimistic: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def load_keras(model: Any) -> Any:
    from edgesdk.frontends.keras import KERAS_SUFFIXES, _import_tf, _one_line
    from edgesdk.frontends.qkeras import plain_model, prepare_load

    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.exists():
            raise ModelFormatError(f"model {path} does not exist")
        _import_tf()
        import keras

        if path.is_dir():
            try:
                return keras.models.load_model(path, compile=False)
            except Exception as exc:
                raise CompressError(
                    f"SavedModel {path} cannot be loaded as a Keras model with layers to train "
                    f"({_one_line(exc)}); save it as .keras"
                ) from exc
        if path.suffix.lower() not in KERAS_SUFFIXES:
            raise CompressError(
                f"compress takes a float Keras model (.keras, .h5 or SavedModel), not {path.name}"
            )
        prepare_load(path)  # a model trained with QKeras layers needs their classes registered
        try:
            loaded = keras.models.load_model(path, compile=False)
        except Exception as exc:
            raise ModelFormatError(f"Keras model {path} cannot be loaded: {_one_line(exc)}") from exc
        return plain_model(loaded, f"Keras model {path}")
    if hasattr(model, "layers") and callable(model):
        _import_tf()
        return plain_model(model)
    raise CompressError(f"compress takes a Keras model or a path, not a {type(model).__name__}")


def evaluate_tflite(data: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of an int8 ``.tflite`` on (x, y), run by ai-edge-litert (input quantized with its params)."""
    return float(np.mean(tflite_hits(data, x, y)))


def tflite_hits(data: bytes, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per sample, whether an int8 ``.tflite`` run by ai-edge-litert classifies it right (a bool array)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=data,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    di = interp.get_input_details()[0]
    do = interp.get_output_details()[0]
    scale, zp = di["quantization"]
    shape = tuple(int(d) for d in di["shape"])
    hits = np.zeros(len(y), bool)
    for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
        q = np.clip(np.round(xi / scale) + zp, -128, 127).astype(np.int8).reshape(shape)
        interp.set_tensor(di["index"], q)
        interp.invoke()
        hits[i] = int(np.argmax(interp.get_tensor(do["index"]).reshape(-1))) == int(yi)
    return hits


def float_weight_bytes(model: Any) -> int:
    """float32 bytes of the weight (kernel) tensors of the layers edgesdk stores weights for."""
    total = 0
    for layer in weight_layers(model):
        kernel = (
            getattr(layer, "depthwise_kernel", None) if type(layer).__name__ == "DepthwiseConv2D" else None
        )
        if kernel is None:
            kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            total += 4 * int(np.prod(kernel.shape))
    return total
