"""The DSP depthwise kernel's small-map path (``cortex-m-dsp/ed_dw_map.h``) on the emulated Cortex-M4 (mps2-an386):
executed instructions (QEMU -icount, not cycles) of single 3x3 depthwise layers of small maps, checked bit-exact on
the board, against the cost model of ``edgesdk.passes.winograd_dw`` (``map_cost``) and the band path's model
(``band_cost``, the path these layers took before), with a least-squares fit of the model's terms; writes
``benchmarks/results/dw_small_maps.{json,md}``.

    python benchmarks/dw_small_maps.py
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from depthwise import RESULTS, measure  # noqa: E402

log = logging.getLogger("dw_small_maps")

#: The terms of ``winograd_dw.MAP_COST`` the fit below estimates.
FREE = ("quad_s1", "quad_s2", "quad_row")

#: (h, w, channels, stride, padding)
SHAPES = [
    (3, 3, 256, 1, "SAME"),
    (6, 6, 128, 1, "SAME"),
    (12, 12, 64, 1, "SAME"),
    (5, 5, 64, 1, "SAME"),
    (7, 7, 32, 1, "SAME"),
    (14, 14, 16, 1, "SAME"),
    (6, 6, 18, 1, "SAME"),
    (7, 9, 32, 1, "VALID"),
    (6, 6, 128, 2, "SAME"),
    (12, 12, 64, 2, "SAME"),
    (7, 7, 32, 2, "SAME"),
    (13, 13, 16, 2, "SAME"),
    (9, 9, 32, 2, "SAME"),
    (3, 3, 64, 1, "SAME"),
    (4, 4, 64, 1, "SAME"),
    (8, 8, 32, 1, "SAME"),
    (10, 10, 32, 1, "SAME"),
    (11, 11, 16, 1, "SAME"),
    (4, 4, 64, 2, "SAME"),
    (5, 5, 64, 2, "SAME"),
    (8, 8, 64, 2, "SAME"),
    (10, 10, 32, 2, "SAME"),
]


def main() -> int:
    from edgesdk.boards import get_board
    from edgesdk.compiler.data import make_inputs
    from edgesdk.passes import winograd_dw
    from edgesdk.reference.params import op_params
    from test_c_kernels import dwconv

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    board = get_board("mps2-an386")
    rows = []
    for h, w, c, s, pad in SHAPES:
        graph = dwconv(h, w, c, 1, 3, s, pad)(f"dw{h}x{w}c{c}s{s}{pad.lower()}")
        p = op_params(graph, graph.nodes[0])
        x = make_inputs(graph, None, 2)
        m = measure(graph, board, x, 2)
        assert m["bit_exact"] == "2/2", (h, w, c, s, pad)
        count = m["layers"][0]["instructions"]
        args = (p["in_h"], p["in_w"], p["out_h"], p["out_w"], c, s, s)
        rows.append(
            {
                "shape": [h, w, c, s, pad],
                "out": [p["out_h"], p["out_w"]],
                "instructions": count,
                "map_path": winograd_dw.map_path(*args),
                "estimate": winograd_dw.map_cost(*args),
                "band_estimate": winograd_dw.band_cost(*args),
                "terms": winograd_dw.map_terms(*args),
            }
        )
        log.info("%s: %d (est. %d, band est. %d)", rows[-1]["shape"], count, rows[-1]["estimate"],
                 rows[-1]["band_estimate"])  # fmt: skip
    # the four-column pass's terms, fitted on the maps it takes (at least four columns wide), the other terms (the
    # pass by pairs, the fill, the groups) held at their values (on these shapes they are nearly collinear)
    names = list(FREE)
    held = {k: v for k, v in winograd_dw.MAP_COST.items() if k not in FREE}
    fitted = [r for r in rows if r["map_path"] and r["out"][1] >= 4]  # the others took the table path
    a = np.array([[r["terms"][k] for k in names] for r in fitted], dtype=float)
    b = np.array(
        [r["instructions"] - sum(v * r["terms"][k] for k, v in held.items()) for r in fitted], dtype=float
    )
    fit = dict(zip(names, np.linalg.lstsq(a, b, rcond=None)[0].round(1).tolist(), strict=True))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dw_small_maps.json").write_text(json.dumps({"rows": rows, "fit": fit}, indent=1) + "\n")
    lines = [
        "# DSP depthwise, small-map path (mps2-an386, executed instructions)",
        "",
        "| shape (h, w, c, stride, padding) | output | instructions | MAC/instr | cost model | band path's model |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        macs = r["out"][0] * r["out"][1] * r["shape"][2] * 9
        lines.append(
            f"| {r['shape']} | {r['out'][0]}x{r['out'][1]} | {r['instructions']:,} | {macs / r['instructions']:.3f} "
            f"| {r['estimate']:,} | {r['band_estimate']:,} |"
        )
    lines += [
        "",
        "Least-squares fit of the model's terms: " + ", ".join(f"{k} {v}" for k, v in fit.items()),
        "",
    ]
    (RESULTS / "dw_small_maps.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
