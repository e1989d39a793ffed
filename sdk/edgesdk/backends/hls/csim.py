"""C-simulation of an hls4ml design against the reference interpreter, layer by layer.

C-simulation compiles the hls4ml project with the host g++ (hls4ml's ``compile()``, bundled ``ap_types``) and
runs it on the inputs with every layer traced; each traced layer is compared with the reference interpreter's
tensor bit for bit, so a mismatch names the first differing layer.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import numpy as np

from edgesdk.errors import BuildError
from edgesdk.ir import graph as ir
from edgesdk.util.progress import progress

log = logging.getLogger(__name__)


def csim_compare(
    graph: ir.Graph, hls_model: Any, plan: Any, data: np.ndarray, rounding: str = "double"
) -> tuple[list[dict[str, Any]], str | None]:
    """Run the compiled hls4ml model on ``data`` with every layer traced, compare each traced layer with the
    reference bit for bit. Returns (mismatches, first differing IR layer)."""
    from edgesdk.reference import Reference

    ref = Reference(graph, rounding=rounding)
    mismatches: list[dict[str, Any]] = []
    first_layer: str | None = None
    order = {t.name: i for i, t in enumerate(graph.activation_tensors())}
    out_name = graph.outputs[0]
    n = len(data)
    expected = ref.run_batch_all(data)
    # hls4ml's trace() (re)compiles the project with tracing on, then runs every sample through it
    try:
        with contextlib.redirect_stdout(_LogWriter()):
            y, trace = hls_model.trace(data.reshape(n, -1).astype(np.float64))
    except Exception as exc:  # hls4ml raises a bare Exception when g++ fails
        raise BuildError(f"C-simulation build of {hls_model.config.get_output_dir()} failed: {exc}") from None
    y = np.asarray(y[0] if isinstance(y, list) else y).reshape(n, -1).astype(np.int64)
    for i in progress(range(n), total=n, desc="C-simulation compare"):
        bad: list[tuple[int, str, str]] = []
        for layer, tensor in plan.traced.items():
            if layer == plan.input_layer or layer not in trace:
                continue
            want_raw = expected[tensor][i]
            if tensor in getattr(plan, "packed", ()):  # bytes in the IR, uint32 words in the design
                want_raw = np.ascontiguousarray(want_raw, dtype=np.int8).view("<u4")
            want = want_raw.reshape(-1).astype(np.int64)
            got = np.asarray(trace[layer][i]).reshape(-1)
            if got.size != want.size or not np.array_equal(got.astype(np.int64), want):
                bad.append((order.get(tensor, 1 << 30), plan.node_of.get(layer, layer), tensor))
        want_out = expected[out_name][i].reshape(-1).astype(np.int64)
        out_equal = y[i].size == want_out.size and np.array_equal(y[i], want_out)
        if bad or not out_equal:
            bad.sort()
            layer_name = bad[0][1] if bad else graph.nodes[-1].name
            mismatches.append(
                {
                    "input": i,
                    "output_equal": bool(out_equal),
                    "first_layer": layer_name,
                    "max_abs_diff": int(np.max(np.abs(y[i] - want_out)))
                    if y[i].size == want_out.size
                    else None,
                    "layers": [b[1] for b in bad],
                }
            )
            if first_layer is None:
                first_layer = layer_name
    return mismatches, first_layer


class _LogWriter(io.StringIO):
    """hls4ml prints progress on stdout; send it to the log instead (the CLI owns stdout)."""

    def write(self, text: str) -> int:
        if text.strip():
            log.info("hls4ml: %s", text.strip())
        return len(text)
