"""Winograd F(2x2,3x3) depthwise against the direct DSP depthwise kernel on the emulated Cortex-M4 (mps2-an386).

Runs the MobileNetV1-0.25-shaped model of ``benchmarks/depthwise.py`` twice - every stride-1 depthwise layer
with the direct kernel, then forced to ``winograd_dw`` (in-place depthwise off in both runs, so that only the
kernel differs) - and compares the per-layer executed instructions (QEMU -icount, not cycles), checks both
runs bit-exact against the reference on the board, fits the cost model of ``edgesdk.passes.winograd_dw`` to the
counts (least squares) and writes ``benchmarks/results/winograd_dw.{json,md}``.

    python benchmarks/winograd_dw.py
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from depthwise import RESULTS, measure, mobilenet_tflite  # noqa: E402

log = logging.getLogger("winograd_dw")


def main() -> int:
    from edgesdk.boards import get_board
    from edgesdk.compiler.data import make_inputs
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.passes import PassContext
    from edgesdk.passes.winograd_dw import COST, estimate

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    graph = read_tflite(mobilenet_tflite(), name="mobilenet_v1_025")
    board = get_board("mps2-an386")
    x = make_inputs(graph, None, 2)
    no_inplace = {"*": {"inplace"}}
    direct = measure(graph, board, x, 2, PassContext(forbid={"*": {"inplace", "winograd_dw"}}))
    wino = measure(graph, board, x, 2, PassContext(force={"depthwise*": "winograd_dw"}, forbid=no_inplace))
    rows = []
    for d, w in zip(direct["layers"], wino["layers"], strict=True):
        if w["kernel"] != "winograd_dw":
            continue
        _, oh, ow, c = d["out_shape"]
        est = estimate(oh, ow, c, dsp=True)
        rows.append(
            {
                "layer": d["layer"],
                "shape": [oh, ow, c],
                "direct": d["instructions"],
                "winograd_dw": w["instructions"],
                "ratio": round(w["instructions"] / d["instructions"], 3),
                "estimate_direct": est["direct"],
                "estimate_winograd_dw": est["winograd_dw"],
            }
        )
    # least-squares fit of the cost model's identifiable terms
    a_d, b_d, a_w, b_w = [], [], [], []
    for r in rows:
        oh, ow, c = r["shape"]
        border = min(oh * ow, 2 * ow + 2 * max(oh - 2, 0))
        a_d.append([c * (oh * ow - border), c * border, oh])
        b_d.append(r["direct"])
        tiles = -(-oh // 2) * -(-ow // 2)
        a_w.append([tiles * (c // 4), tiles])
        b_w.append(r["winograd_dw"])
    fit_d = np.linalg.lstsq(np.array(a_d, float), np.array(b_d, float), rcond=None)[0]
    fit_w = np.linalg.lstsq(np.array(a_w, float), np.array(b_w, float), rcond=None)[0]
    result = {
        "board": "mps2-an386",
        "model": graph.name,
        "bit_exact": {"direct": direct["bit_exact"], "winograd_dw": wino["bit_exact"]},
        "depthwise_total": {
            "direct": direct["by_op"]["DEPTHWISE_CONV_2D"],
            "winograd_dw": wino["by_op"]["DEPTHWISE_CONV_2D"],
        },
        "layers": rows,
        "fit": {
            "direct_interior": round(float(fit_d[0]), 1),
            "direct_border": round(float(fit_d[1]), 1),
            "direct_row": round(float(fit_d[2]), 1),
            "wino_group_tile": round(float(fit_w[0]), 1),
            "wino_tile": round(float(fit_w[1]), 1),
        },
        "model_in_pass": COST,
    }
    log.info("%s", json.dumps(result["fit"]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "winograd_dw.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Winograd F(2x2,3x3) depthwise vs direct DSP depthwise (mps2-an386, executed instructions)",
        "",
        f"Model {graph.name} (MobileNetV1-0.25 shape, 96x96x3). Both runs bit-exact on the board: "
        f"direct {direct['bit_exact']}, Winograd {wino['bit_exact']}. All depthwise layers: direct "
        f"{result['depthwise_total']['direct']:,}, with the stride-1 ones on Winograd "
        f"{result['depthwise_total']['winograd_dw']:,}.",
        "",
        "| layer | output | direct | winograd_dw | ratio | est. direct | est. winograd_dw |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {'x'.join(map(str, r['shape']))} | {r['direct']:,} | {r['winograd_dw']:,} | "
            f"{r['ratio']} | {r['estimate_direct']:,} | {r['estimate_winograd_dw']:,} |"
        )
    lines += ["", "Least-squares fit of the pass's cost model: " + json.dumps(result["fit"])]
    (RESULTS / "winograd_dw.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
