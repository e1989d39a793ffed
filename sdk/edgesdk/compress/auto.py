"""``compress --method auto``: mixed per-layer compression under an accuracy budget.

Every weight layer gets its own method — int8, ternary, binary, pruning, weight sharing, pruning plus sharing or
low-rank factorization — chosen so that the written int8 ``.tflite`` is as small as possible (``optimize="size"``,
the default: weight plus per-channel constant bytes as the C backend stores them) or runs the fewest estimated
instructions (``optimize="speed"``) on the board, while its accuracy on the validation data stays within
``max_drop`` points of the float model. HAQ (Wang et al. 2019, "HAQ: Hardware-Aware Automated Quantization with
Mixed Precision") and AMC (He et al. 2018, "AMC: AutoML for Model Compression") searched one knob per layer with
hardware feedback; here the knobs are the methods edgesdk has kernels for, and the hardware feedback is the export's
own kernel cost models. Four steps:

1. **Costs.** For every choice the float model with that choice's weights in every layer that takes it (no
   training: ternary/binary by TWN/BWN, magnitude pruning, k-means sharing, truncated SVD/Tucker-2) is converted by
   the real TFLite converter, read back and run through the default pass pipeline for the board's core
   (``PassContext(core, optimize)``): each layer's bytes and instructions are those of the kernel the passes pick
   for it. A choice that does not make a layer smaller (size) or faster (speed) than int8 under these models is
   dropped for that layer (e.g. every method but int8 on a depthwise layer, which no compressed kernel runs).
2. **Sensitivities.** The validation accuracy drop of the float model when only that layer takes that choice.
3. **Search.** The per-layer choices along the lower convex hull of (cost, summed sensitivity) — the Lagrangian
   relaxation of the multiple-choice knapsack, as in bit allocation (Shoham and Gersho 1988, "Efficient bit
   allocation for an arbitrary set of quantizers"): for a multiplier λ every layer takes the choice minimizing
   ``cost + λ·sensitivity``. Sensitivities of untrained choices are pessimistic (fine-tuning recovers most of a
   drop), so they only *order* the assignments; which ones keep the budget is measured: each probed assignment is
   a **trial** — one quantization-aware fine-tuning run with every layer's own quantizer (:func:`mixed_model`),
   the int8 conversion and the accuracy of the written file on the validation data. Trials bisect the hull for the
   cheapest assignment that keeps the budget, then back off the most sensitive choice of the cheapest failing
   one, layer by layer, while that is still cheaper, then spend the trials left on single-layer steps down from
   the cheapest passing one. The plain int8 model (no fine-tuning) is always a trial.
   A trial keeps the budget when its validation drop plus ``safety`` (default 2) standard errors of that drop is
   at most ``max_drop``: with few validation samples a drop of a few samples is noise, and picking the cheapest of
   several trials on the same samples favours the lucky ones (on digits, 397 validation samples, one standard
   error let through a model 2.0 pt below float on the test split; two kept it at 0.5 pt). The drop and its error come from the samples float
   and compressed disagree on (McNemar 1947, :func:`paired_drop`).
4. **Result.** The cheapest trial within the budget is copied to the output and measured once more by running
   the written file. A report (``report.md`` and ``pareto.png``: accuracy against bytes of every trial, with the
   Pareto front) goes to the work folder next to the output, ``<output stem>.auto/``.

Trials run through :func:`edgesdk.runtime.jobs.run_jobs` (in this process, in local worker processes, or on Ray) and each
finished one is appended to ``trials.jsonl`` in the work folder: running the same command again reads the trials
already done back instead of training them again (a trial is identified by its assignment, epochs, seed and the
hashes of the model and data files). Choosing on the validation data makes its accuracy optimistic; the result
says so, and benchmarks measure a test split nothing chose on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.compress.base import (
    CompressContext,
    CompressResult,
    accuracy,
    bias_and_activation,
    check_fits_model,
    fixed_batch,
    load_xy,
    resolve_keep_int8,
    trainable_copy,
    weight_layers,
)
from edgesdk.errors import CompressError

log = logging.getLogger(__name__)

#: The choices searched by default (``choices=``): one per kernel family edgesdk runs, and a few strengths.
DEFAULT_CHOICES = (
    "int8,ternary,binary,prune=0.5,prune=0.75,prune=0.9,share=4bit,share=2bit,"
    "prune=0.75+share=4bit,prune=0.9+share=4bit,prune=0.9+share=2bit,lowrank=0.9e"
)
DEFAULT_TRIALS = 8
DEFAULT_SAFETY = 2.0  # standard errors of the validation drop (see the module docstring)
#: Fine-tuning epochs of a trial: a mixed assignment starts from the float weights; on MNIST-1D (800 samples) 10
#: epochs left the chosen model 1.1 pt below float on the test split, 20 epochs 1.2 pt above it.
DEFAULT_EPOCHS = 20
CALIB_SAMPLES = 200
RESULTS = "trials.jsonl"
ANALYSIS = "analysis.json"
OPTIMISTIC = (
    "the validation accuracy is optimistic: the assignment was chosen on the validation data; "
    "measure the result on a test split nothing chose on"
)
#: Layer classes that take ternary/binary weights, sharing, low-rank (the kernels the passes have for them).
PACKABLE = ("Dense", "Conv2D")
PRUNABLE = ("Dense", "Conv2D", "DepthwiseConv2D")


# --- choices ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """One layer's method: ``int8``, ``ternary``, ``binary``, ``prune=R``, ``share=Nbit``, ``prune=R+share=Nbit``
    or ``lowrank=SPEC`` (the ``--method`` arguments of the single methods)."""

    name: str
    quant: str = ""  # "ternary" or "binary"
    prune: float = 0.0  # final sparsity
    share: int = 0  # bits of the shared codebook
    lowrank: str = ""  # rank spec (lowrank.parse_rank)

    @property
    def is_int8(self) -> bool:
        return self.name == "int8"


def parse_choices(spec: str | None) -> list[Choice]:
    """``"int8,ternary,prune=0.9+share=4bit"`` -> the choices (int8 always included, first)."""
    from edgesdk.compress.lowrank import parse_rank
    from edgesdk.compress.prune import parse_ratio
    from edgesdk.compress.share import parse_bits

    out: dict[str, Choice] = {"int8": Choice("int8")}
    for item in [p.strip().lower() for p in (spec or DEFAULT_CHOICES).split(",") if p.strip()]:
        kw: dict[str, Any] = {}
        for part in item.split("+"):
            key, _, arg = part.strip().partition("=")
            if key in kw or (key in ("ternary", "binary") and "quant" in kw):
                raise CompressError(f"auto choice {item!r} gives a layer two {key} values; give one")
            if key in ("ternary", "binary") and not arg:
                kw["quant"] = key
            elif key == "prune":
                kw["prune"] = parse_ratio("prune", arg or None)
            elif key == "share":
                kw["share"] = parse_bits(arg or None)
            elif key == "lowrank":
                kw["lowrank"] = str(parse_rank(arg or None))
            elif key == "int8" and not arg:
                kw["int8"] = True
            else:
                raise CompressError(
                    f"auto choice {item!r}: {part!r} is not int8, ternary, binary, prune=R, share=Nbit or "
                    "lowrank=SPEC"
                )
        if "int8" in kw and len(kw) == 1:
            continue
        if len(kw) > 1 and not ("prune" in kw and "share" in kw and len(kw) == 2):
            raise CompressError(
                f"auto choice {item!r}: only prune=R+share=Nbit combines two methods in one layer"
            )
        kw.pop("int8", None)
        out.setdefault(item, Choice(item, **kw))
    return list(out.values())


def _choice_map(choices: list[Choice]) -> dict[str, Choice]:
    return {c.name: c for c in choices}


def applicable(layer: Any, choice: Choice) -> str | None:
    """None when ``layer`` can take ``choice``; else one phrase saying why not."""
    cls = type(layer).__name__
    if choice.is_int8:
        return None
    if choice.prune and not choice.share and cls in PRUNABLE:
        return None
    if cls not in PACKABLE:
        return f"{cls} layers take int8 or pruning only"
    if cls == "Conv2D" and (layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1)):
        return "grouped or dilated Conv2D layers take int8 or pruning only"
    if choice.lowrank:
        from edgesdk.compress.lowrank import _kind

        if _kind(layer) is None:
            return "not factorizable"
    return None


def _kernel_of(layer: Any) -> np.ndarray:
    from edgesdk.compress.prune import _kernel

    return np.asarray(_kernel(layer).numpy(), np.float32)


def proxy_kernel(layer: Any, choice: Choice) -> np.ndarray:
    """The layer's kernel as ``choice`` makes it without training (TWN, BWN, magnitude pruning, k-means sharing
    with linear initialization, the truncated SVD / Tucker-2 reconstruction): for costs and sensitivities."""
    from edgesdk.compress.prune import _magnitude_mask
    from edgesdk.compress.share import clusters
    from edgesdk.compress.ternary import bwn_binarize, twn_ternarize

    w = _kernel_of(layer)
    if choice.quant == "ternary":
        return twn_ternarize(w).astype(np.float32)
    if choice.quant == "binary":
        return bwn_binarize(w).astype(np.float32)
    if choice.lowrank:
        return _lowrank_reconstruction(layer, w, choice.lowrank)
    if choice.prune:
        w = w * _magnitude_mask(w, choice.prune)
    if choice.share:
        c, assign, alive = clusters(w, choice.share)
        w = (c[assign] * alive).astype(np.float32)
    return w.astype(np.float32)


def _lowrank_reconstruction(layer: Any, w: np.ndarray, spec: str) -> np.ndarray:
    from edgesdk.compress.lowrank import _plan_layer, parse_rank, svd_factors, tucker2_factors

    plan = _plan_layer(layer, parse_rank(spec))
    if not plan.get("apply"):
        return w
    if plan["kind"] in ("dense", "conv1x1"):
        a, b = svd_factors(w.reshape(-1, w.shape[-1]), plan["rank"])
        return (a @ b).reshape(w.shape).astype(np.float32)
    u1, core, u2 = tucker2_factors(w, *plan["rank"])
    k = core
    if u1 is not None:
        k = np.einsum("hwro,ir->hwio", k, u1)
    if u2 is not None:
        k = np.einsum("hwis,os->hwio", k, u2)
    return k.astype(np.float32)


# --- the mixed quantization-aware training model ---------------------------------------------------------------
def _snap(w: Any, centroids: Any) -> Any:
    """Every weight replaced by its nearest centroid (Keras ops)."""
    from keras import ops

    shape = tuple(w.shape)
    flat = ops.reshape(w, (-1, 1))
    idx = ops.argmin(ops.abs(flat - ops.reshape(centroids, (1, -1))), axis=1)
    return ops.reshape(ops.take(centroids, idx), shape)


def _mixed_kernel(layer: Any, kernel: Any) -> Any:
    """The kernel the forward pass uses for this layer's choice; straight-through gradients to the latent one
    (Bengio, Léonard and Courville 2013): mask (pruning), then nearest shared centroid, or TWN / BWN."""
    from keras import ops

    from edgesdk.compress.ternary import _ste, bwn_binarize, twn_ternarize

    choice: Choice = layer._edgesdk_choice
    w = kernel
    if choice.prune:
        w = w * layer.prune_mask
    if choice.share:
        snapped = _snap(w, layer.share_centroids)
        if choice.prune:
            snapped = snapped * layer.prune_mask
        w = w + ops.stop_gradient(snapped - w)
    if choice.quant == "ternary":
        w = _ste(w, twn_ternarize(w, ops))
    elif choice.quant == "binary":
        w = _ste(w, bwn_binarize(w, ops))
    return w


def _add_aux(layer: Any) -> None:
    choice: Choice = layer._edgesdk_choice
    shape = tuple(layer.kernel.shape)
    if choice.prune:
        layer.prune_mask = layer.add_weight(
            name="prune_mask", shape=shape, initializer="ones", trainable=False
        )
    if choice.share:
        layer.share_centroids = layer.add_weight(
            name="share_centroids", shape=(1 << choice.share,), initializer="zeros", trainable=False
        )


_CLASSES: dict[str, type] = {}


def _mixed_classes() -> dict[str, type]:
    """Dense, Conv2D and DepthwiseConv2D whose kernel goes through :func:`_mixed_kernel` (created once)."""
    if _CLASSES:
        return _CLASSES
    import keras
    from keras import ops

    class MixedDense(keras.layers.Dense):
        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            _add_aux(self)

        def call(self, inputs: Any, training: Any = None) -> Any:
            x = ops.matmul(inputs, _mixed_kernel(self, self.kernel))
            return bias_and_activation(self, x)

    class MixedConv2D(keras.layers.Conv2D):
        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            _add_aux(self)

        def convolution_op(self, inputs: Any, kernel: Any) -> Any:
            return super().convolution_op(inputs, _mixed_kernel(self, kernel))

    class MixedDepthwiseConv2D(keras.layers.DepthwiseConv2D):
        def build(self, input_shape: Any) -> None:
            super().build(input_shape)
            _add_aux(self)

        def call(self, inputs: Any) -> Any:
            x = ops.depthwise_conv(
                inputs,
                _mixed_kernel(self, self.kernel),
                strides=self.strides,
                padding=self.padding,
                dilation_rate=self.dilation_rate,
                data_format=self.data_format,
            )
            if self.use_bias:
                x = ops.add(x, self.bias)
            return self.activation(x) if self.activation is not None else x

    _CLASSES.update(Dense=MixedDense, Conv2D=MixedConv2D, DepthwiseConv2D=MixedDepthwiseConv2D)
    return _CLASSES


def _recluster(layer: Any) -> None:
    """Shared centroids of the layer's surviving latent weights (k-means, linear initialization; Han, Mao and
    Dally 2016): 2^N of them, or 2^N - 1 next to the zero of a pruned layer, padded by repetition."""
    from edgesdk.compress.share import kmeans_linear

    choice: Choice = layer._edgesdk_choice
    w = np.asarray(layer.kernel.numpy(), np.float32)
    if choice.prune:
        mask = np.asarray(layer.prune_mask.numpy()) != 0
        alive = w[mask]
        k = (1 << choice.share) - 1
    else:
        alive, k = w.reshape(-1), 1 << choice.share
    c, _ = kmeans_linear(alive, k)
    c = np.zeros(1) if c.size == 0 else c
    padded = np.concatenate([c, np.full((1 << choice.share) - c.size, c[-1])])
    layer.share_centroids.assign(padded.astype(np.float32))


def _mixed_callback(layers: list[Any], ramp: int) -> Any:
    """Gradual magnitude pruning of the pruned layers (Zhu and Gupta 2017, over ``ramp`` steps; a pruned weight
    stays pruned) and re-clustering of the shared ones at the start of every epoch."""
    import keras

    from edgesdk.compress.prune import PRUNE_EVERY, _magnitude_mask, zhu_gupta_sparsity

    pruned = [la for la in layers if la._edgesdk_choice.prune]
    shared = [la for la in layers if la._edgesdk_choice.share]

    class MixedSchedule(keras.callbacks.Callback):
        step = 0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            for la in shared:
                _recluster(la)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.step += 1
            if self.step % PRUNE_EVERY and self.step != ramp:
                return
            for la in pruned:
                s = zhu_gupta_sparsity(self.step, ramp, la._edgesdk_choice.prune)
                mask = np.asarray(la.prune_mask.numpy())
                w = np.asarray(la.kernel.numpy()) * mask
                la.prune_mask.assign(_magnitude_mask(w, s) * mask)

    return MixedSchedule()


def mixed_model(model: Any, assign: dict[str, Choice]) -> Any:
    """A trainable copy of ``model`` in which every layer named in ``assign`` has its own quantizer.

    Low-rank choices factorize their layers first (:func:`edgesdk.compress.lowrank.factorize`; the factors stay
    int8); every other non-int8 layer becomes a Mixed layer (:func:`_mixed_kernel`)."""
    from edgesdk.compress.lowrank import factorize, parse_rank

    m = model
    for spec in sorted({c.lowrank for c in assign.values() if c.lowrank}):
        only = {n for n, c in assign.items() if c.lowrank == spec}
        m, _ = factorize(m, parse_rank(spec), only=only)
    classes = _mixed_classes()
    wrapped = {n: c for n, c in assign.items() if not c.is_int8 and not c.lowrank}

    def to_mixed(layer: Any) -> Any:
        choice = wrapped.get(layer.name)
        if choice is None:
            return None
        new = classes[type(layer).__name__].from_config(layer.get_config())
        new._edgesdk_choice = choice
        return new

    qat = trainable_copy(m, to_mixed)
    for layer in qat.layers:
        choice = getattr(layer, "_edgesdk_choice", None)
        if choice is not None and choice.share:
            _recluster(layer)
    return qat


def final_kernel(layer: Any) -> np.ndarray:
    """The trained layer's kernel with its choice applied for good (exact zeros, ≤ 2^N values, ternary/binary)."""
    from edgesdk.compress.prune import _magnitude_mask
    from edgesdk.compress.ternary import bwn_binarize, twn_ternarize

    choice: Choice = layer._edgesdk_choice
    w = np.asarray(layer.kernel.numpy(), np.float32)
    mask = np.ones_like(w)
    if choice.prune:
        mask = np.asarray(layer.prune_mask.numpy(), np.float32)
        mask = _magnitude_mask(w * mask, choice.prune) * mask  # the final sparsity, whatever the schedule did
        w = w * mask
    if choice.share:
        c = np.asarray(layer.share_centroids.numpy(), np.float32)
        w = c[np.argmin(np.abs(w.reshape(-1, 1) - c.reshape(1, -1)), axis=1)].reshape(w.shape) * mask
    if choice.quant == "ternary":
        w = twn_ternarize(w)
    elif choice.quant == "binary":
        w = bwn_binarize(w)
    return w.astype(np.float32)


