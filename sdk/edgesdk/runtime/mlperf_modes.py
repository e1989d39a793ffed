"""The MLPerf Tiny benchmark a firmware announces to the MLCommons runner, and how it reads the runner's bytes.

The runner (EEMBC's ``runner`` of mlcommons/tiny) asks the device ``profile%`` and picks the dataset from the
``m-model-[...]`` reply, then sends each sample's raw bytes with ``db``: unsigned 8-bit pixels for image
classification (ic01) and visual wake words (vww01), which an int8 model with zero point -128 reads as
``byte - 128``; signed 8-bit features for keyword spotting (kws01) and anomaly detection (ad01), used as they
are. So the mode fixes both the announced name and the input offset; it is chosen explicitly with
``export --mlperf`` or inferred from the model's input shape, never from a hidden build variable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from edgesdk.errors import EdgeSDKError
from edgesdk.ir import Graph

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MLPerfMode:
    name: str
    input_shape: tuple[int, ...]
    input_offset: int  # added to each byte the runner sends (as uint8) to give the int8 input
    what: str
    #: (scale, zero point) the benchmark's bytes are quantized with: the reference model's input quantization
    #: (ic01 and ad01: the reference models in models/mlperf_tiny; kws01: the DS-CNN reference's input); None where
    #: the repository holds no reference figure to check against.
    input_quant: tuple[float, int] | None = None


MODES: dict[str, MLPerfMode] = {
    m.name: m
    for m in (
        MLPerfMode("ic01", (1, 32, 32, 3), -128, "image classification (CIFAR-10, ResNet-8)", (1.0, -128)),
        MLPerfMode(
            "kws01", (1, 49, 10, 1), 0, "keyword spotting (Speech Commands, DS-CNN)", (0.5847029089927673, 83)
        ),
        MLPerfMode("vww01", (1, 96, 96, 3), -128, "visual wake words (MobileNet)"),
        MLPerfMode(
            "ad01", (1, 640), 0, "anomaly detection (ToyADMOS, FC autoencoder)", (0.3910152316093445, 89)
        ),
    )
}
#: Relative difference of scales below which two input quantizations are the same (float32 rounding).
SCALE_TOLERANCE = 1e-5

#: What a firmware announces when no mode applies; it then refuses to load or run MLPerf inputs.
NO_MODE = "none"


def _shape(graph: Graph) -> tuple[int, ...]:
    return tuple(int(d) for d in graph.tensors[graph.inputs[0]].shape) if graph.inputs else ()


def resolve_mlperf(graph: Graph, requested: str | None) -> dict[str, Any]:
    """The mode for ``graph``: ``requested`` if given (checked against the input shape), else the one whose
    input shape the model has, else none. Returns ``{"model", "input_offset", "inferred"}``."""
    shape = _shape(graph)
    if requested is not None:
        mode = MODES.get(requested)
        if mode is None:
            raise EdgeSDKError(
                f"unknown MLPerf Tiny benchmark {requested!r}; choose one of {', '.join(MODES)}"
            )
        if shape != mode.input_shape:
            raise EdgeSDKError(
                f"--mlperf {mode.name} ({mode.what}) sends inputs of shape {'x'.join(map(str, mode.input_shape))}, "
                f"but model {graph.name} takes {'x'.join(map(str, shape)) or 'no input'}"
            )
        return _checked(graph, mode, inferred=False)
    matches = [m for m in MODES.values() if m.input_shape == shape]
    if len(matches) == 1:
        return _checked(graph, matches[0], inferred=True)
    return {"model": NO_MODE, "input_offset": 0, "inferred": True}


def input_quant_mismatch(graph: Graph, mode: MLPerfMode) -> str | None:
    """One sentence when the model's input quantization is not the one the benchmark's bytes are quantized with
    (the runner sends the bytes as they are: a model with another scale or zero point reads other values), else
    None."""
    if mode.input_quant is None or not graph.inputs:
        return None
    q = graph.tensors[graph.inputs[0]].quant
    if q is None:
        return None
    scale, zp = float(q.s), int(q.zp)
    want_scale, want_zp = mode.input_quant
    if abs(scale - want_scale) <= SCALE_TOLERANCE * want_scale and zp == want_zp:
        return None
    return (
        f"model {graph.name} takes inputs quantized with scale {scale:.6g} and zero point {zp}, but the MLPerf Tiny "
        f"{mode.name} runner sends bytes quantized with scale {want_scale:.6g} and zero point {want_zp} (the "
        "reference model's): the firmware reads other values than the model was calibrated for, so its outputs on "
        "the benchmark's data differ; quantize the model's input with the reference's scale and zero point"
    )


def _checked(graph: Graph, mode: MLPerfMode, *, inferred: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": mode.name, "input_offset": mode.input_offset, "inferred": inferred}
    warning = input_quant_mismatch(graph, mode)
    if warning:
        log.warning("%s", warning)
        out["input_quant_warning"] = warning
    return out
