"""``edgesdk compress``: a float Keras model -> a compressed model file every other command takes.

``compress(model, "ternary", "train.npz", "val.npz", out="m.tflite")`` fine-tunes the model with the chosen
methods (quantization-aware training, pruning, ...; see :mod:`edgesdk.compress.base` for the registry and the
fixed order), converts the result to a full-int8 ``.tflite`` through the real TFLite converter (calibrated on the
training data), runs the written file on the validation data and reports float vs compressed accuracy, weight
bytes as the edgesdk C backend stores them with the kernels the passes pick, and a per-layer list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgesdk.compress.base import (
    DEFAULT_EPOCHS,
    METHODS,
    CompressContext,
    CompressResult,
    MethodSpec,
    accuracy,
    check_fits_model,
    evaluate_tflite,
    fixed_batch,
    float_weight_bytes,
    load_keras,
    load_xy,
    parse_methods,
    reestimate_batchnorm,
    register_method,
    resolve_keep_int8,
    trainable_copy,
    weight_layers,
)
from edgesdk.compress.base import (
    tflite_hits as tflite_hits,
)
from edgesdk.errors import CompressError, EdgeSDKError

log = logging.getLogger(__name__)
_load_keras = load_keras  # the name other modules used

#: Method modules (each registers its methods when imported). Add yours here.
METHOD_MODULES = ["int8", "ternary", "xnor", "prune", "share", "lowrank", "adder"]

CALIB_SAMPLES = 200
#: Whether fine-tuning distils from the float model when ``--distill``/``--no-distill`` is not given. On by
#: measurement: on the MNIST-1D DS-CNN (800 samples, test split, seeds 0 and 1) distillation gave ternary +0.9 and
#: +2.0 pt, binary -1.5 and +2.9 pt, prune=0.8,share=4bit +4.5 and +4.8 pt (benchmarks/compression.py).
DEFAULT_DISTILL = True
#: Methods whose result int8 TFLite cannot hold: the graph-archive suffix they write, and why.
ARCHIVE_METHODS = {
    "xnor": (".xnor", "binary activations have no int8 TFLite form"),
    "adder": (".edgesdk", "the adder convolution has no TFLite op"),
}


def _load_methods() -> None:
    import importlib

    for mod in METHOD_MODULES:
        try:
            importlib.import_module(f"edgesdk.compress.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"edgesdk.compress.{mod}":
                raise


_load_methods()


def export_context(board: str | None = None, optimize: str | None = None) -> tuple[str, Any]:
    """(board name, the PassContext ``edgesdk export`` uses for ``board`` and ``optimize``): the kernels and bytes
    ``compress`` reports are the ones that export would pick."""
    from edgesdk.boards import get_board
    from edgesdk.passes import DEFAULT_OPTIMIZE, PassContext

    optimize = optimize or DEFAULT_OPTIMIZE
    b = get_board(board)
    options = {} if b.is_host else {"flash_bytes": b.memory.flash_bytes}
    return b.name, PassContext(core="" if b.is_host else b.core, optimize=optimize, options=options)


def _entry_for(name: str, ctx_layers: dict[str, dict]) -> dict | None:
    if name in ctx_layers:
        return ctx_layers[name]
    base = name.rsplit("_lr_", 1)[0]  # a low-rank factor reports under the layer it replaced
    return ctx_layers.get(base)


def layer_report(
    graph: Any, ctx_layers: dict[str, dict], keras_names: list[list[str]], board: str | None = None
) -> list[dict[str, Any]]:
    """The per-layer list: storage of each IR layer in the default export for ``board`` (``format``,
    ``weight_bytes``, ...) and in the ``--optimize size`` export (``size_format``, ``size_weight_bytes``),
    merged with the method's keys. ``keras_names`` are candidate lists of Keras weight-layer names (the compressed
    model's, the original's); the first as long as the IR's list of weight layers names them by position.

    ``name`` is the IR layer name that ``validate``, ``profile`` and ``--kernel`` use; ``keras_name`` the Keras
    layer it came from. IR layers are matched to the Keras weight layers by position (the converter keeps their
    order and folds BatchNorm into them); TFLite's own names are uniquified by TensorFlow and cannot be trusted
    for this.
    """
    from edgesdk.numerics.weights import layer_weights
    from edgesdk.passes import run_pipeline

    board_name, default = export_context(board)
    _, size = export_context(board, "size")
    ir_rows = layer_weights(run_pipeline(graph, "default", default))
    size_rows = {r["name"]: r for r in layer_weights(run_pipeline(graph, "default", size))}
    names = next((c for c in keras_names if len(c) == len(ir_rows)), None)
    rows = []
    for i, row in enumerate(ir_rows):
        kname = names[i] if names is not None else (row["name"] if row["name"] in ctx_layers else None)
        entry: dict[str, Any] = dict(row)
        srow = size_rows.get(row["name"], row)
        entry["size_format"] = srow["format"]
        entry["size_weight_bytes"] = srow["weight_bytes"]
        own = _entry_for(kname, ctx_layers) if kname else None
        if own is not None:
            entry.update({k: v for k, v in own.items() if k != "name"})
        entry["name"] = row["name"]
        entry["keras_name"] = kname
        rows.append(entry)
    return rows


def _resolve_keep(
    kmodel: Any, keep_int8: str | Iterable[str] | None, steps: list[tuple[MethodSpec, str | None]]
) -> tuple[set[str] | None, dict[str, str]]:
    """Explicit ``--keep-int8`` -> (names, notes); ``auto`` -> (None, {}) when it is measured later, or the first
    and last weight layer for methods without a per-layer measurement."""
    from edgesdk.compress.sensitivity import compose

    text = keep_int8 if isinstance(keep_int8, str) else None
    if text is not None and text.strip().lower() == "auto":
        if compose(steps) is not None:
            return None, {}
        if all(s.name == "int8" for s, _ in steps):
            return set(), {}  # every layer is int8 anyway
        keep = resolve_keep_int8(kmodel, "first,last")
        return keep, {n: "kept int8 (auto: first/last weight layer)" for n in keep}
    return resolve_keep_int8(kmodel, keep_int8), {}


def _is_auto(method: str | Iterable[str]) -> bool:
    """Whether ``method`` asks for the per-layer search; ``auto`` combined with other methods is refused."""
    parts = [p.strip().lower() for p in (method.split(",") if isinstance(method, str) else method)]
    if "auto" not in parts:
        return False
    if len([p for p in parts if p]) > 1:
        raise CompressError("method auto chooses every layer's method itself; give it alone, not with others")
    return True


def _check_output_name(out: Path, steps: list[tuple[MethodSpec, str]], method: Any) -> Path:
    """``out`` when its suffix suits the methods: a graph archive's for a method int8 cannot hold, else ``.tflite``."""
    archive = [s.name for s, _ in steps if s.name in ARCHIVE_METHODS]
    if archive and out.suffix.lower() != ARCHIVE_METHODS[archive[0]][0]:
        suffix, why = ARCHIVE_METHODS[archive[0]]
        raise CompressError(
            f"method {archive[0]} writes an edgesdk graph archive ({why}); "
            f"name the output {out.with_suffix(suffix).name}, not {out.name}"
        )
    if not archive and out.suffix.lower() != ".tflite":
        raise CompressError(
            f"method {method} writes an int8 .tflite; name the output {out.with_suffix('.tflite').name}"
        )
    return out


