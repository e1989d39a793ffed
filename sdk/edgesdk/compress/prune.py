"""Pruning methods: ``prune`` (unstructured magnitude), ``filter`` / ``fpgm`` (remove channels), ``pattern``.

- ``prune=S`` — magnitude pruning with the gradual schedule of Zhu and Gupta 2017 ("To prune, or not to prune"):
  the sparsity of every pruned layer ramps from 0 to S along the cubic
  ``s_t = S + (0 - S)(1 - t/T)^3`` over the first ``RAMP`` of the fine-tuning steps, re-pruning the
  smallest-magnitude weights every ``PRUNE_EVERY`` steps; the rest of the epochs fine-tune at S. A 0/1 mask per
  layer is re-applied after every optimizer step (a callback: no Keras 3 library prunes, see TOOLCHAIN.md), so
  pruned weights stay exactly 0 and the int8 ``.tflite`` carries the zeros the sparse kernel skips.
- ``filter=R`` / ``fpgm=R`` — structured pruning that *removes* the fraction R of the output channels of every
  pruned Conv2D: by smallest L1 norm (Li et al. 2017, "Pruning Filters for Efficient ConvNets") or nearest to the
  geometric median of the layer's filters (He et al. 2019, "Filter Pruning via Geometric Median"). The model is
  rebuilt smaller: BatchNorm, depthwise convolutions, pooling and activations follow the kept channels, the next
  Conv2D loses the matching input channels, a Dense after Flatten loses the matching rows (NHWC order), and
  channels joined by Add are pruned together (one choice per residual group, scored by the sum over its
  convolutions). Then it is fine-tuned.
- ``pattern=4`` — pattern pruning of 3x3 kernels (Niu et al. 2020, "PatDNN"): connectivity pruning removes the
  ``CONNECTIVITY`` fraction of each layer's (output, input) kernels with the smallest L2 norm; every other kernel
  keeps the 4 taps of one of the layer's ``PATTERNS`` most frequent 4-tap patterns (the one keeping most of its
  L2 norm). Masks are fixed while fine-tuning; a generated kernel then computes only those taps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgesdk.compress.base import (
    CompressContext,
    chosen_layers,
    register_check,
    register_method,
    trainable_copy,
    weight_layers,
)
from edgesdk.errors import CompressError

RAMP = 0.7  # fraction of the fine-tuning steps over which the sparsity ramps up
PRUNE_EVERY = 10  # steps between re-pruning while ramping
CONNECTIVITY = 0.5  # fraction of 3x3 kernels removed by pattern pruning
PATTERNS = 8  # 4-tap patterns per layer
PRUNABLE = ("Dense", "Conv2D", "DepthwiseConv2D")


def parse_ratio(method: str, arg: str | None, default: float | None = None) -> float:
    """A ratio strictly between 0 and 1 from ``method=arg``; one sentence when it is not."""
    if arg is None:
        if default is None:
            raise CompressError(f"method {method} needs a ratio, e.g. {method}=0.5")
        return default
    try:
        value = float(arg.rstrip("%")) / (100.0 if arg.endswith("%") else 1.0)
    except ValueError:
        raise CompressError(f"method {method} takes a ratio between 0 and 1, not {arg!r}") from None
    if not (0.0 < value < 1.0) or not math.isfinite(value):
        raise CompressError(f"{method} ratio {arg} is outside (0, 1): give the fraction of weights to remove")
    return value


def _kernel(layer: Any) -> Any:
    """The kernel variable (Keras 3 names the depthwise one ``kernel`` too; older versions did not)."""
    k = getattr(layer, "depthwise_kernel", None)
    return layer.kernel if k is None else k


def _targets(
    model: Any, ctx: CompressContext, method: str, classes: tuple[str, ...], report: bool = True
) -> list[Any]:
    none_left = (
        f"model {model.name} has no layer that can take {method} (every weight layer is kept int8 or of "
        "another kind); nothing to compress"
    )
    return chosen_layers(model, ctx, classes, report, none_left)


def _steps(ctx: CompressContext, epochs: int) -> int:
    return max(1, epochs * math.ceil(len(ctx.x_train) / ctx.batch_size))


class _Masks:
    """0/1 masks of layer kernels, re-applied after every training step (``callback()``)."""

    def __init__(self, layers: list[Any]) -> None:
        self.layers = layers
        self.masks = {la.name: np.ones(tuple(_kernel(la).shape), np.float32) for la in layers}

    def apply(self) -> None:
        for la in self.layers:
            k = _kernel(la)
            k.assign(np.asarray(k.numpy()) * self.masks[la.name])

    def callback(self, on_step: Any = None) -> Any:
        import keras

        masks = self

        class _CB(keras.callbacks.Callback):
            step = 0

            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                if on_step is not None:
                    on_step(self.step)
                self.step += 1
                masks.apply()

        return _CB()


def _magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Zero the ``ceil(sparsity · size)`` smallest-magnitude weights: at least the requested share is zero."""
    n = math.ceil(sparsity * w.size - 1e-9)
    mask = np.ones(w.shape, np.float32)
    if n <= 0:
        return mask
    order = np.argsort(np.abs(w).reshape(-1), kind="stable")
    mask.reshape(-1)[order[:n]] = 0.0
    return mask


