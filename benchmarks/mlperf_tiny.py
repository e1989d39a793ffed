"""Benchmark: the MLPerf Tiny reference models on the emulated Cortex-M boards.

Measures, per model and board: arena bytes against the planner's lower bound and TFLite Micro's arena, flash and
RAM from arm-none-eabi-size, executed instructions per inference (SysTick under QEMU -icount: deterministic
instruction counts, not cycles) and MACs per instruction, next to TFLM's figures measured on the same emulator
(TOOLCHAIN.md). Writes ``benchmarks/results/mlperf_tiny.json`` and ``.md``.

    python benchmarks/mlperf_tiny.py [--boards mps2-an386 netduinoplus2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from gitstate import commit

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models" / "mlperf_tiny"
RESULTS = REPO / "benchmarks" / "results"

# TFLM on QEMU mps2-an386, -O2 (TOOLCHAIN.md): instructions per inference and arena bytes
TFLM = {
    "pretrainedResnet_quant": {"reference": 107_500_000, "cmsis_nn": 29_860_000, "arena": 54_996},
    "ad01_int8": {"reference": 1_950_000, "cmsis_nn": 583_000, "arena": 2_580},
}


def main() -> int:
    from edgesdk.commands.device import connect, make_inputs
    from edgesdk.commands.export import export
    from edgesdk.commands.inspection import summarize
    from edgesdk.frontends.tflite import read_tflite

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="+", default=["mps2-an386", "netduinoplus2"])
    args = ap.parse_args()
    rows = []
    for name in TFLM:
        graph = read_tflite(MODELS / f"{name}.tflite")
        macs = summarize(graph)["totals"]["macs"]
        x = make_inputs(graph, None, 1)[0]
        for board in args.boards:
            with tempfile.TemporaryDirectory() as tmp:
                built = export(graph, board, Path(tmp) / "p", build=True)
                with connect(built.board, built.elf) as client:
                    client.load_input(x)
                    counts = client.run(3)
            assert built.size is not None
            insn = counts[-1]
            rows.append(
                {
                    "model": name,
                    "board": board,
                    "macs": macs,
                    "instructions": insn,
                    "macs_per_instruction": round(macs / insn, 4),
                    "tflm_reference_instructions": TFLM[name]["reference"],
                    "tflm_cmsis_nn_instructions": TFLM[name]["cmsis_nn"],
                    "arena_bytes": built.plan.arena_bytes,
                    "arena_lower_bound": built.plan.lower_bound,
                    "tflm_arena_bytes": TFLM[name]["arena"],
                    "flash_bytes": built.size.flash,
                    "ram_bytes": built.size.ram,
                    "deterministic": len(set(counts)) == 1,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mlperf_tiny.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    head = "| model | board | instructions | MAC/insn | TFLM ref / CMSIS-NN | arena (bound, TFLM) | flash | RAM |"
    lines = [
        "# MLPerf Tiny models on emulated Cortex-M boards",
        "",
        f"Measured by `python benchmarks/mlperf_tiny.py --boards {' '.join(args.boards)}` at commit {commit()} "
        f"({time.strftime('%Y-%m-%d')}), the default export (`--optimize balanced`). Instructions are executed "
        "instructions per inference under QEMU -icount with each board's shift (exact counts, not cycles).",
        "",
        head,
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['board']} | {r['instructions']:,} | {r['macs_per_instruction']} | "
            f"{r['tflm_reference_instructions']:,} / {r['tflm_cmsis_nn_instructions']:,} | "
            f"{r['arena_bytes']:,} ({r['arena_lower_bound']:,}, {r['tflm_arena_bytes']:,}) | "
            f"{r['flash_bytes']:,} | {r['ram_bytes']:,} |"
        )
    (RESULTS / "mlperf_tiny.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