def _apply_and_write(
    kmodel: Any,
    steps: list[tuple[MethodSpec, str]],
    ctx: CompressContext,
    out: Path,
    x: Any,
    xv: Any,
    yv: Any,
) -> tuple[float, Any, Any]:
    """Apply the methods in order (fine-tuning each), then write ``out``: an int8 ``.tflite`` through the TFLite
    converter, or the method's own format where int8 cannot express it (xnor). Returns (accuracy on the
    validation data, the written model's IR, the compressed Keras model)."""
    from edgesdk.frontends.keras import quantize_keras
    from edgesdk.frontends.tflite import read_tflite

    current = kmodel
    writer = None
    for spec, arg in steps:
        if spec.name == "int8":
            continue
        ctx.progress(f"{kmodel.name}: applying {spec.name}" + (f"={arg}" if arg else ""))
        current = spec.apply(current, arg, ctx)
        writer = getattr(current, "_edgesdk_writer", writer)
    if current is not kmodel:
        reestimate_batchnorm(current, x, kmodel.name, ctx.progress)
    if writer is not None:
        # Methods whose result int8 cannot express (xnor) write their own format.
        res = writer(out, ctx)
        return res["accuracy"], res["graph"], current
    ctx.progress(f"{kmodel.name}: converting to int8 with the TFLite converter")
    calib = x[: min(len(x), CALIB_SAMPLES)].reshape((-1, *kmodel.inputs[0].shape[1:]))
    data_bytes = quantize_keras(fixed_batch(current), calib, num_samples=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data_bytes)
    return evaluate_tflite(data_bytes, xv, yv), read_tflite(data_bytes, name=out.stem), current


def _compress_auto(
    model: Any,
    data: Any,
    val: Any,
    out: str | Path,
    epochs: int | None,
    keep_int8: str | Iterable[str],
    distill: bool | None,
    seed: int,
    progress: bool,
    board: str | None,
    auto_options: dict[str, Any],
) -> Any:
    """``compress(method="auto")``: :func:`edgesdk.compress.auto.compress_auto`, which decides the int8 layers per
    layer unless told."""
    from edgesdk.compress.auto import compress_auto

    keep = None if keep_int8 in ("first,last", "auto") else keep_int8
    return compress_auto(
        model,
        data,
        val,
        out=out,
        epochs=epochs,
        keep_int8=keep,
        distill=distill,
        seed=seed,
        progress=progress,
        board=board,
        **auto_options,
    )