def train_mixed(model: Any, assign: dict[str, Choice], ctx: CompressContext) -> Any:
    """Fine-tune ``model`` with the per-layer ``assign`` in one quantization-aware run; a plain Keras model."""
    import keras

    from edgesdk.compress.prune import RAMP, _steps

    if all(c.is_int8 for c in assign.values()):
        return model  # post-training int8 quantization: nothing to fine-tune
    qat = mixed_model(model, assign)
    mixed = [la for la in qat.layers if hasattr(la, "_edgesdk_choice")]
    ramp = max(1, int(RAMP * _steps(ctx, max(1, ctx.epochs))))
    ctx.fit(qat, callbacks=[_mixed_callback(mixed, ramp)])
    finals = {la.name: final_kernel(la) for la in mixed}
    base = {"MixedDense": keras.layers.Dense, "MixedConv2D": keras.layers.Conv2D}
    base["MixedDepthwiseConv2D"] = keras.layers.DepthwiseConv2D

    def to_plain(layer: Any) -> Any:
        cls = base.get(type(layer).__name__)
        return None if cls is None else cls.from_config(layer.get_config())

    plain = trainable_copy(qat, to_plain)
    for layer in plain.layers:
        if layer.name in finals:
            weights = layer.get_weights()
            weights[0] = finals[layer.name].reshape(weights[0].shape)
            layer.set_weights(weights)
    return plain


