"""Per-layer specialised convolutions on the emulated Cortex-M boards: before/after per layer and in total.

For each MLPerf Tiny model and board: the export without the ``specialize`` pass (every direct CONV_2D on the
shared ``ed_conv_s8``), the default export (the pass chooses under the code budget), and optionally every
direct CONV_2D forced specialised (``--all``, to fit the cost model). Executed instructions per layer
(``-icount``), kernel code bytes (``ed_*`` + ``<model>_*``), bit-exactness against the reference on a few
inputs, and the pass's estimates next to the measurements. Writes
``benchmarks/results/specialize.{json,md}``.

    PYTHONPATH=sdk python benchmarks/specialize.py [--boards mps2-an386 mps2-an500] [--all]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from speed import kernel_code_bytes  # noqa: E402

log = logging.getLogger("benchmarks.specialize")


def measure(graph, board, x: np.ndarray, ctx, n_validate: int) -> dict:
    from edgesdk.commands.device import connect
    from edgesdk.commands.export import export
    from edgesdk.passes.specialize import (
        KERNEL,
        KERNEL16,
        conv_shape,
        shared_instructions,
        specialized_code,
        specialized_instructions,
    )
    from edgesdk.reference import Reference

    with tempfile.TemporaryDirectory() as tmp:
        built = export(graph, board, Path(tmp) / "p", build=True, pass_ctx=ctx)
        assert built.elf is not None
        code = kernel_code_bytes(built.elf, built.c_name)
        syms = _symbols(built.elf, built.c_name)
        with connect(board, built.elf) as client:
            client.load_input(x[0])
            (count,) = client.run(1)
            counts = client.layer_counts()
            want = Reference(graph).run_batch(x[:n_validate]).reshape(n_validate, -1).astype("int8")
            exact = sum(int((client.infer(x[i])[0] == want[i]).all()) for i in range(n_validate))
    layers = []
    # a convolution fused into its residual ADD runs inside the ADD's call: counted there (as CONV_2D+ADD)
    run_nodes = [n for n in built.graph.nodes if "fused_into" not in n.attrs]
    by_name = {n.name: n for n in built.graph.nodes}
    for node, c in zip(run_nodes, counts, strict=False):
        fused = (
            node.attrs.get("fused_conv", {}).get("conv") if node.attrs.get("kernel") == "conv_fused" else None
        )
        conv = by_name[fused] if fused else node
        row = {
            "layer": f"{conv.name}+{node.name}" if fused else node.name,
            "op": "CONV_2D+ADD" if fused else node.op,
            "kernel": conv.attrs.get("kernel", ""),
            "instructions": int(c),
        }
        s = conv_shape(built.graph, conv) if conv.op == "CONV_2D" else None
        if s is not None and row["kernel"] in ("", "direct", KERNEL, KERNEL16):
            row["macs"] = s.macs
            spec = row["kernel"] in (KERNEL, KERNEL16)
            row["est"] = (specialized_instructions if spec else shared_instructions)(s)
            if spec:
                row["est_code"] = specialized_code(s)
                row["code"] = sum(
                    v for k, v in syms.items() if k.startswith(f"{built.c_name}_{conv.name}_rows")
                )
        layers.append(row)
    return {
        "instructions": int(count),
        "kernel_code_bytes": code,
        "bit_exact": f"{exact}/{n_validate}",
        "layers": layers,
        "symbols": syms,
    }


def _symbols(elf: Path, model: str) -> dict[str, int]:
    import subprocess

    out = subprocess.run(
        ["arm-none-eabi-nm", "--size-sort", "-S", str(elf)],
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT" and parts[3].startswith(("ed_", f"{model}_")):
            syms[parts[3]] = int(parts[1], 16)
    return syms


def main() -> int:
    from edgesdk.boards import get_board
    from edgesdk.compiler.data import make_inputs
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.passes import PassContext, _load_builtin_passes

    _load_builtin_passes()  # the pipeline's order before this module imports one of its passes
    from edgesdk.passes.specialize import KERNEL
    from edgesdk.util.progress import progress

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="+", default=["mps2-an386", "mps2-an500"])
    ap.add_argument(
        "--models",
        nargs="+",
        default=["pretrainedResnet_quant", "ad01_int8"],
        help="shared MLPerf Tiny model names, or .tflite files (e.g. the KWS/VWW replicas of mlperf_replicas.py)",
    )
    ap.add_argument("--all", action="store_true", help="also force every direct CONV_2D specialised")
    ap.add_argument(
        "--all-kernel", default="specialized", help="the kernel --all forces (specialized16: int16 weights)"
    )
    ap.add_argument("--validate", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "specialize")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    shared = HERE.parent / "models" / "mlperf_tiny"  # the repository's copy, as speed.py
    modes = {"before": {"forbid": {"*": {KERNEL}}}, "after": {}}
    if args.all:
        modes["all"] = {"force_all": True}
    rows = []
    jobs = [(m, b, mode) for m in args.models for b in args.boards for mode in modes]
    for model, bname, mode in progress(jobs, desc="specialize benchmark"):
        if True:
            path = Path(model) if Path(model).suffix == ".tflite" else shared / f"{model}.tflite"
            graph = read_tflite(path)
            board = get_board(bname)
            x = make_inputs(graph, None, args.validate)
            kw = modes[mode]
            ctx = PassContext(core=board.core, forbid=kw.get("forbid", {}))
            if kw.get("force_all"):
                from edgesdk.passes import run_pipeline

                pre = run_pipeline(
                    graph, "default", PassContext(core=board.core, options={"flash_bytes": 4 << 20})
                )
                direct = [
                    n.name
                    for n in pre.nodes
                    if n.op == "CONV_2D"
                    and (
                        n.attrs.get("kernel") != "winograd"
                        or n.inputs
                        and pre.tensor(n.inputs[0]).shape[3] < 4
                    )
                ]
                ctx = PassContext(core=board.core, force=dict.fromkeys(direct, args.all_kernel))
            r = measure(graph, board, x, ctx, args.validate)
            r.update(model=Path(model).stem, board=bname, mode=mode)
            rows.append(r)
            log.info("%s %s %s: %d instructions, %d B kernel code, exact %s", model, bname, mode,
                     r["instructions"], r["kernel_code_bytes"], r["bit_exact"])  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    md = _markdown(rows)
    png = args.out.with_suffix(".png")
    if _plot(rows, png):
        md += f"\n![CONV_2D instructions per layer, shared kernel vs. the pass's choice]({png.name})\n"
    args.out.with_suffix(".md").write_text(md)
    return 0


def _plot(rows: list[dict], path: Path) -> bool:
    """Per-layer CONV_2D instructions before/after (IC on the first board): bars, one pair per layer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ic = [r for r in rows if r["model"].startswith("pretrainedResnet")]
    if not ic:
        return False
    board = ic[0]["board"]
    by_mode = {r["mode"]: r for r in ic if r["board"] == board}
    if "before" not in by_mode or "after" not in by_mode:
        return False
    convs = [L["layer"] for L in by_mode["before"]["layers"] if L["op"].startswith("CONV_2D")]
    fig = Figure(figsize=(9, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = np.arange(len(convs))
    for k, mode in enumerate(("before", "after")):
        counts = {L["layer"]: L["instructions"] for L in by_mode[mode]["layers"]}
        ax.bar(xs + (k - 0.5) * 0.4, [counts[c] / 1e6 for c in convs], 0.4, label=mode)
    kernels = {L["layer"]: L["kernel"] or "direct" for L in by_mode["after"]["layers"]}
    ax.set_xticks(xs, [f"{c}\n{kernels[c]}" for c in convs], fontsize=7)
    ax.set_ylabel("M instructions")
    ax.set_title(f"IC ResNet-8 CONV_2D on {board}: shared kernel (before) vs. specialize pass (after)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def _markdown(rows: list[dict]) -> str:
    lines = ["# Specialised convolutions (executed instructions per inference, emulated)", ""]
    lines += [
        "| model | board | mode | instructions | kernel code B | bit-exact |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['board']} | {r['mode']} | {r['instructions']:,} | {r['kernel_code_bytes']:,} "
            f"| {r['bit_exact']} |"
        )
    lines += ["", "## Per layer (CONV_2D; a convolution fused with its residual ADD counts the ADD too)", ""]
    lines += [
        "| model | board | mode | layer | kernel | MACs | instructions | insn/MAC | est. | code B (est.) |"
    ]
    lines += ["|---|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        for L in r["layers"]:
            if not L["op"].startswith("CONV_2D"):
                continue
            macs = L.get("macs", 0)
            ipm = f"{L['instructions'] / macs:.2f}" if macs else ""
            code = f"{L['code']} ({L['est_code']})" if "code" in L else ""
            lines.append(
                f"| {r['model']} | {r['board']} | {r['mode']} | {L['layer']} | {L['kernel'] or 'direct'} "
                f"| {macs:,} | {L['instructions']:,} | {ipm} | {L.get('est', '')} | {code} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
