"""Every emulated core against TFLM: the four MLPerf Tiny models on the Cortex-M3 (mps2-an385), Cortex-M33
(mps2-an505), Cortex-M55 (mps3-an547) and RV32IMC (QEMU virt), and the digits MLP on the Cortex-M0 (microbit).

Per model and board: executed instructions per inference (QEMU -icount: SysTick on Cortex-M, the instret CSR
on RISC-V; instructions, not cycles), flash, arena, and how many inputs the board answers bit for bit like the
reference, with the kernels the board's core selects (``--optimize speed``), beside TFLM's figures measured on
the same QEMU machines with the same method (the ``TFLM`` table below) and the goal each core is held to. Models as in ``benchmarks/speed.py`` (IC and AD from ``models/mlperf_tiny``, KWS and VWW
architecture replicas from ``benchmarks/mlperf_replicas.py``).

Writes ``benchmarks/results/cores.json`` and ``cores.md`` (with the commit measured).

    python benchmarks/cores.py [--models ic ad kws vww] [--boards mps2-an385 ...] [--validate 2] [--jobs 2]
                               [--report-only]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import multiprocessing
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
RESULTS = REPO / "benchmarks" / "results"
BOARDS = ("mps2-an385", "mps2-an386", "mps2-an505", "mps3-an547", "qemu-riscv32")
MODELS = ("ic", "kws", "vww", "ad")
log = logging.getLogger("cores")

#: TFLM on the same QEMU machines, -O2, executed instructions per inference (measured with the same method).
TFLM: dict[str, dict[str, dict[str, int]]] = {
    "mps3-an547": {
        "TFLM + CMSIS-NN (Helium)": {"ic": 4_910_037, "kws": 1_817_996, "vww": 6_558_704, "ad": 285_540},
        "TFLM reference": {"ic": 97_682_985, "kws": 42_111_562, "vww": 96_358_596, "ad": 1_697_290},
    },
    "mps2-an505": {
        "TFLM + CMSIS-NN (DSP)": {"ic": 29_960_238, "kws": 7_683_656, "vww": 24_046_703, "ad": 583_332},
    },
    "mps2-an385": {
        "TFLM + CMSIS-NN (no DSP)": {"ic": 41_845_437, "kws": 10_535_457, "vww": 31_959_604, "ad": 955_911},
        "TFLM reference": {"ic": 105_765_907, "kws": 42_069_507, "vww": 99_012_647, "ad": 1_953_642},
    },
    "qemu-riscv32": {
        "TFLM reference": {"ic": 125_518_971, "kws": 44_278_324, "vww": 109_923_523, "ad": 2_479_872},
    },
}
#: edgesdk on the Cortex-M4F (mps2-an386), the M33's goal when the run has no mps2-an386 row of its own (a row
#: measured in the same run, at the same commit, is the goal then).
EDGESDK_M4 = {"ic": 13_274_800, "kws": 5_993_360, "vww": 16_317_600, "ad": 346_040}
#: The goal per board: (what, instructions per model).
GOALS: dict[str, tuple[str, dict[str, int]]] = {
    "mps3-an547": ("at or below TFLM + CMSIS-NN (Helium)", TFLM["mps3-an547"]["TFLM + CMSIS-NN (Helium)"]),
    "mps2-an505": ("at or below edgesdk on the M4", EDGESDK_M4),
    "mps2-an385": ("at or below TFLM + CMSIS-NN (no DSP)", TFLM["mps2-an385"]["TFLM + CMSIS-NN (no DSP)"]),
    "qemu-riscv32": (
        "3x below TFLM reference",
        {k: v // 3 for k, v in TFLM["qemu-riscv32"]["TFLM reference"].items()},
    ),
}


#: Real inputs where the repository has them (AD's machine-sound clip, its frames quantized): the count is taken
#: on the first (the scalar FC skips inputs at the zero point, so its count depends on the input); the other
#: models run seeded random int8 inputs.
SAMPLES = {"ad": "ad01_sample"}


def measure_job(key: str, path: str, board_name: str, n_validate: int) -> dict[str, Any]:
    """One (model, board) row with the core's own kernels. Runs in a worker process."""
    import speed

    from edgesdk.boards import get_board
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model
    from edgesdk.reference import Reference

    t0 = time.monotonic()
    graph = load_model(Path(path))
    board = get_board(board_name)
    sample = speed.SHARED / SAMPLES[key] if key in SAMPLES else None
    x = make_inputs(graph, sample, max(n_validate, 1), seed=0)
    want = Reference(graph).run_batch(x).reshape(len(x), -1)
    on_board = speed._bench_module("compression").on_board
    m = on_board(speed.measure, graph, board, x, want, "speed")
    return {
        "model": key,
        "board": board_name,
        "core": board.core,
        "kernels": board.kernel_target or "portable",
        **{
            k: m[k] for k in ("instructions", "flash_bytes", "arena_bytes", "bit_exact", "validated", "by_op")
        },
        "seconds": round(time.monotonic() - t0, 1),
    }