# --- costs from the export's kernel cost models -----------------------------------------------------------------
def _node_instructions(graph: Any, node: Any, pctx: Any) -> int:
    """Estimated instructions of a layer with the kernel the passes chose (their ``kernel_report``); a layer no
    pass priced gets the int8 kernel's estimate (:mod:`edgesdk.passes._select`)."""
    from edgesdk.passes import _select

    cands = (node.attrs.get("kernel_report") or {}).get("candidates") or {}
    kernel = node.attrs.get("kernel")
    if kernel in cands:
        return int(cands[kernel]["instructions"])
    for name in ("dense", "direct", "int8"):
        if name in cands:
            return int(cands[name]["instructions"])
    w = _select.weight(graph, node)
    if w is None:
        return 0
    out = graph.tensor(node.outputs[0])
    if node.op == "FULLY_CONNECTED":
        return _select.dense_fc_candidate(w, out.size // w.shape[0], pctx.dsp, scalar=pctx.scalar)[
            "instructions"
        ]
    if node.op == "CONV_2D":
        return _select.dense_conv_candidate(
            graph, node, w, pctx.dsp, scalar=pctx.scalar, packed=pctx.scalar_packed
        )["instructions"]
    per_mac = _select.dense_per_mac("CONV_2D", 1, pctx.dsp)
    return int(per_mac * out.size * int(np.prod(w.shape[1:3])) + _select.COST["dense_conv"][1] * out.size)


def export_rows(data: bytes, pctx: Any, keras_names: list[str]) -> list[dict[str, Any]]:
    """Per weight layer of an int8 ``.tflite``: its IR name, the Keras layer it came from (``keras_names``
    matched by position, as :func:`edgesdk.compress.layer_report` does), format, bytes and instructions with the
    kernels the default pipeline picks under ``pctx``."""
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.numerics.weights import layer_weights
    from edgesdk.passes import run_pipeline

    graph = run_pipeline(read_tflite(data, name="model"), "default", pctx)
    nodes = {n.name: n for n in graph.nodes}
    rows = []
    ir_rows = layer_weights(graph)
    for i, row in enumerate(ir_rows):
        keras_name = keras_names[i] if len(ir_rows) == len(keras_names) else row["name"]
        rows.append(
            {
                "name": row["name"],
                "layer": _origin(keras_name),
                "format": row["format"],
                "bytes": int(row["weight_bytes"]),
                "other_bytes": int(row["other_bytes"]),
                "params": int(row["params"]),
                "instructions": _node_instructions(graph, nodes[row["name"]], pctx),
            }
        )
    return rows