def zhu_gupta_sparsity(step: int, total: int, final: float, initial: float = 0.0) -> float:
    """The gradual schedule: ``s_f + (s_i - s_f)(1 - t/T)^3`` for t <= T, then s_f."""
    if step >= total:
        return final
    return final + (initial - final) * (1.0 - step / total) ** 3


@register_method(
    "prune", order=40, help="magnitude pruning to the given sparsity, gradual (Zhu & Gupta 2017)"
)
def apply_prune(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    final = parse_ratio("prune", arg)
    m = trainable_copy(model)
    layers = _targets(m, ctx, "prune", PRUNABLE)
    masks = _Masks(layers)
    for la in layers:  # zeros left by an earlier method (pattern, filter) stay zeros
        masks.masks[la.name] = (np.asarray(_kernel(la).numpy()) != 0).astype(np.float32)
    epochs = max(1, ctx.epochs)
    ramp = max(1, int(RAMP * _steps(ctx, epochs)))

    # The ramp starts at the sparsity the layers already have.
    start = {la.name: float(np.mean(masks.masks[la.name] == 0)) for la in layers}

    def on_step(step: int) -> None:
        if step % PRUNE_EVERY == 0 or step == ramp:
            for la in layers:
                s = zhu_gupta_sparsity(step, ramp, final, min(start[la.name], final))
                # Magnitude of the weights still alive decides; once pruned, a weight stays pruned.
                w = np.asarray(_kernel(la).numpy()) * masks.masks[la.name]
                masks.masks[la.name] = _magnitude_mask(w, s) * masks.masks[la.name]

    on_step(0)
    masks.apply()
    ctx.progress(f"{model.name}: pruning {len(layers)} layers to {final:.0%} over {ramp} steps")
    # The best epoch is chosen only among those that end with the final sparsity (after step ``ramp``).
    per_epoch = math.ceil(len(ctx.x_train) / ctx.batch_size)
    ctx.fit(
        m,
        epochs=epochs,
        callbacks=[masks.callback(on_step)],
        select_from=math.ceil((ramp + 1) / per_epoch) - 1,
    )
    for la in layers:
        w = np.asarray(_kernel(la).numpy()) * masks.masks[la.name]
        masks.masks[la.name] = _magnitude_mask(w, max(final, start[la.name])) * masks.masks[la.name]
    masks.apply()
    for la in layers:
        w = np.asarray(_kernel(la).numpy())
        ctx.masks[la.name] = masks.masks[la.name]  # later stages (share, distillation) keep these zeros
        ctx.layer(la.name).update(sparsity=round(float(np.mean(w == 0)), 4), target="sparse")
    return m


@register_check("prune")
def check_prune(model: Any, arg: str | None, ctx: CompressContext) -> None:
    parse_ratio("prune", arg)
    _targets(model, ctx, "prune", PRUNABLE, report=False)


# --- pattern pruning ---------------------------------------------------------------------------------------
def _pattern_masks(w: np.ndarray, taps: int, n_patterns: int, connectivity: float) -> np.ndarray:
    """The 0/1 mask of a (3, 3, in, out) kernel: connectivity pruning, then the best of the top patterns."""
    kh, kw, cin, cout = w.shape
    k = np.transpose(w, (3, 2, 0, 1)).reshape(cout * cin, 9)  # (kernels, taps)
    energy = (k**2).sum(axis=1)
    keep = np.ones(k.shape[0], bool)
    n_drop = int(round(connectivity * k.shape[0]))
    if n_drop:
        keep[np.argsort(energy, kind="stable")[:n_drop]] = False
    top = np.argsort(-np.abs(k), axis=1, kind="stable")[:, :taps]
    codes = np.zeros(k.shape[0], np.int64)
    for t in range(taps):
        codes |= 1 << top[:, t]
    values, counts = np.unique(codes[keep], return_counts=True)
    patterns = values[np.argsort(-counts, kind="stable")][:n_patterns]
    pmask = ((patterns[:, None] >> np.arange(9)[None, :]) & 1).astype(np.float32)  # (P, 9)
    best = np.argmax((k**2) @ pmask.T, axis=1)
    mask = pmask[best] * keep[:, None]
    return np.transpose(mask.reshape(cout, cin, 3, 3), (2, 3, 1, 0)).astype(np.float32)


def _pattern_layers(model: Any, ctx: CompressContext, arg: str | None, report: bool) -> list[Any]:
    """The ungrouped 3x3 Conv2D layers not kept int8; every other convolution keeps its int8 weights (noted)."""
    taps = 4 if arg is None else arg
    if str(taps) != "4":
        raise CompressError(f"method pattern takes 4 (taps per 3x3 kernel), not {arg!r}")
    chosen, others = [], []
    for la in weight_layers(model):
        if type(la).__name__ != "Conv2D" or la.name in ctx.keep_int8:
            continue
        shape = tuple(la.kernel.shape)
        if shape[:2] == (3, 3) and la.groups == 1:
            chosen.append(la)
            continue
        others.append(f"{la.name} {shape[0]}x{shape[1]}" + ("" if la.groups == 1 else " grouped"))
        if report:
            ctx.layer(la.name).setdefault(
                "note",
                f"layer {la.name} ({shape[0]}x{shape[1]} Conv2D) keeps int8 weights: pattern pruning "
                "takes ungrouped 3x3 kernels",
            )
    if not chosen:
        what = f" (its other convolutions: {', '.join(others)})" if others else ""
        raise CompressError(
            f"model {model.name} has no ungrouped 3x3 Conv2D outside the int8-kept layers for pattern pruning"
            f"{what}"
        )
    return chosen


@register_check("pattern")
def check_pattern(model: Any, arg: str | None, ctx: CompressContext) -> None:
    _pattern_layers(model, ctx, arg, report=False)


@register_method("pattern", order=30, help="pattern pruning of 3x3 kernels to N-tap patterns (PatDNN)")
def apply_pattern(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    m = trainable_copy(model)
    for la in weight_layers(m):
        if la.name in ctx.keep_int8:
            ctx.layer(la.name).setdefault("note", ctx.kept_note(la.name))
    layers = _pattern_layers(m, ctx, arg, report=True)
    masks = _Masks(layers)
    for la in layers:
        masks.masks[la.name] = _pattern_masks(np.asarray(la.kernel.numpy()), 4, PATTERNS, CONNECTIVITY)
    masks.apply()
    ctx.fit(m, callbacks=[masks.callback()])
    masks.apply()
    ctx.masks.update(masks.masks)
    for la in layers:
        mk = masks.masks[la.name]
        ctx.layer(la.name).update(
            target="pattern",
            taps=4,
            kernels_kept=int(np.count_nonzero(mk.sum(axis=(0, 1)))),
            kernels_total=int(mk.shape[2] * mk.shape[3]),
        )
    return m


# --- filter pruning ----------------------------------------------------------------------------------------
#: Layers whose output has the channels of their (first) input, one to one.
CHANNELWISE = (
    "BatchNormalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "MaxPooling2D",
    "AveragePooling2D",
    "Dropout",
    "SpatialDropout2D",
    "ZeroPadding2D",
    "DepthwiseConv2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
)
MERGE = ("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average")


def _inputs(layer: Any) -> list[Any]:
    x = layer.input
    return list(x) if isinstance(x, (list, tuple)) else [x]


class _Spaces:
    """Union-find over channel spaces (one per Conv2D output; Add joins spaces)."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def new(self) -> int:
        k = len(self.parent)
        self.parent[k] = k
        return k

    def find(self, k: int) -> int:
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _gm_scores(w: np.ndarray) -> np.ndarray:
    """FPGM score of each filter (last axis): the summed distance to all the other filters. The filters
    nearest the geometric median (smallest sums) are the most replaceable, so they go first."""
    f = w.reshape(-1, w.shape[-1]).T.astype(np.float64)
    d = np.sqrt(np.maximum(((f[:, None, :] - f[None, :, :]) ** 2).sum(-1), 0.0))
    return d.sum(axis=1)


def _channel_spaces(
    m: Any, model: Any, ctx: CompressContext
) -> tuple[Any, dict[int, list[Any]], dict[int, str], list]:
    """Trace the model's channel spaces: which Conv2D layers produce each (merged through ADD-like layers), why a
    space cannot lose channels, and the layers that read a pruned space (with the pixels of a Flatten before a
    Dense). Returns (spaces, producers, frozen, readers)."""
    spaces = _Spaces()
    space_of: dict[int, int | None] = {}  # id(tensor) -> channel space
    producers: dict[int, list[Any]] = {}  # space -> Conv2D layers producing it
    frozen: dict[int, str] = {}  # space -> why its channels cannot be removed
    readers: list[tuple[Any, int, Any]] = []  # (layer, input space, extra) reading a pruned space
    outputs = {id(t) for t in m.outputs}
    flat_of: dict[int, tuple[int, int, str]] = {}  # id(Flatten output) -> (space, pixels, layer name)
    flat_read: set[int] = set()

    def freeze(s: int | None, why: str) -> None:
        if s is not None:
            frozen.setdefault(s, why)

    for layer in m.layers:
        cls = type(layer).__name__
        if cls == "InputLayer":
            space_of[id(layer.output)] = None
            continue
        ins = [space_of.get(id(t)) for t in _inputs(layer)]
        out = None
        if cls == "Conv2D":
            if ins[0] is not None:
                readers.append((layer, ins[0], None))
            out = spaces.new()
            producers[out] = [layer]
            if layer.name in ctx.keep_int8:
                freeze(out, f"layer {layer.name} is kept int8")
            if layer.groups != 1:
                freeze(out, f"layer {layer.name} is a grouped convolution")
                freeze(ins[0], f"layer {layer.name} is a grouped convolution")
        elif cls in CHANNELWISE:
            out = ins[0]
            if cls == "DepthwiseConv2D":
                if layer.depth_multiplier != 1:
                    freeze(out, f"layer {layer.name} has a depth multiplier")
                if out is not None:
                    readers.append((layer, out, None))
            elif cls == "BatchNormalization" and out is not None:
                readers.append((layer, out, None))
        elif cls in MERGE:
            known = [s for s in ins if s is not None]
            if len(known) != len(ins):
                for s in known:
                    freeze(s, f"layer {layer.name} adds a tensor that is not a convolution's output")
            for s in known[1:]:
                spaces.union(known[0], s)
            out = known[0] if known else None
        elif cls == "Flatten":
            if ins[0] is not None:
                shape = tuple(_inputs(layer)[0].shape[1:])
                flat_of[id(layer.output)] = (ins[0], int(np.prod(shape[:-1])), layer.name)
        elif cls == "Dense":
            flat = flat_of.get(id(_inputs(layer)[0]))
            if ins[0] is not None:  # after global pooling: rows are channels
                readers.append((layer, ins[0], None))
            elif flat is not None:
                readers.append((layer, flat[0], flat[1]))
                flat_read.add(id(_inputs(layer)[0]))
        else:
            for s in ins:
                freeze(s, f"layer {layer.name} ({cls}) reads it and cannot be shrunk")
        space_of[id(layer.output)] = out
        if id(layer.output) in outputs:
            freeze(out, f"it is the output of model {model.name}")
    for tid, (sp, _, name) in flat_of.items():
        if tid not in flat_read:
            freeze(sp, f"layer {name} (Flatten) is not read by a Dense")

    return spaces, producers, frozen, readers


def _kept_filters(
    spaces: Any,
    producers: dict[int, list[Any]],
    frozen: dict[int, str],
    ratio: float,
    how: str,
    ctx: CompressContext,
    model: Any,
) -> tuple[dict[int, np.ndarray], dict[int, list[Any]]]:
    """Per free channel space, the filters kept (the highest L1 norms or geometric-median scores summed over its
    producers); and the producers of each space."""
    groups: dict[int, list[Any]] = {}
    for s, convs in producers.items():
        groups.setdefault(spaces.find(s), []).extend(convs)
    root_frozen = {spaces.find(s): why for s, why in frozen.items()}
    keep: dict[int, np.ndarray] = {}
    for root, convs in groups.items():
        if root in root_frozen:
            for c in convs:
                ctx.layer(c.name).setdefault("note", f"channels kept: {root_frozen[root]}")
            continue
        n = int(convs[0].kernel.shape[-1])
        k = max(1, n - int(round(ratio * n)))
        score = np.zeros(n)
        for c in convs:
            w = np.asarray(c.kernel.numpy())
            score += np.abs(w).reshape(-1, n).sum(axis=0) if how == "l1" else _gm_scores(w)
        keep[root] = np.sort(np.argsort(-score, kind="stable")[:k])
        for c in convs:
            ctx.layer(c.name).update(filters_before=n, filters_after=k, target=how)
    if not keep:
        why = "; ".join(sorted(set(root_frozen.values()))) or "no Conv2D"
        raise CompressError(f"model {model.name} has no Conv2D whose filters can be removed ({why})")

    return keep, groups


def _copy_shrunk_weights(m: Any, new: Any, readers: list, producers: dict[int, list[Any]], kept: Any) -> None:
    """The old layers' weights into the shrunk model: kept filters of each Conv2D, kept input channels of the
    layers that read a pruned space (a Dense after a Flatten: the kept channels of every pixel)."""
    read_in: dict[str, tuple[np.ndarray | None, Any]] = {}
    for layer, s, extra in readers:
        read_in[layer.name] = (kept(s), extra)
    out_keep = {c.name: kept(s) for s, convs in producers.items() for c in convs}
    old = {la.name: la for la in m.layers}
    for la in new.layers:
        src = old.get(la.name)
        if src is None or not src.weights:
            continue
        ws = [np.asarray(w) for w in src.get_weights()]
        cls = type(la).__name__
        ik, extra = read_in.get(la.name, (None, None))
        if cls == "Conv2D":
            ok = out_keep.get(la.name)
            if ik is not None:
                ws[0] = ws[0][:, :, ik, :]
            if ok is not None:
                ws[0] = ws[0][..., ok]
                if len(ws) > 1:
                    ws[1] = ws[1][ok]
        elif cls in ("DepthwiseConv2D", "BatchNormalization") and ik is not None:
            ws = [w[:, :, ik, :] if w.ndim == 4 else w[ik] for w in ws]
        elif cls == "Dense" and ik is not None:
            if extra is None:
                ws[0] = ws[0][ik, :]
            else:
                c_old = int(ws[0].shape[0] // extra)
                rows = (np.arange(extra)[:, None] * c_old + ik[None, :]).reshape(-1)
                ws[0] = ws[0][rows, :]
        la.set_weights(ws)


def _filter_prune(model: Any, ratio: float, ctx: CompressContext, how: str) -> Any:
    import keras

    m = trainable_copy(model)
    spaces, producers, frozen, readers = _channel_spaces(m, model, ctx)
    keep, groups = _kept_filters(spaces, producers, frozen, ratio, how, ctx, model)

    def kept(s: int | None) -> np.ndarray | None:
        return None if s is None else keep.get(spaces.find(s))

    # New layer configs: Conv2D filters shrink; everything else rebuilds from its own config.
    conv_out: dict[str, int] = {}
    for s, convs in producers.items():
        kk = kept(s)
        if kk is not None:
            for c in convs:
                conv_out[c.name] = int(kk.size)

    def clone(layer: Any) -> Any:
        cfg = layer.get_config()
        if layer.name in conv_out:
            cfg["filters"] = conv_out[layer.name]
        return layer.__class__.from_config(cfg)

    inp = keras.Input(tuple(m.inputs[0].shape[1:]), dtype=m.inputs[0].dtype)
    m.compiled = False
    new = keras.models.clone_model(m, input_tensors=inp, clone_function=clone)
    _copy_shrunk_weights(m, new, readers, producers, kept)
    ctx.progress(
        f"{model.name}: {how} filter pruning kept "
        + ", ".join(
            f"{c.name} {int(keep[r].size)}/{int(c.kernel.shape[-1])}"
            for r, cs in groups.items()
            if r in keep
            for c in cs
        )
    )
    ctx.fit(new)
    return new


@register_method("filter", order=20, help="remove the fraction R of Conv2D filters with the smallest L1 norm")
def apply_filter(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    return _filter_prune(model, parse_ratio("filter", arg), ctx, "l1")


@register_method(
    "fpgm", order=20, help="remove the fraction R of Conv2D filters nearest the geometric median"
)
def apply_fpgm(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    return _filter_prune(model, parse_ratio("fpgm", arg), ctx, "fpgm")


@register_check("filter")
def check_filter(model: Any, arg: str | None, ctx: CompressContext) -> None:
    parse_ratio("filter", arg)


@register_check("fpgm")
def check_fpgm(model: Any, arg: str | None, ctx: CompressContext) -> None:
    parse_ratio("fpgm", arg)
