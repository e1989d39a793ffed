"""``--keep-int8 auto``: which layers stay int8, decided by each layer's measured sensitivity.

For every layer the chosen methods would compress, the layer alone gets the method's weights *without training*
(one-shot: TWN ternary, BWN binary, magnitude pruning to the final sparsity, pattern masks, k-means sharing —
the same functions the methods train towards) while every other layer keeps its float weights, and the drop of
validation accuracy against the float model is measured (the per-layer sensitivity analysis of Han, Pool, Tran
and Dally 2015, "Learning both Weights and Connections", Fig. 6, and of HAQ/AMC's per-layer search). A layer
stays int8 when that drop is at least ``MIN_DROP`` and it fits the budget: the kept layers together hold at most
``BUDGET`` of the compressible weights, the most sensitive per weight first. The usual suspects (first, last and
depthwise layers) tend to come out this way because they are small and sensitive, but only the measurement
decides. Fine-tuning recovers most of a one-shot drop, so the figure ranks layers; it is not the final accuracy.

Methods without a one-shot form (xnor, adder, lowrank, filter, fpgm) keep the first and the last weight layer,
as they always did (xnor needs exactly those).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edgesdk.compress.base import CompressContext, MethodSpec, accuracy, weight_layers

MIN_DROP = 0.01  # one-shot drop (fraction of val accuracy) from which a layer counts as sensitive
BUDGET = 0.25  # the int8-kept layers hold at most this share of the compressible weights

#: (layer, kernel) -> kernel with the method's structure; None where the method does not take the layer.
OneShot = Callable[[Any, np.ndarray], np.ndarray | None]


def _conv_ok(layer: Any) -> bool:
    if type(layer).__name__ != "Conv2D":
        return True
    return int(layer.groups) == 1 and tuple(layer.dilation_rate) == (1, 1)


def one_shot(name: str, arg: str | None) -> OneShot | None:
    """The untrained form of method ``name=arg`` applied to one kernel, or None for methods without one."""
    if name in ("ternary", "binary"):
        from edgesdk.compress.ternary import PACKABLE, bwn_binarize, twn_ternarize

        fn = twn_ternarize if name == "ternary" else bwn_binarize
        return lambda la, w: fn(w) if type(la).__name__ in PACKABLE and _conv_ok(la) else None
    if name == "prune":
        from edgesdk.compress.prune import PRUNABLE, _magnitude_mask, parse_ratio

        s = parse_ratio("prune", arg)
        return lambda la, w: w * _magnitude_mask(w, s) if type(la).__name__ in PRUNABLE else None
    if name == "pattern":
        from edgesdk.compress.prune import CONNECTIVITY, PATTERNS, _pattern_masks

        def pattern(la: Any, w: np.ndarray) -> np.ndarray | None:
            if type(la).__name__ != "Conv2D" or w.shape[:2] != (3, 3) or int(la.groups) != 1:
                return None
            return w * _pattern_masks(w, 4, PATTERNS, CONNECTIVITY)

        return pattern
    if name == "share":
        from edgesdk.compress.share import SHAREABLE, clusters, parse_bits

        bits = parse_bits(arg)

        def share(la: Any, w: np.ndarray) -> np.ndarray | None:
            if type(la).__name__ not in SHAREABLE:
                return None
            c, assign, alive = clusters(w, bits)
            return (c[assign] * alive).astype(np.float32)

        return share
    return None


def compose(steps: list[tuple[MethodSpec, str | None]]) -> OneShot | None:
    """The one-shot forms of the pipeline's methods, applied in pipeline order (None: no method has one)."""
    fns = [f for f in (one_shot(s.name, a) for s, a in steps) if f is not None]
    if not fns:
        return None

    def run(layer: Any, w: np.ndarray) -> np.ndarray | None:
        out = None
        for f in fns:
            got = f(layer, w if out is None else out)
            if got is not None:
                out = got
        return out

    return run


def measure(model: Any, fn: OneShot, ctx: CompressContext) -> dict[str, dict[str, Any]]:
    """Per compressible layer: ``{"drop": float-accuracy drop on the val data, "params": weights}``."""
    base = accuracy(model, ctx.x_val, ctx.y_val)
    out: dict[str, dict[str, Any]] = {}
    for layer in weight_layers(model):
        weights = layer.get_weights()
        w = np.asarray(weights[0])
        q = fn(layer, w)
        if q is None:
            continue
        layer.set_weights([q.astype(w.dtype), *weights[1:]])
        try:
            acc = accuracy(model, ctx.x_val, ctx.y_val)
        finally:
            layer.set_weights(weights)
        out[layer.name] = {"drop": base - acc, "params": int(w.size)}
        ctx.progress(f"{model.name}: sensitivity of {layer.name}: {100 * (base - acc):+.2f} pt one-shot")
    return out


def choose(sens: dict[str, dict[str, Any]]) -> set[str]:
    """The layers to keep int8: sensitive ones (drop ≥ ``MIN_DROP``), most sensitive per weight first, while the
    kept layers hold at most ``BUDGET`` of the weights of all measured layers."""
    total = sum(s["params"] for s in sens.values())
    kept: set[str] = set()
    used = 0
    order = sorted(sens, key=lambda n: (-sens[n]["drop"] / max(1, sens[n]["params"]), n))
    for name in order:
        s = sens[name]
        if s["drop"] < MIN_DROP:
            continue
        if used + s["params"] <= BUDGET * total:
            kept.add(name)
            used += s["params"]
    return kept


def auto_keep(
    model: Any, steps: list[tuple[MethodSpec, str | None]], ctx: CompressContext
) -> tuple[set[str], dict[str, str]]:
    """``--keep-int8 auto``: the layers that stay int8 and, per measured layer, the report note."""
    fn = compose(steps)
    layers = weight_layers(model)
    if fn is None or not layers:
        keep = {layers[0].name, layers[-1].name} if layers else set()
        return keep, {
            n: "kept int8 (first/last weight layer: the method has no per-layer measurement)" for n in keep
        }
    sens = measure(model, fn, ctx)
    kept = choose(sens)
    total = sum(s["params"] for s in sens.values())
    notes: dict[str, str] = {}
    for name, s in sens.items():
        entry = ctx.layer(name)
        entry["sensitivity_drop_pt"] = round(100 * s["drop"], 2)
        drop = f"one-shot drop {100 * s['drop']:.2f} pt on --val"
        if name in kept:
            notes[name] = f"kept int8 (auto: {drop}, {s['params']:,} of {total:,} weights)"
            entry["int8_choice"] = "kept int8"
        elif s["drop"] >= MIN_DROP:
            entry["int8_choice"] = (
                f"compressed ({drop}; keeping it int8 would exceed {BUDGET:.0%} of the weights)"
            )
        else:
            entry["int8_choice"] = f"compressed ({drop} < {100 * MIN_DROP:g} pt)"
    return kept, notes
