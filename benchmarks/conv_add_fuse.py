"""Residual ADDs of the MLPerf Tiny IC model (ResNet-8) on the emulated Cortex-M4 (QEMU mps2-an386): the ADD kernel
and the fusion of each ADD with the convolution producing one operand, in one run.

Three builds, instructions per layer from the firmware's per-layer counters (SysTick under QEMU -icount:
deterministic instruction counts, not cycles):

- *portable ADD*: the portable C99 kernels (the core's kernel folder unmapped), un-fused - the ADD as it was;
- *DSP ADD*: the Cortex-M DSP kernels, un-fused (``--no-kernel '*=conv_fused'``);
- *DSP ADD, fused*: the default export, each ADD computed with its convolution by bands, in place.

Per ADD: instructions and instructions per element; per build: total instructions, arena bytes and the planner's
lower bound; and whether the fused build's outputs on the board equal the reference bit for bit. Writes
``benchmarks/results/conv_add_fuse.json`` and ``conv_add_fuse.md``.

    python benchmarks/conv_add_fuse.py [--validate 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "mlperf_tiny" / "pretrainedResnet_quant.tflite"
RESULTS = REPO / "benchmarks" / "results"
BOARD = "mps2-an386"
log = logging.getLogger("conv_add_fuse")


def _profile(graph, board, ctx, portable: bool = False) -> dict:
    from edgesdk import boards
    from edgesdk.commands.device import profile

    target = boards.CORE_KERNEL_TARGETS.pop(board.core, None) if portable else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = profile(graph, board, runs=1, out_dir=Path(tmp) / "p", pass_ctx=ctx)
    finally:
        if target is not None:
            boards.CORE_KERNEL_TARGETS[board.core] = target
    # a convolution fused into its ADD is one row, named "conv + add", with both layers under "layers"
    layers = {row.get("layers", [row["name"]])[-1]: row for row in data["layers"]}
    return {
        "instructions": int(data["runs"][-1]),
        "arena_bytes": int(data["memory"]["arena_bytes"]),
        "arena_lower_bound": int(data["memory"]["arena_lower_bound"]),
        "layers": {name: int(row["count"]) for name, row in layers.items()},
        "fused_into": {
            row["layers"][0]: name for name, row in layers.items() if len(row.get("layers", [])) > 1
        },
        "elements": {
            name: int(row["activation_bytes"]) for name, row in layers.items() if row["op"].endswith("ADD")
        },
    }


def main() -> int:
    from edgesdk.boards import get_board
    from edgesdk.commands.device import validate
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.passes import PassContext

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--validate", type=int, default=3, help="inputs compared bit for bit on the board (fused build)"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    graph = read_tflite(MODEL)
    board = get_board(BOARD)
    unfused = PassContext(forbid={"*": {"conv_fused"}})
    runs = {
        "portable_add": _profile(graph, board, unfused, portable=True),
        "dsp_add": _profile(graph, board, unfused),
        "dsp_add_fused": _profile(graph, board, PassContext()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        summary = validate(graph, board, count=args.validate, out_dir=Path(tmp) / "v")
    fused = runs["dsp_add_fused"]
    adds = sorted(fused["elements"])
    per_add = []
    for add in adds:
        conv = next(c for c, a in fused["fused_into"].items() if a == add)
        n = fused["elements"][add]
        row = {"add": add, "conv": conv, "elements": n}
        for key in ("portable_add", "dsp_add"):
            row[key] = runs[key]["layers"][add]
            row[f"{key}_per_element"] = round(runs[key]["layers"][add] / n, 2)
        row["unfused_conv_plus_add"] = runs["dsp_add"]["layers"][conv] + runs["dsp_add"]["layers"][add]
        row["fused_conv_plus_add"] = fused["layers"][add]
        per_add.append(row)
    result = {
        "model": MODEL.name,
        "board": BOARD,
        "runs": {k: {kk: vv for kk, vv in v.items() if kk != "layers"} for k, v in runs.items()},
        "per_add": per_add,
        "bit_exact_on_board": f"{summary.exact}/{summary.count}",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "conv_add_fuse.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# IC residual ADDs on {BOARD} (executed instructions under QEMU -icount, not cycles)",
        "",
        "| ADD | elements | portable ADD (insn/elem) | DSP ADD (insn/elem) | conv+ADD un-fused | conv+ADD fused |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in per_add:
        lines.append(
            f"| {r['add']} (+ {r['conv']}) | {r['elements']:,} | {r['portable_add']:,} ({r['portable_add_per_element']}) "
            f"| {r['dsp_add']:,} ({r['dsp_add_per_element']}) | {r['unfused_conv_plus_add']:,} "
            f"| {r['fused_conv_plus_add']:,} |"
        )
    lines += ["", "| build | instructions | arena B | planner's lower bound B |", "|---|---:|---:|---:|"]
    for key, v in runs.items():
        lines.append(f"| {key} | {v['instructions']:,} | {v['arena_bytes']:,} | {v['arena_lower_bound']:,} |")
    lines += [
        "",
        f"Fused build on the board: {summary.exact}/{summary.count} outputs bit-exact with the reference.",
    ]
    (RESULTS / "conv_add_fuse.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