def _origin(keras_name: str) -> str:
    """The original layer of a low-rank factor (``fc1_lr_u`` -> ``fc1``)."""
    for suffix in ("_lr_u", "_lr_v", "_lr_in", "_lr_core", "_lr_out"):
        if keras_name.endswith(suffix):
            return keras_name[: -len(suffix)]
    return keras_name


def convert(model: Any, calib: np.ndarray) -> bytes:
    """The calibrated full-int8 ``.tflite`` of a plain Keras model (the real TFLite converter)."""
    from edgesdk.frontends.keras import quantize_keras

    shape = tuple(model.inputs[0].shape[1:])
    return quantize_keras(fixed_batch(model), calib.reshape((-1, *shape)), num_samples=None)


def _objective(rows: list[dict[str, Any]], optimize: str) -> tuple[int, int]:
    """(primary, secondary) cost of some rows: image bytes then instructions (size), or the reverse (speed)."""
    nbytes = sum(r["bytes"] + r["other_bytes"] for r in rows)
    insn = sum(r["instructions"] for r in rows)
    return (nbytes, insn) if optimize == "size" else (insn, nbytes)


def measure_costs(
    model: Any, choices: list[Choice], fixed: set[str], calib: np.ndarray, pctx: Any, say: Any
) -> dict[str, dict[str, dict[str, Any]]]:
    """``costs[layer][choice]`` -> ``{"rows": [...], "why": ...}``: one conversion per choice, with that choice's
    untrained weights in every layer that takes it (kernel costs depend on a layer's own weights only)."""
    from edgesdk.compress.lowrank import factorize, parse_rank

    layers = [la for la in weight_layers(model)]
    costs: dict[str, dict[str, dict[str, Any]]] = {la.name: {} for la in layers}
    for choice in choices:
        takers = [la for la in layers if la.name not in fixed and applicable(la, choice) is None]
        if not choice.is_int8 and not takers:
            continue
        m = trainable_copy(model)
        if choice.lowrank:
            try:
                m, _ = factorize(m, parse_rank(choice.lowrank), only={la.name for la in takers})
            except CompressError as exc:  # e.g. a fixed rank above every layer's bound: not searched
                say(f"auto: {choice.name} is not searched: {exc}")
                continue
        else:
            by_name = {la.name: la for la in m.layers}
            for la in takers:
                target = by_name[la.name]
                weights = target.get_weights()
                weights[0] = proxy_kernel(la, choice).reshape(weights[0].shape)
                target.set_weights(weights)
        rows = export_rows(convert(m, calib), pctx, [la.name for la in weight_layers(m)])
        for la in layers:
            if choice.is_int8 or la in takers:
                costs[la.name][choice.name] = {"rows": [r for r in rows if r["layer"] == la.name]}
        say(
            f"auto: costs of {choice.name} measured on {len(takers) if not choice.is_int8 else len(layers)} layers"
        )
    return costs


def measure_sensitivity(
    model: Any,
    choices: list[Choice],
    costs: dict[str, dict[str, Any]],
    xv: np.ndarray,
    yv: np.ndarray,
    say: Any,
) -> tuple[float, dict[str, dict[str, float]]]:
    """(float accuracy, ``drop[layer][choice]``): validation accuracy lost when only that layer takes that
    choice's untrained weights (in accuracy fractions; negative when it gained)."""
    m = trainable_copy(model)
    base = accuracy(m, xv, yv)
    by_name = {la.name: la for la in m.layers}
    drops: dict[str, dict[str, float]] = {}
    for src in weight_layers(model):
        drops[src.name] = {"int8": 0.0}
        target = by_name[src.name]
        original = target.get_weights()
        for choice in choices:
            if choice.is_int8 or choice.name not in costs[src.name]:
                continue
            weights = list(original)
            weights[0] = proxy_kernel(src, choice).reshape(original[0].shape)
            target.set_weights(weights)
            drops[src.name][choice.name] = base - accuracy(m, xv, yv)
        target.set_weights(original)
        say(
            f"auto: sensitivity of {src.name}: "
            + ", ".join(f"{k} {100 * v:+.1f} pt" for k, v in drops[src.name].items() if k != "int8")
        )
    return base, drops


# --- the search ------------------------------------------------------------------------------------------------
@dataclass
class Option:
    """One choice for one layer with its cost (objective, secondary) and sensitivity."""

    choice: str
    cost: tuple[int, int]
    drop: float


def layer_options(
    costs: dict[str, dict[str, Any]], drops: dict[str, dict[str, float]], optimize: str
) -> dict[str, list[Option]]:
    """Per layer, the choices worth searching, cheapest first: int8, and those cheaper than int8 under the cost
    model and not dominated by another choice (cheaper or as cheap and less sensitive)."""
    out: dict[str, list[Option]] = {}
    for name, by_choice in costs.items():
        opts = [
            Option(c, _objective(v["rows"], optimize), max(0.0, drops[name].get(c, 0.0)))
            for c, v in by_choice.items()
        ]
        int8 = next(o for o in opts if o.choice == "int8")
        opts = [o for o in opts if o.choice == "int8" or o.cost < int8.cost]
        front = [
            o
            for o in opts
            if o is int8
            or not any(
                (p.cost <= o.cost and p.drop < o.drop) or (p.cost < o.cost and p.drop <= o.drop)
                for p in opts
                if p is not o
            )
        ]
        out[name] = sorted(front, key=lambda o: (o.cost, o.drop))
    return out


def hull(options: dict[str, list[Option]]) -> list[dict[str, str]]:
    """The assignments minimizing ``Σ cost + λ·Σ drop`` over every λ ≥ 0 (the lower convex hull of the
    multiple-choice knapsack), cheapest first, without the all-int8 one."""
    lambdas = {0.0}
    for opts in options.values():
        for a in opts:
            for b in opts:
                if b.drop > a.drop and a.cost[0] > b.cost[0]:
                    lambdas.add((a.cost[0] - b.cost[0]) / (b.drop - a.drop))
    points = sorted(lambdas)
    probes = [0.0] + [(x + y) / 2 for x, y in zip(points, points[1:], strict=False)] + [points[-1] * 2 + 1e9]
    seen: list[dict[str, str]] = []
    for lam in probes:
        assign = {
            name: min(opts, key=lambda o: (o.cost[0] + lam * o.drop, o.drop, o.cost)).choice
            for name, opts in options.items()
        }
        if assign not in seen and any(c != "int8" for c in assign.values()):
            seen.append(assign)
    return sorted(seen, key=lambda a: _predicted(options, a))


def _predicted(options: dict[str, list[Option]], assign: dict[str, str]) -> tuple[int, int, float]:
    cost0 = cost1 = 0
    drop = 0.0
    for name, choice in assign.items():
        o = next(o for o in options[name] if o.choice == choice)
        cost0, cost1, drop = cost0 + o.cost[0], cost1 + o.cost[1], drop + o.drop
    return cost0, cost1, drop