def _m(n: float) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n:,.0f}"


def goals(rows: list[dict[str, Any]]) -> dict[str, tuple[str, dict[str, int]]]:
    """GOALS, with the M33's goal the M4 rows of ``rows`` (the same commit) where there are any."""
    m4 = {r["model"]: r["instructions"] for r in rows if r["board"] == "mps2-an386"}
    return {**GOALS, "mps2-an505": ("at or below edgesdk on the M4", {**EDGESDK_M4, **m4})} if m4 else GOALS


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The table of cores.md: per board and model edgesdk, TFLM's figures, the goal and whether it is met."""
    board_goals = goals(rows)
    lines = [
        "# edgesdk on every emulated core, beside TFLM",
        "",
        f"Measured by `benchmarks/cores.py` at commit {meta['commit']} ({meta['date']}), QEMU 7.2 -icount (each board's shift): "
        "executed instructions per inference (instructions, not cycles; QEMU counts one Helium instruction as "
        "one). TFLM figures: the same machines and method (-O2). KWS and VWW are architecture replicas "
        "(`benchmarks/mlperf_replicas.py`). Bit-exact: inputs whose board output equals the reference.",
        "",
        "| board (core) | kernels | model | edgesdk | bit-exact | " + "TFLM | " + "goal | met |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for r in rows:
        tflm = "; ".join(f"{name}: {_m(fig[r['model']])}" for name, fig in TFLM.get(r["board"], {}).items())
        goal_what, goal = board_goals.get(r["board"], ("", {}))
        target = goal.get(r["model"])
        met = "" if target is None else ("yes" if r["instructions"] <= target else "no")
        lines.append(
            f"| {r['board']} ({r['core']}) | {r['kernels']} | {r['model'].upper()} | {r['instructions']:,} | "
            f"{r['bit_exact']}/{r['validated']} | {tflm or '-'} | "
            f"{f'{goal_what}: {_m(target)}' if target else 'the M33 goal' if r['board'] == 'mps2-an386' else '-'} | "
            f"{met or '-'} |"
        )
    met = defaultdict(lambda: [0, 0])
    for r in rows:
        target = board_goals.get(r["board"], ("", {}))[1].get(r["model"])
        if target is not None:
            met[r["board"]][0] += int(r["instructions"] <= target)
            met[r["board"]][1] += 1
    lines += [
        "",
        "Goals met: " + ", ".join(f"{b} {m[0]}/{m[1]}" for b, m in met.items()) + ".",
        "",
        "Notes:",
        "- Counts: exact. SysTick under -icount shift=7 (128 ns of virtual time per instruction) ticks over twice "
        "per instruction at the clock QEMU gives each machine (AN385 and AN386 25 MHz, AN505 20 MHz, AN547 32 MHz), "
        "and the firmware converts ticks to instructions with the shift (`firmware/targets/cortexm/timer.c`); on "
        "RISC-V the instret CSR itself.",
        "- Kernels: the M55 runs the Helium kernels (`firmware/kernels/helium/`: CONV_2D four pixels by one filter "
        "with VMLADAVA in a tail-predicated loop over an im2col column, DEPTHWISE_CONV_2D sixteen channels per tap, "
        "ADD four lanes) over the Cortex-M DSP ones (FULLY_CONNECTED's Helium steps, pooling, softmax); the M4 and "
        "M33 run the Cortex-M DSP kernels; the M3 and RV32 run the scalar kernels (`firmware/kernels/scalar/`: "
        "conv in blocks of two (M3) or three (RV32) interior pixels by two or four channels with the input offset "
        "folded into each channel's start; on the M3 four channels packed two to a word, weight + weight * 2^24, "
        "so that one SMLAL accumulates two channels, border windows gathered into the same loop, and 3x3 layers "
        "with 16 or 32 input channels direct rather than Winograd; depthwise one channel at a time from a rolling "
        "buffer of padded rows, FC in blocks of 16 rows stored column by column, inputs at the zero point skipped); "
        "per op type in `cores.json`.",
        "- The M33 runs the M4's kernels built with the M4's tuning (`-mtune=cortex-m4` in its board file: GCC 12's "
        "cortex-m33 tuning chose longer sequences, e.g. KWS 6,009,650 instructions against 5,998,150); its goal is "
        "the mps2-an386 row of the same run. Every core links the same memcpy/memset "
        "(`firmware/targets/cortexm/memfns.c`; the C library's Armv8-M build took 6 instructions more per in-place "
        "depthwise layer), so the two count the same instructions per layer.",
        "- RV32IMC has no multiply-accumulate: a MAC is at least a load, a multiply and an add; the conv blocks "
        "share each load among 4 or 12 products (about 2.75 instructions per MAC in the inner loop). The FC (AD) "
        "loads a weight per MAC: 16 rows per input load at fixed offsets from one pointer, 3.11 instructions per "
        "MAC on RV32 and 2.28 on the M3 where the input offset is folded into the bias (AD's first layer), and "
        "where a ReLU came before (the other nine) each input at the zero point skips its column of the block: "
        "AD's count depends on the input, measured on the first frame of its real clip (`ad01_sample`).",
        "- Flash and arena bytes, and the instructions per op type, are in `cores.json`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--boards", nargs="+", default=list(BOARDS))
    ap.add_argument("--validate", type=int, default=2, help="inputs checked bit for bit per row")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="rewrite cores.md from cores.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.report_only:
        data = json.loads((RESULTS / "cores.json").read_text())
        (RESULTS / "cores.md").write_text(markdown(data["rows"], data["meta"]), encoding="utf-8")
        return 0
    import speed

    chosen = [m for m in speed.MLPERF if m.key in args.models]
    paths = speed.model_paths(chosen)
    jobs = [(m.key, str(paths[m.key]), b) for b in args.boards for m in chosen]
    rows: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx) as pool:
        futures = {pool.submit(measure_job, k, p, b, args.validate): (k, b) for k, p, b in jobs}
        for i, fut in enumerate(cf.as_completed(futures), 1):
            row = fut.result()
            rows.append(row)
            log.info(
                "[%d/%d] %s on %s: %s instructions, %d/%d bit-exact (%.0f s)", i, len(jobs), row["model"],
                row["board"], f"{row['instructions']:,}", row["bit_exact"], row["validated"], row["seconds"],
            )  # fmt: skip
    order = {b: i for i, b in enumerate(BOARDS)}
    morder = {m: i for i, m in enumerate(MODELS)}
    out_json = RESULTS / "cores.json"
    old = json.loads(out_json.read_text()).get("rows", []) if out_json.is_file() else []
    merged = {(r["model"], r["board"]): r for r in old}
    merged.update({(r["model"], r["board"]): r for r in rows})
    rows = sorted(merged.values(), key=lambda r: (order.get(r["board"], 99), morder.get(r["model"], 99)))
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    meta = {"commit": commit or "unknown", "date": time.strftime("%Y-%m-%d"), "validate": args.validate}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "cores.md").write_text(markdown(rows, meta), encoding="utf-8")
    print(markdown(rows, meta))
    return 0 if all(r["bit_exact"] == r["validated"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