def compress(
    model: Any,
    method: str | Iterable[str],
    data: Any,
    val: Any = None,
    *,
    epochs: int | None = None,
    out: str | Path,
    keep_int8: str | Iterable[str] = "auto",
    distill: bool | None = None,
    temperature: float = 4.0,
    seed: int = 0,
    progress: bool = True,
    board: str | None = None,
    **auto_options: Any,
) -> CompressResult:
    """Compress a float Keras classifier with ``method`` and write ``out``; see the module docstring.

    ``val`` defaults to the training data (a note goes to the log). ``epochs`` defaults to ``DEFAULT_EPOCHS``.
    ``keep_int8="auto"`` measures which layers stay int8 (:mod:`edgesdk.compress.sensitivity`); ``distill=None``
    means ``DEFAULT_DISTILL``. The bytes describe the default export for ``board`` (default: the default board).
    Everything that cannot work is refused before training starts.
    ``method="auto"`` searches a method per layer under an accuracy budget
    (:func:`edgesdk.compress.auto.compress_auto`, which takes ``auto_options``: ``max_drop``, ``optimize``,
    ``trials``, ``workers``, ``ray``, ``choices``) and returns its ``AutoResult``.
    """
    from edgesdk.compress.sensitivity import auto_keep

    if _is_auto(method):
        return _compress_auto(
            model, data, val, out, epochs, keep_int8, distill, seed, progress, board, auto_options
        )
    if auto_options:
        raise CompressError(f"option {', '.join(sorted(auto_options))} applies to method auto only")
    steps = parse_methods(method)
    x, y = load_xy(data, "training")
    if val is None:
        log.warning("no validation data given; measuring accuracy on the training data")
        xv, yv = x, y
    else:
        xv, yv = load_xy(val, "validation")
    kmodel = load_keras(model)
    check_fits_model(kmodel, x, y, "training")
    check_fits_model(kmodel, xv, yv, "validation")
    out = _check_output_name(Path(out), steps, method)
    export_context(board)  # an unknown board is refused now, not after training
    import keras

    keras.utils.set_random_seed(seed)
    keep, keep_why = _resolve_keep(kmodel, keep_int8, steps)
    use_distill = DEFAULT_DISTILL if distill is None else bool(distill)
    ctx = CompressContext(
        x_train=x,
        y_train=y,
        x_val=xv,
        y_val=yv,
        epochs=DEFAULT_EPOCHS if epochs is None else int(epochs),
        seed=seed,
        keep_int8=set() if keep is None else keep,
        keep_why=keep_why,
        teacher=kmodel if use_distill else None,
        temperature=float(temperature),
        show_progress=progress,
    )
    for spec, arg in steps:  # refuse what cannot work before anything trains
        if spec.check is not None:
            spec.check(kmodel, arg, ctx)
    for layer in weight_layers(kmodel):
        ctx.layer(layer.name)["class"] = type(layer).__name__
    acc_float = accuracy(kmodel, xv, yv)
    ctx.progress(f"{kmodel.name}: float accuracy {acc_float:.4f} on {len(yv)} validation samples")
    if keep is None:
        ctx.keep_int8, ctx.keep_why = auto_keep(kmodel, steps, ctx)
        ctx.progress(
            f"{kmodel.name}: layers kept int8 by measured sensitivity: {', '.join(sorted(ctx.keep_int8)) or 'none'}"
        )
        for spec, arg in steps:
            if spec.check is not None:
                spec.check(kmodel, arg, ctx)
    acc_c, graph, current = _apply_and_write(kmodel, steps, ctx, out, x, xv, yv)
    names = [[la.name for la in weight_layers(m)] for m in (current, kmodel)]
    board_name, default = export_context(board)
    rows = layer_report(graph, ctx.layers, names, board)
    int8_bytes = sum(r["params"] for r in rows)
    selected = bool(ctx.fits) or keep is None
    result = CompressResult(
        method=",".join(s.name + (f"={a}" if a else "") for s, a in steps),
        out=str(out),
        accuracy_float=acc_float,
        accuracy_compressed=float(acc_c),
        weight_bytes_float=float_weight_bytes(kmodel),
        weight_bytes_compressed=int(sum(r["weight_bytes"] for r in rows)),
        weight_bytes_int8=int(int8_bytes),
        weight_bytes_size_export=int(sum(r["size_weight_bytes"] for r in rows)),
        export={"board": board_name, "optimize": default.optimize},
        layers=rows,
        epochs=ctx.epochs,
        seed=seed,
        distill=use_distill,
        keep_int8=sorted(ctx.keep_int8),
        fits=ctx.fits,
        val_optimistic=selected and val is not None,
    )
    ctx.progress(
        f"{kmodel.name}: accuracy float {acc_float:.4f} -> {result.method} {acc_c:.4f}"
        + (" (optimistic: epochs and int8 layers were chosen on this validation data)" if selected else "")
        + f"; weight bytes float {result.weight_bytes_float:,} -> {result.weight_bytes_compressed:,} in the "
        f"default export for {board_name} ({result.weight_bytes_size_export:,} with --optimize size)"
    )
    return result


__all__ = [
    "METHODS",
    "CompressContext",
    "CompressError",
    "CompressResult",
    "EdgeSDKError",
    "MethodSpec",
    "compress",
    "evaluate_tflite",
    "parse_methods",
    "register_method",
    "trainable_copy",
]