def back_off(options: dict[str, list[Option]], assign: dict[str, str]) -> dict[str, str] | None:
    """``assign`` with its most sensitive choice moved to that layer's next less sensitive option (the one that
    removes the most predicted drop); None when every layer is at its least sensitive option already."""
    best: tuple[float, str, str] | None = None
    for name, choice in assign.items():
        opts = options[name]
        cur = next(o for o in opts if o.choice == choice)
        safer = [o for o in opts if o.drop < cur.drop]
        if not safer:
            continue
        nxt = min(safer, key=lambda o: (o.cost, -o.drop))  # the cheapest step back
        gain = cur.drop - nxt.drop
        if best is None or gain > best[0]:
            best = (gain, name, nxt.choice)
    if best is None:
        return None
    return {**assign, best[1]: best[2]}


# --- one trial -------------------------------------------------------------------------------------------------
def run_trial(
    model_path: str,
    data: Any,
    val: Any,
    assign: dict[str, str],
    choices: str,
    trial_dir: str,
    epochs: int,
    seed: int,
    core: str,
    optimize: str,
    flash_bytes: int,
    distill: bool,
) -> dict[str, Any]:
    """Fine-tune one per-layer assignment, write its int8 ``.tflite``, measure it; a record for ``trials.jsonl``
    (a user error is recorded, not raised). Runs in a worker process (see :func:`edgesdk.runtime.jobs.run_jobs`)."""
    from edgesdk.compress.base import load_keras, tflite_hits
    from edgesdk.errors import EdgeSDKError
    from edgesdk.passes import PassContext

    start = time.monotonic()
    where = Path(trial_dir)
    rec: dict[str, Any] = {"id": where.name, "assign": assign, "epochs": epochs, "seed": seed}
    try:
        import keras

        keras.utils.set_random_seed(seed)
        kmodel = load_keras(model_path)
        x, y = load_xy(data, "training")
        xv, yv = load_xy(val, "validation")
        by_name = _choice_map(parse_choices(choices))
        ctx = CompressContext(
            x_train=x,
            y_train=y,
            x_val=xv,
            y_val=yv,
            epochs=epochs,
            seed=seed,
            teacher=kmodel if distill else None,
            show_progress=False,
        )
        plain = train_mixed(kmodel, {n: by_name[c] for n, c in assign.items()}, ctx)
        data_bytes = convert(plain, x[: min(len(x), CALIB_SAMPLES)])
        where.mkdir(parents=True, exist_ok=True)
        (where / "model.tflite").write_bytes(data_bytes)
        pctx = PassContext(core=core, optimize=optimize, options={"flash_bytes": flash_bytes})
        rows = export_rows(data_bytes, pctx, [la.name for la in weight_layers(plain)])
        for r in rows:
            r["method"] = assign.get(r["layer"], "int8")
        hits = tflite_hits(data_bytes, xv, yv)
        rec.update(
            status="ok",
            accuracy=float(np.mean(hits)),
            hits=_pack(hits),
            weight_bytes=sum(r["bytes"] for r in rows),
            image_bytes=sum(r["bytes"] + r["other_bytes"] for r in rows),
            instructions=sum(r["instructions"] for r in rows),
            layers=rows,
            file=str(where / "model.tflite"),
        )
    except EdgeSDKError as exc:
        rec.update(status="error", error=str(exc))
    except Exception as exc:  # one broken trial must not end the search: record it and go on
        log.exception("auto trial %s failed", where.name)
        rec.update(status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    rec["seconds"] = round(time.monotonic() - start, 1)
    return rec


# --- the result ------------------------------------------------------------------------------------------------
@dataclass
class AutoResult(CompressResult):
    """What ``compress --method auto`` measured: :class:`~edgesdk.compress.CompressResult`'s keys (``layers`` as
    ``{name, method, bytes, instructions, layer, format, other_bytes}`` per IR layer of the written file), the
    chosen file's estimated instructions, the options and every trial."""

    instructions: int = 0
    max_drop: float = 0.0
    safety: float = DEFAULT_SAFETY
    board: str = ""
    optimize: str = "size"
    trials: list[dict[str, Any]] = field(default_factory=list)
    report: str = ""
    seconds: float = 0.0
    note: str = OPTIMISTIC


def _fingerprint(*items: Any) -> str:
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, (str, Path)) and Path(item).is_file():
            h.update(Path(item).read_bytes())
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            for a in item:
                h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
        else:
            h.update(repr(item).encode())
    return h.hexdigest()[:16]


def _pack(hits: np.ndarray) -> str:
    return np.packbits(np.asarray(hits, bool)).tobytes().hex()


def _unpack(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8))[:n].astype(bool)


def paired_drop(float_hits: np.ndarray, hits: np.ndarray) -> tuple[float, float]:
    """(accuracy drop, its standard error) of a compressed model against the float one on the same samples.

    Only the samples where the two disagree carry information (McNemar 1947): with b of them right only in
    float and c right only in the compressed model out of n, the drop is (b - c)/n and its variance
    ((b + c) - (b - c)²/n)/n²."""
    n = len(float_hits)
    b = int(np.sum(float_hits & ~hits))
    c = int(np.sum(~float_hits & hits))
    return (b - c) / n, math.sqrt(max(0.0, (b + c) - (b - c) ** 2 / n)) / n


def _summary(assign: dict[str, str]) -> str:
    """``conv1 int8, conv2 ternary, fc binary``."""
    return ", ".join(f"{n} {c}" for n, c in assign.items())


def work_dir(out: Path) -> Path:
    """The folder next to the output where trials, their results and the report go: ``<stem>.auto``."""
    return out.parent / f"{out.stem}.auto"


