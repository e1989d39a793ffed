"""Speed suite: the MLPerf Tiny models on the emulated Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500), with
the portable C99 kernels ("before") and the kernels the board's core selects ("after", Cortex-M DSP), in one run.

Per model, board and kernel set: executed instructions per inference (SysTick under QEMU -icount: deterministic
instruction counts, not cycles), MACs per instruction, the per-op-type breakdown from the per-layer counters, arena
against the planner's lower bound, kernel code bytes (the ``ed_*`` functions in the ELF, weights excluded) and
whether the board's outputs equal the reference bit for bit. Ratios before/after and the distance to TFLM +
CMSIS-NN (TOOLCHAIN.md, mps2-an386) close the table. Writes ``benchmarks/results/speed.json`` and ``speed.md``.

    python benchmarks/speed.py [--boards mps2-an386 mps2-an500] [--validate 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models" / "mlperf_tiny"
RESULTS = REPO / "benchmarks" / "results"
log = logging.getLogger("speed")

#: TFLM on QEMU mps2-an386, -O2 (TOOLCHAIN.md) and the issue's starting point (portable kernels, before #10).
REFERENCE = {
    "pretrainedResnet_quant": {"tflm_cmsis_nn": 29_860_000, "edgesdk_before_issue10": 94_630_880},
    "ad01_int8": {"tflm_cmsis_nn": 583_000, "edgesdk_before_issue10": 1_976_440},
}


def kernel_code_bytes(elf: Path, model: str) -> int:
    """Bytes of code of the kernels (``ed_*``) and of the model's own functions (per-layer generated kernels
    such as Winograd, ``<model>_invoke``) linked into ``elf``; weights are data and not counted."""
    out = subprocess.run(
        ["arm-none-eabi-nm", "--size-sort", "-S", str(elf)],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT" and parts[3].startswith(("ed_", f"{model}_")):
            total += int(parts[1], 16)
    return total


def measure(graph, board, x, n_validate: int, optimize: str = "speed") -> dict:
    from edgesdk.device import connect
    from edgesdk.export import export
    from edgesdk.reference import Reference

    with tempfile.TemporaryDirectory() as tmp:
        built = export(graph, board, Path(tmp) / "p", build=True, optimize=optimize)
        assert built.elf is not None and built.size is not None
        code = kernel_code_bytes(built.elf, built.c_name)
        exact = 0
        with connect(board, built.elf) as client:
            client.load_input(x[0])
            (count,) = client.run(1)
            layers = client.layer_counts()
            want = Reference(graph).run_batch(x[:n_validate]).reshape(n_validate, -1).astype("int8")
            for i in range(n_validate):
                got, _ = client.infer(x[i])
                exact += int((got == want[i]).all())
    by_op: dict[str, int] = defaultdict(int)
    for node, c in zip(built.graph.nodes, layers, strict=False):
        by_op[node.op] += int(c)
    return {
        "instructions": int(count),
        "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
        "arena_bytes": built.plan.arena_bytes,
        "arena_lower_bound": built.plan.lower_bound,
        "kernel_code_bytes": code,
        "flash_bytes": built.size.flash,
        "bit_exact": f"{exact}/{n_validate}",
        "winograd_layers": sum(1 for n in built.graph.nodes if n.attrs.get("kernel") == "winograd"),
    }


def main() -> int:
    from edgesdk import boards
    from edgesdk.boards import get_board
    from edgesdk.device import make_inputs
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.inspect import summarize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="+", default=["mps2-an386", "mps2-an500"])
    ap.add_argument("--validate", type=int, default=3, help="inputs compared bit for bit on the board")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    for name in REFERENCE:
        graph = read_tflite(MODELS / f"{name}.tflite")
        macs = summarize(graph)["totals"]["macs"]
        x = make_inputs(graph, None, args.validate)
        for board_name in args.boards:
            board = get_board(board_name)
            # "before": the same board and flags with the portable kernels (the core's kernel folder unmapped) and
            # no Winograd (--optimize size), i.e. the kernels this issue started from
            target = boards.CORE_KERNEL_TARGETS.pop(board.core, None)
            try:
                before = measure(graph, board, x, args.validate, optimize="size")
            finally:
                if target is not None:
                    boards.CORE_KERNEL_TARGETS[board.core] = target
            size = measure(graph, board, x, args.validate, optimize="size")
            after = measure(graph, board, x, args.validate, optimize="speed")
            row = {
                "model": name,
                "board": board_name,
                "core": board.core,
                "kernels": board.kernel_target or "portable",
                "macs": macs,
                "before": before,
                "size": size,
                "after": after,
                "speedup": round(before["instructions"] / after["instructions"], 3),
                "macs_per_instruction": round(macs / after["instructions"], 4),
                **REFERENCE[name],
            }
            row["vs_tflm_cmsis_nn"] = round(after["instructions"] / REFERENCE[name]["tflm_cmsis_nn"], 3)
            row["speedup_since_issue10"] = round(
                REFERENCE[name]["edgesdk_before_issue10"] / after["instructions"], 3
            )
            rows.append(row)
            log.info("%s", json.dumps(row))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Speed suite: MLPerf Tiny models on emulated Cortex-M4 / M7",
        "",
        "Executed instructions per inference under QEMU -icount (not cycles). *before*: portable C99 kernels, direct conv;",
        "*size*: the core's kernels with `--optimize size`; *after*: `--optimize speed` (default: Winograd where the",
        "cost model says it pays). Kernel code counts the `ed_*` kernels and the model's generated functions.",
        "TFLM + CMSIS-NN measured on mps2-an386 (TOOLCHAIN.md).",
        "",
        "| model | board | kernels | before | size | after (speed) | speedup | MAC/insn | vs TFLM+CMSIS-NN | "
        "kernel code B (before/size/speed) | flash B (size/speed) | arena (bound) | bit-exact |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b, z, a = r["before"], r["size"], r["after"]
        lines.append(
            f"| {r['model']} | {r['board']} | {r['kernels']} | {b['instructions']:,} | {z['instructions']:,} | "
            f"{a['instructions']:,} | {r['speedup']}x | {r['macs_per_instruction']} | {r['vs_tflm_cmsis_nn']}x | "
            f"{b['kernel_code_bytes']:,} / {z['kernel_code_bytes']:,} / {a['kernel_code_bytes']:,} | "
            f"{z['flash_bytes']:,} / {a['flash_bytes']:,} | "
            f"{a['arena_bytes']:,} ({a['arena_lower_bound']:,}) | {b['bit_exact']}, {z['bit_exact']}, {a['bit_exact']} |"
        )
    lines += [
        "",
        "Issue #10's starting point on mps2-an386: IC 94,630,880 and AD 1,976,440 instructions (portable kernels).",
    ]
    lines += ["", "## Instructions per op type (before -> after)", ""]
    for r in rows:
        ops = ", ".join(
            f"{op} {r['before']['by_op'].get(op, 0):,} -> {c:,}" for op, c in r["after"]["by_op"].items()
        )
        lines.append(f"- {r['model']} on {r['board']}: {ops}")
    plot_by_op(rows, RESULTS / "speed.png")
    lines += ["", "![instructions per op type, before and after](speed.png)"]
    (RESULTS / "speed.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def plot_by_op(rows: list[dict], path: Path) -> Path:
    """Stacked bars of instructions per op type: before / size / speed for each model and board."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len({r["model"] for r in rows}), squeeze=False)[0]
    for ax, model in zip(axes, dict.fromkeys(r["model"] for r in rows), strict=True):
        mrows = [r for r in rows if r["model"] == model]
        ops = sorted({op for r in mrows for k in ("before", "size", "after") for op in r[k]["by_op"]})
        labels, bottoms = [], []
        for r in mrows:
            for k in ("before", "size", "after"):
                labels.append(f"{r['board'].replace('mps2-', '')}\n{k}")
                bottoms.append(r[k]["by_op"])
        x = range(len(labels))
        base = [0.0] * len(labels)
        for op in ops:
            vals = [b.get(op, 0) / 1e6 for b in bottoms]
            ax.bar(x, vals, bottom=base, label=op)
            base = [a + v for a, v in zip(base, vals, strict=True)]
        ax.set_xticks(list(x), labels, fontsize=7)
        ax.set_ylabel("million instructions per inference")
        ax.set_title(model, fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
