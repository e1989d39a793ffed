"""The MLPerf Tiny benchmark a firmware announces to the MLCommons runner, and how it reads the runner's bytes.

The runner (EEMBC's ``runner`` of mlcommons/tiny) asks the device ``profile%`` and picks the dataset from the
``m-model-[...]`` reply, then sends each sample's raw bytes with ``db``: unsigned 8-bit pixels for image
classification (ic01) and visual wake words (vww01), which an int8 model with zero point -128 reads as
``byte - 128``; signed 8-bit features for keyword spotting (kws01) and anomaly detection (ad01), used as they
are. So the mode fixes both the announced name and the input offset; it is chosen explicitly with
``export --mlperf`` or inferred from the model's input shape, never from a hidden build variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgesdk.errors import EdgeSDKError
from edgesdk.ir import Graph


@dataclass(frozen=True)
class MLPerfMode:
    name: str
    input_shape: tuple[int, ...]
    input_offset: int  # added to each byte the runner sends (as uint8) to give the int8 input
    what: str


MODES: dict[str, MLPerfMode] = {
    m.name: m
    for m in (
        MLPerfMode("ic01", (1, 32, 32, 3), -128, "image classification (CIFAR-10, ResNet-8)"),
        MLPerfMode("kws01", (1, 49, 10, 1), 0, "keyword spotting (Speech Commands, DS-CNN)"),
        MLPerfMode("vww01", (1, 96, 96, 3), -128, "visual wake words (MobileNet)"),
        MLPerfMode("ad01", (1, 640), 0, "anomaly detection (ToyADMOS, FC autoencoder)"),
    )
}

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
        return {"model": mode.name, "input_offset": mode.input_offset, "inferred": False}
    matches = [m for m in MODES.values() if m.input_shape == shape]
    if len(matches) == 1:
        return {"model": matches[0].name, "input_offset": matches[0].input_offset, "inferred": True}
    return {"model": NO_MODE, "input_offset": 0, "inferred": True}