class _Trials:
    """The trials of one search: their identifiers, the ones read back from ``trials.jsonl``, running new ones
    (:func:`edgesdk.runtime.jobs.run_jobs`; the int8 trial, which trains nothing, in this process) and the verdicts."""

    def __init__(
        self,
        *,
        work: Path,
        common: tuple[Any, ...],
        key: dict[str, Any],
        int8: dict[str, str],
        epochs: int,
        acc_float: float,
        float_hits: np.ndarray,
        budget: float,
        safety: float,
        workers: int,
        ray: str | None,
        say: Any,
    ) -> None:
        from edgesdk.runtime.jobs import read_done

        self.work, self.common, self.key, self.int8, self.epochs = work, common, key, int8, epochs
        self.acc_float, self.budget, self.workers, self.ray, self.say = acc_float, budget, workers, ray, say
        self.float_hits, self.safety = float_hits, safety
        self.results = work / RESULTS
        self.done = read_done(self.results)
        self.records: dict[str, dict[str, Any]] = {}
        self.trained = 0  # fine-tuning trials run or read back (the int8 one not counted)

    def epochs_of(self, assign: dict[str, str]) -> int:
        return 0 if assign == self.int8 else self.epochs

    def trial_id(self, assign: dict[str, str]) -> str:
        from edgesdk.runtime.jobs import point_id

        return point_id({"assign": assign, "epochs": self.epochs_of(assign), **self.key})

    def run(self, assigns: list[dict[str, str]]) -> None:
        """Run the assignments not measured yet (those finished in an earlier run are read back)."""
        from edgesdk.runtime.jobs import run_jobs

        model_path, data, val, choice_spec, seed, core, optimize, flash, distill = self.common
        jobs = []
        for a in assigns:
            tid = self.trial_id(a)
            if tid in self.records:
                continue
            self.trained += a != self.int8
            rec = self.done.get(tid, {})
            if rec.get("status") == "ok" and Path(rec.get("file", "")).is_file():
                self.records[tid] = rec
                self.say(f"auto: trial {_summary(a)}: read back from {self.results.name}")
                continue
            where = str(self.work / "trials" / tid)
            jobs.append((model_path, data, val, a, choice_spec, where, self.epochs_of(a), seed, core, optimize,
                         flash, distill))  # fmt: skip
        quick = [j for j in jobs if j[6] == 0]
        slow = [j for j in jobs if j[6] != 0]
        if slow:
            where = "Ray" if self.ray is not None else f"{min(self.workers, len(slow))} worker(s)"
            self.say(f"auto: fine-tuning {len(slow)} trial(s) ({self.epochs} epochs each) on {where}")
        run_jobs(run_trial, quick, self._finished)
        run_jobs(run_trial, slow, self._finished, workers=self.workers, ray=self.ray)

    def _finished(self, rec: dict[str, Any]) -> None:
        from edgesdk.runtime.jobs import append_record

        append_record(self.results, rec)
        self.records[rec["id"]] = rec
        if rec.get("status") == "ok":
            self.judge(rec)
            self.say(
                f"auto: trial {_summary(rec['assign'])}: accuracy {100 * rec['accuracy']:.2f} % "
                f"(drop {100 * rec['drop']:+.2f} ± {100 * rec['se']:.2f} pt), {rec['weight_bytes']:,} weight "
                f"bytes, ~{rec['instructions']:,} instructions, {rec['seconds']:.0f} s"
            )
        else:
            self.say(f"auto: trial {_summary(rec['assign'])} failed: {rec.get('error')}")

    def ok(self, assign: dict[str, str]) -> dict[str, Any] | None:
        rec = self.records.get(self.trial_id(assign))
        return rec if rec and rec.get("status") == "ok" else None

    def judge(self, rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` with its drop, standard error and verdict: within the budget when drop + safety·SE ≤ budget."""
        drop, se = paired_drop(self.float_hits, _unpack(rec["hits"], len(self.float_hits)))
        rec.update(drop=drop, se=se, within=drop + self.safety * se <= self.budget + 1e-12)
        return rec

    def cheapest_passing(self) -> dict[str, Any] | None:
        """The finished trial within the budget with the lowest measured cost, or None."""
        optimize = self.common[6]
        ok = [self.judge(r) for r in self.records.values() if r.get("status") == "ok"]
        ok = [r for r in ok if r["within"]]
        return min(ok, key=lambda r: (_trial_cost(r, optimize), -r["accuracy"])) if ok else None

    def passes(self, assign: dict[str, str]) -> bool:
        rec = self.ok(assign)
        return rec is not None and self.judge(rec)["within"]


def search(
    book: _Trials, options: dict[str, list[Option]], ladder: list[dict[str, str]], trials: int, per_round: int
) -> None:
    """The int8 trial, then bisection of ``ladder`` (cheapest first) for the cheapest assignment within the
    budget, ``per_round`` trials at a time, then back-off from the cheapest failing one while it stays cheaper
    than the cheapest passing one, then single-layer steps down from the cheapest passing one
    (:func:`step_down`); at most ``trials`` fine-tuning trials in all."""
    book.run([book.int8])
    lo, hi = -1, len(ladder)  # ladder[lo] failed (or none), ladder[hi] passed (or the int8 sentinel)
    while book.trained < trials and hi - lo > 1:
        k = min(per_round, trials - book.trained, hi - lo - 1)
        idx = sorted({lo + round((i + 1) * (hi - lo) / (k + 1)) for i in range(k)} - {lo, hi})
        book.run([ladder[i] for i in idx])
        hi = min([hi] + [i for i in idx if book.passes(ladder[i])])
        lo = max([lo] + [i for i in idx if i < hi and not book.passes(ladder[i])])
    best = _predicted(options, ladder[hi] if hi < len(ladder) else book.int8)[:2]
    cur = ladder[lo] if lo >= 0 else None
    while cur is not None and book.trained < trials:
        cur = back_off(options, cur)
        if cur is None or cur == book.int8 or _predicted(options, cur)[:2] >= best:
            break
        book.run([cur])
        if book.passes(cur):
            break
    # Spend what is left on single-layer steps down from the cheapest passing trial (off the hull too).
    while book.trained < trials:
        best_rec = book.cheapest_passing()
        if best_rec is None:
            break
        steps = [a for a in step_down(options, best_rec["assign"]) if book.ok(a) is None]
        if not steps:
            break
        book.run(steps[: min(per_round, trials - book.trained)])


def step_down(options: dict[str, list[Option]], assign: dict[str, str]) -> list[dict[str, str]]:
    """``assign`` with one layer moved to its next cheaper option, the smallest predicted drop per cost saved
    first."""
    out = []
    for name, choice in assign.items():
        opts = options[name]
        cur = next(o for o in opts if o.choice == choice)
        cheaper = [o for o in opts if o.cost < cur.cost]
        if cheaper:
            nxt = max(cheaper, key=lambda o: (o.cost, -o.drop))
            rate = (nxt.drop - cur.drop) / max(1, cur.cost[0] - nxt.cost[0])
            out.append((rate, name, {**assign, name: nxt.choice}))
    return [a for _, _, a in sorted(out, key=lambda t: (t[0], t[1]))]


def _check_auto_options(
    val: Any, optimize: str, max_drop: float, trials: int, safety: float, workers: int, out: Path
) -> Path:
    """Refuse what cannot work before anything trains; returns ``out``."""
    if val is None:
        raise CompressError(
            "compress --method auto needs --val: it chooses each layer's method by the accuracy on held-out "
            "validation data, never on the training data"
        )
    if optimize not in ("size", "speed"):
        raise CompressError(f"--optimize takes size or speed, not {optimize!r}")
    if not math.isfinite(float(max_drop)):
        raise CompressError(f"--max-drop must be a number of accuracy points, not {max_drop}")
    if trials < 1:
        raise CompressError(f"--trials must be at least 1, not {trials}")
    if not (math.isfinite(float(safety)) and safety >= 0):
        raise CompressError(f"--safety must be a number of standard errors >= 0, not {safety}")
    if workers < 1:
        raise CompressError(f"--workers must be at least 1, not {workers}")
    if out.suffix.lower() != ".tflite":
        raise CompressError(
            f"method auto writes an int8 .tflite; name the output {out.with_suffix('.tflite').name}"
        )
    return out


def _analysis(
    work: Path,
    kmodel: Any,
    choice_list: list[Any],
    fixed: Any,
    fp: str,
    core: str,
    optimize: str,
    board_name: str,
    pctx: Any,
    x: np.ndarray,
    xv: np.ndarray,
    yv: np.ndarray,
    say: Any,
) -> dict[str, Any]:
    """Steps 1-2: per-layer costs and sensitivities, and the float model's hits, cached in the work folder for a
    resumed run (read back when the model, data, choices, core, goal and fixed layers are the same)."""
    choice_spec = ",".join(c.name for c in choice_list)
    key = {
        "fingerprint": fp,
        "choices": choice_spec,
        "core": core,
        "optimize": optimize,
        "fixed": sorted(fixed),
    }
    cache = work / ANALYSIS
    analysis = json.loads(cache.read_text(encoding="utf-8")) if cache.is_file() else {}
    if analysis.get("key") != key:
        say(f"auto: {kmodel.name}: measuring per-layer costs on {board_name} ({optimize}) and sensitivities")
        costs = measure_costs(kmodel, choice_list, fixed, x[:CALIB_SAMPLES], pctx, say)
        _, drops = measure_sensitivity(kmodel, choice_list, costs, xv, yv, say)
        pred = kmodel.predict(xv.reshape((len(xv), *kmodel.inputs[0].shape[1:])), batch_size=256, verbose=0)
        hits = np.argmax(pred, axis=-1) == yv
        analysis = {"key": key, "costs": costs, "drops": drops, "float_hits": _pack(hits)}
        cache.write_text(json.dumps(analysis, indent=1), encoding="utf-8")
    else:
        say(f"auto: {kmodel.name}: per-layer costs and sensitivities read back from {cache}")
    return analysis


def _no_winner(
    trial_rows: list[dict[str, Any]],
    records: dict[str, Any],
    safety: float,
    max_drop: float,
    optimize: str,
    weight_float: int,
    work: Path,
) -> None:
    """Raise the error of a search where no trial kept the budget, naming the best one found."""
    if not trial_rows:
        errors = "; ".join(sorted({str(r.get("error")) for r in records.values()}))
        raise CompressError(f"compress --method auto: no trial finished ({errors})")
    best = min(trial_rows, key=lambda r: (r["drop"] + safety * r["se"], _trial_cost(r, optimize)))
    raise CompressError(
        f"no per-layer assignment kept accuracy within {max_drop:g} pt of float on the validation data (drop "
        f"+ {safety:g} standard error); the best found ({_summary(best['assign'])}) drops "
        f"{100 * best['drop']:.2f} ± {100 * best['se']:.2f} pt at "
        f"{best['weight_bytes']:,} weight bytes ({weight_float / max(1, best['weight_bytes']):.1f}x smaller "
        f"than float32; trials in {work})"
    )


def _result_line(result: AutoResult, acc_float: float, acc_c: float, files: dict[str, Any]) -> str:
    """The accuracies and bytes of the chosen assignment, for the progress line."""
    return (
        f"accuracy float {100 * acc_float:.2f} % -> {100 * acc_c:.2f} % on the validation data "
        f"({OPTIMISTIC.split(':')[0]}); weight bytes {result.weight_bytes_float:,} -> "
        f"{result.weight_bytes_compressed:,}; report {files['report']}"
    )


def _auto_result(
    book: Any,
    chosen: dict[str, Any],
    int8_assign: dict[str, str],
    trial_rows: list[dict[str, Any]],
    out: Path,
    acc_float: float,
    acc_c: float,
    weight_float: int,
    max_drop: float,
    safety: float,
    board_name: str,
    optimize: str,
    files: dict[str, Any],
    n_epochs: int,
    seed: int,
    started: float,
) -> AutoResult:
    """The :class:`AutoResult` of the chosen trial, with every finished trial's row."""
    int8_rec = book.ok(int8_assign)
    layers = [
        {k: r[k] for k in ("name", "method", "bytes", "instructions", "layer", "format", "other_bytes")}
        for r in chosen["layers"]
    ]
    result = AutoResult(
        method="auto",
        out=str(out),
        accuracy_float=acc_float,
        accuracy_compressed=float(acc_c),
        weight_bytes_float=int(weight_float),
        weight_bytes_compressed=int(chosen["weight_bytes"]),
        weight_bytes_int8=int(int8_rec["weight_bytes"]) if int8_rec else 0,
        instructions=int(chosen["instructions"]),
        max_drop=float(max_drop),
        safety=float(safety),
        board=board_name,
        optimize=optimize,
        layers=layers,
        trials=[
            {
                k: r[k]
                for k in (
                    "assign",
                    "accuracy",
                    "drop",
                    "se",
                    "weight_bytes",
                    "image_bytes",
                    "instructions",
                    "within",
                    "seconds",
                )
            }
            for r in trial_rows
        ],
        report=str(files["report"]),
        epochs=n_epochs,
        seed=seed,
        seconds=round(time.monotonic() - started, 1),
    )
    return result


def compress_auto(
    model: Any,
    data: Any,
    val: Any,
    *,
    out: str | Path,
    max_drop: float = 1.0,
    board: str | None = None,
    optimize: str = "size",
    choices: str | None = None,
    trials: int = DEFAULT_TRIALS,
    epochs: int | None = None,
    workers: int = 1,
    ray: str | None = None,
    keep_int8: str | None = None,
    distill: bool = False,
    safety: float = DEFAULT_SAFETY,
    seed: int = 0,
    progress: bool = True,
) -> AutoResult:
    """Search per-layer methods for ``model`` under an accuracy budget and write the result; see the module doc.

    ``max_drop`` is in accuracy points (1.0 = one percentage point) on ``val``, which is required. ``trials``
    bounds the fine-tuning runs (the free int8 trial not counted). Raises :class:`CompressError` when no trial
    keeps the budget, naming the best one found."""
    from edgesdk.boards import DEFAULT_BOARD, get_board
    from edgesdk.compress.base import evaluate_tflite, float_weight_bytes, load_keras
    from edgesdk.passes import PassContext
    from edgesdk.runtime.jobs import model_path as _model_path

    started = time.monotonic()
    out = _check_auto_options(val, optimize, max_drop, trials, safety, workers, Path(out))
    choice_list = parse_choices(choices)
    choice_spec = ",".join(c.name for c in choice_list)
    brd = get_board(board or DEFAULT_BOARD)
    core = "" if brd.is_host else brd.core
    pctx = PassContext(core=core, optimize=optimize, options={"flash_bytes": brd.memory.flash_bytes})
    x, y = load_xy(data, "training")
    xv, yv = load_xy(val, "validation")
    kmodel = load_keras(model)
    check_fits_model(kmodel, x, y, "training")
    check_fits_model(kmodel, xv, yv, "validation")
    fixed = resolve_keep_int8(kmodel, keep_int8)
    n_epochs = DEFAULT_EPOCHS if epochs is None else int(epochs)
    ctx = CompressContext(
        x_train=x, y_train=y, x_val=xv, y_val=yv, epochs=n_epochs, seed=seed, show_progress=progress
    )
    say = ctx.progress

    import keras

    keras.utils.set_random_seed(seed)
    work = work_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    model_path = _model_path(model if isinstance(model, (str, Path)) else kmodel, work)
    fp = _fingerprint(model_path, data, val)

    analysis = _analysis(work, kmodel, choice_list, fixed, fp, core, optimize, brd.name, pctx, x, xv, yv, say)
    costs, drops = analysis["costs"], analysis["drops"]
    float_hits = _unpack(analysis["float_hits"], len(yv))
    acc_float = float(np.mean(float_hits))
    options = layer_options(costs, drops, optimize)
    int8_assign = dict.fromkeys(options, "int8")
    ladder = hull(options)
    budget = float(max_drop) / 100.0
    say(
        f"auto: float accuracy {100 * acc_float:.2f} % on {len(yv)} validation samples; budget {max_drop:g} pt "
        f"(drop + {safety:g} standard error(s)); "
        f"{len(ladder)} assignments on the cost/sensitivity hull; "
        + "; ".join(f"{n}: {', '.join(o.choice for o in options[n])}" for n in options)
    )

    # 3: trials.
    book = _Trials(
        work=work,
        common=(
            str(model_path),
            data,
            val,
            choice_spec,
            seed,
            core,
            optimize,
            brd.memory.flash_bytes,
            distill,
        ),
        key={"seed": seed, "fp": fp, "core": core, "opt": optimize, "d": distill},
        int8=int8_assign,
        epochs=n_epochs,
        acc_float=acc_float,
        float_hits=float_hits,
        budget=budget,
        safety=float(safety),
        workers=workers,
        ray=ray,
        say=say,
    )
    search(book, options, ladder, trials, max(1, workers if ray is None else trials))
    records = book.records

    # 4: the result.
    trial_rows = [book.judge(r) for r in records.values() if r.get("status") == "ok"]
    weight_float = float_weight_bytes(kmodel)
    winners = [r for r in trial_rows if r["within"]]
    head = {"acc_float": acc_float, "max_drop": max_drop, "safety": safety, "board": brd.name}
    files = write_report(work, trial_rows, head, optimize, weight_float, drops, costs, None)
    if not winners:
        _no_winner(trial_rows, records, safety, max_drop, optimize, weight_float, work)
    chosen = book.cheapest_passing()
    assert chosen is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chosen["file"], out)
    acc_c = evaluate_tflite(out.read_bytes(), xv, yv)
    files = write_report(work, trial_rows, head, optimize, weight_float, drops, costs, chosen)
    result = _auto_result(
        book, chosen, int8_assign, trial_rows, out, acc_float, acc_c, weight_float, max_drop, safety, brd.name,
        optimize, files, n_epochs, seed, started,
    )  # fmt: skip
    say(f"auto: chose {_summary(chosen['assign'])}: " + _result_line(result, acc_float, acc_c, files))
    return result


def _trial_cost(rec: dict[str, Any], optimize: str) -> tuple[int, int]:
    return (
        (rec["image_bytes"], rec["instructions"])
        if optimize == "size"
        else (rec["instructions"], rec["image_bytes"])
    )


# --- report ----------------------------------------------------------------------------------------------------
def plot_trials(
    rows: list[dict[str, Any]], acc_float: float, max_drop: float, chosen: dict[str, Any] | None, path: Path
) -> Path:
    """Accuracy against weight bytes of every trial, the Pareto front (fewer bytes, higher accuracy), the float
    accuracy and the budget, the chosen trial circled."""
    from matplotlib.figure import Figure

    from edgesdk.profiling.plots import save_figure
    from edgesdk.runtime.jobs import pareto_front, plot_front

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    xs = [float(r["weight_bytes"]) for r in rows]
    ys = [100.0 * float(r["accuracy"]) for r in rows]
    colors = ["#55A868" if r["within"] else "#C44E52" for r in rows]
    ax.scatter(xs, ys, c=colors, zorder=3, s=28)
    front = sorted((-b, a) for b, a in pareto_front([(-x, y) for x, y in zip(xs, ys, strict=True)]))
    plot_front(ax, front, "#4C72B0", "steps-post")
    ax.axhline(100.0 * acc_float, color="#8C8C8C", ls="--", lw=1, label="float")
    ax.axhline(
        100.0 * acc_float - max_drop, color="#DD8452", ls=":", lw=1, label=f"budget (-{max_drop:g} pt)"
    )
    if chosen is not None:
        ax.scatter(
            [chosen["weight_bytes"]],
            [100.0 * chosen["accuracy"]],
            s=160,
            facecolors="none",
            edgecolors="#000000",
            zorder=4,
            label="chosen",
        )
    ax.set_xscale("log")
    ax.set_xlabel("weight bytes (C backend, log scale)", fontsize=8)
    ax.set_ylabel("validation accuracy (%, optimistic: chosen on it)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        "compress --method auto: trials (green: drop + safety x SE within the budget, red: over it)",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, path)


def write_report(
    work: Path,
    rows: list[dict[str, Any]],
    head: dict[str, Any],
    optimize: str,
    weight_float: int,
    drops: dict[str, dict[str, float]],
    costs: dict[str, dict[str, Any]],
    chosen: dict[str, Any] | None,
) -> dict[str, Path]:
    """``report.md`` and ``pareto.png`` in the work folder; ``head``: acc_float, max_drop, safety, board."""
    acc_float, max_drop = head["acc_float"], head["max_drop"]
    files = {"pareto": work / "pareto.png", "report": work / "report.md"}
    rows = sorted(rows, key=lambda r: r["weight_bytes"])
    if rows:
        plot_trials(rows, acc_float, max_drop, chosen, files["pareto"])
    md = [
        "# compress --method auto",
        "",
        f"Board {head['board']}, kernels chosen for {optimize}; budget {max_drop:g} pt below the float accuracy "
        f"{100 * acc_float:.2f} % on the validation data: a trial is within it when its drop plus "
        f"{head['safety']:g} standard error of the drop (McNemar, from the samples float and compressed disagree "
        "on) is at most the budget. Bytes are the weight bytes the C backend stores with the kernels the passes "
        "pick; instructions are the passes' estimates.",
        "",
        f"Note: {OPTIMISTIC}.",
        "",
    ]
    if chosen is not None:
        md += [
            f"## Chosen: {_summary(chosen['assign'])}",
            "",
            f"Accuracy {100 * chosen['accuracy']:.2f} % (drop {100 * chosen['drop']:.2f} ± "
            f"{100 * chosen['se']:.2f} pt), weight bytes "
            f"{chosen['weight_bytes']:,} ({weight_float / max(1, chosen['weight_bytes']):.1f}x smaller than "
            f"float32 {weight_float:,}), ~{chosen['instructions']:,} instructions.",
            "",
            "| layer (file) | Keras layer | method | format | weight bytes | instructions |",
            "|---|---|---|---|---|---|",
        ]
        md += [
            f"| {r['name']} | {r['layer']} | {r['method']} | {r['format']} | {r['bytes']:,} | "
            f"{r['instructions']:,} |"
            for r in chosen["layers"]
        ]
        md.append("")
    md += [
        "## Trials",
        "",
        "![accuracy against weight bytes](pareto.png)",
        "",
        "| assignment | accuracy % | drop ± SE (pt) | weight bytes | ratio | instructions | within | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    md += [
        f"| {_summary(r['assign'])} | {100 * r['accuracy']:.2f} | {100 * r['drop']:.2f} ± {100 * r['se']:.2f} | "
        f"{r['weight_bytes']:,} | "
        f"{weight_float / max(1, r['weight_bytes']):.1f}x | {r['instructions']:,} | {'yes' if r['within'] else 'no'} | "
        f"{r['seconds']:.0f} |"
        for r in rows
    ]
    md += [
        "",
        "## Sensitivity (validation accuracy drop with only that layer changed, untrained) and cost",
        "",
        "| layer | choice | drop (pt) | weight bytes | instructions |",
        "|---|---|---|---|---|",
    ]
    for name, by_choice in costs.items():
        for choice, v in by_choice.items():
            nbytes = sum(r["bytes"] for r in v["rows"])
            insn = sum(r["instructions"] for r in v["rows"])
            md.append(
                f"| {name} | {choice} | {100 * drops[name].get(choice, 0.0):.1f} | {nbytes:,} | {insn:,} |"
            )
    files["report"].write_text("\n".join(md) + "\n", encoding="utf-8")
    return files


__all__ = [
    "AutoResult",
    "Choice",
    "compress_auto",
    "hull",
    "layer_options",
    "mixed_model",
    "parse_choices",
    "train_mixed",
    "work_dir",
]
