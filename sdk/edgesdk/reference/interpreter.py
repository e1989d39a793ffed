"""The reference interpreter: runs an IR graph node by node with the kernels in ``kernels.py``.

It is the oracle every backend is compared with, so it favours plainness: parameters come from
``params.op_params`` (the very numbers the C backend emits), each node's output is stored by tensor name, and
nothing is fused or reordered.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgesdk.errors import UnsupportedOpError
from edgesdk.ir import graph as ir
from edgesdk.reference.kernels import KERNELS
from edgesdk.reference.params import op_params

ROUNDINGS = ("double", "single")


class Reference:
    """Integer-exact interpreter of an IR graph.

    ``rounding="double"`` (default) is TFLite Micro's arithmetic everywhere. ``rounding="single"`` changes only
    the FULLY_CONNECTED requantization (per-tensor and per-channel weights) to one rounding, which is what
    ai-edge-litert's ``BUILTIN_REF`` FULLY_CONNECTED kernel does (see TOOLCHAIN.md, "Which TFLite is the
    truth"); with it the interpreter equals litert's reference kernels at every layer we have compared.

    Activations may carry a batch of N samples in their leading dimension (``run_batch``): every kernel treats
    samples independently, so row i of a batched result equals ``run`` on sample i.
    """

    def __init__(self, graph: ir.Graph, rounding: str = "double") -> None:
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, not {rounding!r}")
        graph.validate()
        self.graph = graph
        self.rounding = rounding
        self.params: dict[str, dict[str, Any]] = {}
        for node in graph.nodes:
            if node.op not in KERNELS:
                raise UnsupportedOpError(
                    f"layer {node.name}: op {node.op} is not supported by the reference interpreter"
                )
            self.params[node.name] = op_params(graph, node)

    # -- inputs ---------------------------------------------------------------------------------------------

    def _as_input(self, name: str, x: np.ndarray, batched: bool) -> np.ndarray:
        t = self.graph.tensor(name)
        x = np.asarray(x)
        shape = t.shape
        if batched:
            per_sample = int(np.prod(shape[1:], dtype=np.int64)) if shape else 1
            if x.size % max(per_sample, 1):
                raise ValueError(
                    f"input {name}: {x.size} values are not a whole number of {shape[1:]} samples"
                )
            shape = (x.size // per_sample,) + tuple(shape[1:])
        elif x.size != t.size:
            raise ValueError(f"input {name}: expected {t.size} values ({t.shape}), got {x.size}")
        dtype = np.dtype(t.dtype)
        if np.issubdtype(dtype, np.integer) and x.dtype != dtype:
            info = np.iinfo(dtype)
            if x.size and (
                np.min(x) < info.min or np.max(x) > info.max or not np.all(np.equal(np.mod(x, 1), 0))
            ):
                raise ValueError(f"input {name}: values do not fit {t.dtype}")
        return x.astype(dtype).reshape(shape)

    # -- execution ------------------------------------------------------------------------------------------

    def _execute(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values: dict[str, np.ndarray] = dict(feeds)
        for node in self.graph.nodes:
            args: list[np.ndarray | None] = []
            for name in node.inputs:
                if not name:
                    args.append(None)
                    continue
                if name in values:
                    args.append(values[name])
                    continue
                t = self.graph.tensor(name)
                if t.data is None:
                    raise ValueError(f"layer {node.name}: input {name} has no value")
                args.append(np.asarray(t.data))
            out = KERNELS[node.op](self.graph, node, self.params[node.name], args, self.rounding)
            values[node.outputs[0]] = out
        return values

    def run_all(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run one input; return every activation tensor (graph inputs and node outputs) by tensor name."""
        return self._activations(x, batched=False)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one input (in the input's shape, or flat) and return the single output in its shape."""
        if len(self.graph.outputs) != 1:
            raise ValueError(f"graph {self.graph.name} has {len(self.graph.outputs)} outputs: use run_multi")
        return self.run_all(x)[self.graph.outputs[0]]

    def run_multi(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run a graph with any number of inputs and outputs (in the graph's order)."""
        if len(inputs) != len(self.graph.inputs):
            raise ValueError(
                f"graph {self.graph.name} takes {len(self.graph.inputs)} inputs, got {len(inputs)}"
            )
        feeds = {
            n: self._as_input(n, x, batched=False) for n, x in zip(self.graph.inputs, inputs, strict=True)
        }
        values = self._execute(feeds)
        return [values[n] for n in self.graph.outputs]

    def run_batch_all(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """As ``run_all`` for N samples stacked in the leading dimension (or N flat rows)."""
        return self._activations(x, batched=True)

    def _activations(self, x: np.ndarray, batched: bool) -> dict[str, np.ndarray]:
        """Every activation tensor of a single-input graph run on ``x`` (one sample, or N when ``batched``)."""
        if len(self.graph.inputs) != 1:
            hint = "" if batched else ": use run_multi"
            raise ValueError(f"graph {self.graph.name} has {len(self.graph.inputs)} inputs{hint}")
        name = self.graph.inputs[0]
        values = self._execute({name: self._as_input(name, x, batched=batched)})
        return {t.name: values[t.name] for t in self.graph.activation_tensors()}

    def run_batch(self, x: np.ndarray) -> np.ndarray:
        """Run N samples at once; returns the outputs stacked along the leading dimension."""
        return self.run_batch_all(x)[self.graph.outputs[0]]
