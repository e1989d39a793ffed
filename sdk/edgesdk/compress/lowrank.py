"""Low-rank factorization: ``lowrank=RANK`` or ``lowrank=0.9e``, then fine-tuning.

Every Dense layer ``y = act(x W + b)`` (W: in × out) becomes two Dense layers through the truncated SVD
``W ≈ (U_r √S_r)(√S_r V_rᵀ)``: ``Dense(r, no bias, linear)`` then ``Dense(out, bias, act)`` — r·(in+out)
parameters instead of in·out. A 1×1 Conv2D is factorized the same way (two 1×1 convolutions).

A k×k Conv2D with kernel K (kh × kw × cin × cout) gets a Tucker-2 decomposition (Kim et al. 2016, "Compression
of Deep Convolutional Neural Networks for Fast and Low Power Mobile Applications", after Tucker 1966): the
leading singular vectors of K unfolded along the input channels (U₁, cin × r₁) and along the output channels
(U₂, cout × r₂) and the core ``G = K ×₃ U₁ᵀ ×₄ U₂ᵀ`` (kh × kw × r₁ × r₂) give three ordinary convolutions,
1×1 (cin → r₁) → kh×kw (r₁ → r₂, the original strides, padding and dilation) → 1×1 (r₂ → cout, bias and
activation). A channel mode whose rank is not below its size is left unfactored (no 1×1 on that side).

The argument chooses the rank of every factorizable layer:

- ``lowrank=R`` (an integer ≥ 1): rank R for every layer (for a convolution, both channel modes, each capped at
  its channel count). A layer's rank bound is ``min(in, out)`` for a Dense layer or a 1×1 convolution and
  ``max(cin, cout)`` for a k×k convolution; a layer whose bound is below R stays as it is (its report entry
  says so), and a rank larger than every layer allows is an error naming the largest layer.
- ``lowrank=0.9e`` (a fraction in (0, 1) followed by ``e``): per layer (and per channel mode) the smallest rank
  whose singular values keep that fraction of the squared-singular-value energy ``Σ σᵢ²``.
- no argument: ``0.9e``.

A layer is replaced only when the factors hold fewer parameters than the original; otherwise it stays as it
is and its report entry says so. Depthwise and grouped convolutions are not touched. ``keep_int8`` does not
apply: factors stay int8 like every other layer. The factorized model is fine-tuned with ``ctx.fit`` (which also
distils from the original model with ``--distill``). The result contains only plain Dense/Conv2D layers,
which the TFLite converter and edgesdk's existing int8 kernels run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgesdk.compress.base import CompressContext, register_check, register_method
from edgesdk.errors import CompressError

log = logging.getLogger(__name__)

DEFAULT_ENERGY = 0.9
_ENERGY = re.compile(r"^(0?\.\d+|1\.0*|0)e$")


@dataclass(frozen=True)
class RankSpec:
    """A fixed rank (``rank``) or an energy fraction to keep (``energy``)."""

    rank: int | None = None
    energy: float | None = None

    def __str__(self) -> str:
        return str(self.rank) if self.rank is not None else f"{self.energy:g}e"


def parse_rank(arg: str | None) -> RankSpec:
    """``"8"`` -> rank 8; ``"0.9e"`` -> keep 90 % of the energy; None -> the default energy."""
    if arg is None or arg.strip() == "":
        return RankSpec(energy=DEFAULT_ENERGY)
    text = arg.strip().lower()
    if text.endswith("e"):
        try:
            energy = float(text[:-1])
        except ValueError:
            energy = -1.0
        if not 0.0 < energy < 1.0:
            raise CompressError(
                f"lowrank={arg}: an energy threshold is a fraction between 0 and 1 followed by 'e', e.g. 0.9e"
            )
        return RankSpec(energy=energy)
    try:
        rank = int(text)
    except ValueError:
        raise CompressError(
            f"lowrank={arg}: give an integer rank (lowrank=8) or an energy threshold (lowrank=0.9e)"
        ) from None
    if rank < 1:
        raise CompressError(f"lowrank={arg}: the rank must be at least 1")
    return RankSpec(rank=rank)


def energy_rank(s: np.ndarray, energy: float) -> int:
    """Smallest r with ``Σ_{i<r} σᵢ² ≥ energy · Σ σᵢ²`` (at least 1)."""
    e = np.asarray(s, np.float64) ** 2
    total = float(e.sum())
    if total <= 0.0:
        return 1
    return max(1, int(np.searchsorted(np.cumsum(e) / total, energy - 1e-12) + 1))


def svd_factors(w: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``w`` (in × out) ≈ ``a @ b`` with ``a`` in × rank and ``b`` rank × out (the truncated SVD, √S to each)."""
    u, s, vt = np.linalg.svd(np.asarray(w, np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(np.float32), (root[:, None] * vt[:rank]).astype(np.float32)


def _mode_vectors(k: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors and singular values of ``k`` unfolded along ``axis``."""
    m = np.moveaxis(np.asarray(k, np.float64), axis, 0).reshape(k.shape[axis], -1)
    u, s, _ = np.linalg.svd(m, full_matrices=False)
    return u, s


def tucker2_factors(
    k: np.ndarray, r_in: int, r_out: int
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Tucker-2 of a conv kernel ``k`` (kh × kw × cin × cout): (U₁ cin × r_in or None, core, U₂ cout × r_out or
    None). A mode whose rank equals its size is not factored (None, the core keeps that mode)."""
    cin, cout = k.shape[2], k.shape[3]
    u1 = _mode_vectors(k, 2)[0][:, :r_in] if r_in < cin else None
    u2 = _mode_vectors(k, 3)[0][:, :r_out] if r_out < cout else None
    core = np.asarray(k, np.float64)
    if u1 is not None:
        core = np.einsum("hwio,ir->hwro", core, u1)
    if u2 is not None:
        core = np.einsum("hwio,os->hwis", core, u2)
    return (
        None if u1 is None else u1.astype(np.float32),
        core.astype(np.float32),
        None if u2 is None else u2.astype(np.float32),
    )


# --- per-layer planning -----------------------------------------------------------------------------------
def _kind(layer: Any) -> str | None:
    name = type(layer).__name__
    if name == "Dense":
        return "dense"
    if name == "Conv2D":
        if int(getattr(layer, "groups", 1) or 1) != 1:
            return None
        kh, kw = layer.kernel.shape[:2]
        return "conv1x1" if (kh, kw) == (1, 1) else "conv"
    return None


def _too_small(kind: str, params: int, bound: int, why: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "rank": None,
        "bound": bound,
        "why": why,
        "params_before": params,
        "params_after": params,
        "apply": False,
        "note": f"kept: the rank is not below the layer's bound ({why})",
    }


def _plan_layer(layer: Any, spec: RankSpec) -> dict[str, Any]:
    """The ranks for one layer and whether factorizing saves parameters (a report entry)."""
    kind = _kind(layer)
    k = layer.kernel.numpy() if hasattr(layer.kernel, "numpy") else np.asarray(layer.kernel)
    params = int(k.size)
    if kind in ("dense", "conv1x1"):
        w = k.reshape(-1, k.shape[-1])
        n_in, n_out = w.shape
        limit = min(n_in, n_out)
        if spec.rank is not None:
            if spec.rank > limit:
                return _too_small(kind, params, limit, f"{n_in}×{n_out} has rank at most {limit}")
            r = spec.rank
        else:
            r = energy_rank(np.linalg.svd(w.astype(np.float64), compute_uv=False), spec.energy)  # type: ignore[arg-type]
        new = r * (n_in + n_out)
        return {"kind": kind, "rank": r, "params_before": params, "params_after": new, "apply": new < params}
    kh, kw, cin, cout = k.shape
    if spec.rank is not None:
        if spec.rank > max(cin, cout):
            bound = max(cin, cout)
            return _too_small(
                kind, params, bound, f"{cin} input and {cout} output channels: rank at most {bound}"
            )
        r1, r2 = min(spec.rank, cin), min(spec.rank, cout)
    else:
        r1 = energy_rank(_mode_vectors(k, 2)[1], spec.energy)  # type: ignore[arg-type]
        r2 = energy_rank(_mode_vectors(k, 3)[1], spec.energy)  # type: ignore[arg-type]
    new = kh * kw * r1 * r2 + (cin * r1 if r1 < cin else 0) + (cout * r2 if r2 < cout else 0)
    return {
        "kind": kind,
        "rank": [r1, r2],
        "params_before": params,
        "params_after": int(new),
        "apply": new < params and (r1 < cin or r2 < cout),
    }


def _factor_layers(layer: Any, plan: dict[str, Any]) -> tuple[list[Any], list[list[np.ndarray]]]:
    """The replacement layers of one layer and their weights."""
    import keras

    cfg = layer.get_config()
    bias = [layer.bias.numpy()] if cfg.get("use_bias", True) and layer.bias is not None else []
    k = np.asarray(layer.kernel.numpy())
    act = cfg.get("activation", "linear")
    name = layer.name
    if plan["kind"] == "dense":
        a, b = svd_factors(k, plan["rank"])
        return [
            keras.layers.Dense(plan["rank"], use_bias=False, name=f"{name}_lr_u"),
            keras.layers.Dense(k.shape[1], activation=act, use_bias=bool(bias), name=f"{name}_lr_v"),
        ], [[a], [b, *bias]]
    if plan["kind"] == "conv1x1":
        a, b = svd_factors(k.reshape(k.shape[2], k.shape[3]), plan["rank"])
        geo = {
            "strides": cfg["strides"],
            "padding": cfg["padding"],
            "dilation_rate": cfg["dilation_rate"],
        }
        return [
            keras.layers.Conv2D(plan["rank"], 1, use_bias=False, name=f"{name}_lr_u", **geo),
            keras.layers.Conv2D(k.shape[3], 1, activation=act, use_bias=bool(bias), name=f"{name}_lr_v"),
        ], [[a.reshape(1, 1, *a.shape)], [b.reshape(1, 1, *b.shape), *bias]]
    r1, r2 = plan["rank"]
    u1, core, u2 = tucker2_factors(k, r1, r2)
    layers: list[Any] = []
    weights: list[list[np.ndarray]] = []
    if u1 is not None:
        layers.append(keras.layers.Conv2D(r1, 1, use_bias=False, name=f"{name}_lr_in"))
        weights.append([u1.reshape(1, 1, *u1.shape)])
    last = u2 is None
    layers.append(
        keras.layers.Conv2D(
            core.shape[3],
            core.shape[:2],
            strides=cfg["strides"],
            padding=cfg["padding"],
            dilation_rate=cfg["dilation_rate"],
            activation=act if last else "linear",
            use_bias=bool(bias) and last,
            name=f"{name}_lr_core",
        )
    )
    weights.append([core, *(bias if last else [])])
    if u2 is not None:
        layers.append(
            keras.layers.Conv2D(k.shape[3], 1, activation=act, use_bias=bool(bias), name=f"{name}_lr_out")
        )
        weights.append([u2.T.reshape(1, 1, *u2.T.shape), *bias])
    return layers, weights


def rebuild(model: Any, replace: Callable[[Any], Callable[[Any], Any] | None]) -> Any:
    """A new functional model (free batch dimension) where ``replace(layer)`` may substitute a callable for a
    layer; every other layer is a fresh copy with the original's weights (the original model is untouched)."""
    import keras

    graph = model if not isinstance(model, keras.Sequential) else keras.Model(model.inputs, model.outputs)
    inputs = [keras.Input(tuple(t.shape[1:]), dtype=t.dtype) for t in graph.inputs]
    copies: list[tuple[Any, Any]] = []

    def op_fn(op: Any) -> Any:
        new = replace(op)
        if new is not None:
            return new
        clone = op.__class__.from_config(op.get_config())
        copies.append((op, clone))
        return clone

    try:
        outputs = graph._run_through_graph(inputs, operation_fn=op_fn)
    except Exception as exc:
        raise CompressError(
            f"model {model.name} cannot be rebuilt with factorized layers ({type(exc).__name__}: {exc})"
        ) from exc
    for old, new in copies:
        if old.weights:
            new.set_weights(old.get_weights())
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)


def plan_layers(model: Any, spec: RankSpec, only: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """The plan of every factorizable layer (all, or those in ``only``); one sentence when the rank is larger
    than every layer allows."""
    plans: dict[str, dict[str, Any]] = {}
    for layer in model.layers:
        if _kind(layer) is None or (only is not None and layer.name not in only):
            continue
        plans[layer.name] = _plan_layer(layer, spec)
    too_small = [n for n, p in plans.items() if "bound" in p]
    if plans and len(too_small) == len(plans):
        largest = max(too_small, key=lambda n: plans[n]["bound"])
        raise CompressError(
            f"lowrank={spec}: rank {spec.rank} is larger than every layer allows; the largest, layer {largest}, "
            f"allows at most {plans[largest]['bound']} ({plans[largest]['why']})"
        )
    return plans


def factorize(
    model: Any, spec: RankSpec, only: set[str] | None = None
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The factorized model (not yet fine-tuned) and a report entry per factorizable layer (all of them, or
    those named in ``only``)."""
    plans = plan_layers(model, spec, only)
    built: list[tuple[list[Any], list[list[np.ndarray]]]] = []

    def replace(op: Any) -> Callable[[Any], Any] | None:
        plan = plans.get(getattr(op, "name", ""))
        if plan is None or not plan["apply"]:
            return None
        layers, weights = _factor_layers(op, plan)
        built.append((layers, weights))

        def call(x: Any) -> Any:
            for la in layers:
                x = la(x)
            return x

        return call

    new = rebuild(model, replace)
    for layers, weights in built:
        for la, w in zip(layers, weights, strict=True):
            la.set_weights(w)
    report = {}
    for name, plan in plans.items():
        entry = {
            "rank": plan["rank"],
            "params_before": plan["params_before"],
            "params_after": plan["params_after"] if plan["apply"] else plan["params_before"],
            "factorized": bool(plan["apply"]),
        }
        if not plan["apply"]:
            entry["note"] = plan.get("note", "kept: the factors would not hold fewer parameters")
        report[name] = entry
    return new, report


@register_method(
    "lowrank", 10, "low-rank factorization: SVD for Dense, Tucker-2 for Conv2D; lowrank=RANK or 0.9e"
)
def apply_lowrank(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    """Factorize every Dense/Conv2D layer at the rank ``arg`` asks for, then fine-tune (with distillation
    when the context has a teacher)."""
    spec = parse_rank(arg)
    new, report = factorize(model, spec)
    n = sum(1 for r in report.values() if r["factorized"])
    ctx.progress(f"lowrank {spec}: {n} of {len(report)} layers factorized")
    for name, entry in report.items():
        ctx.layer(name).update(entry)
    if n:
        new = ctx.fit(new)
    return new


@register_check("lowrank")
def check_lowrank(model: Any, arg: str | None, ctx: CompressContext) -> None:
    plan_layers(model, parse_rank(arg))
