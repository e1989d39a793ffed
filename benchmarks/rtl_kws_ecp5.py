"""The MLPerf Tiny KWS DS-CNN (int8) as one Verilog design on the ECP5 of the ULX3S 85F, through ``edgesdk
synth``'s open flow.

The network is the architecture replica of :mod:`mlperf_replicas` (MLPerf Tiny's layer shapes and TFLite ops,
seeded weights); the 20 inputs are the replica's seeded smooth random fields quantized by the model's input
scale (no speech data set ships with the repository). The whole-network Verilog (a MAC array of ``--parallel``
output channels at once on as many MULT18X18D in every convolution and the classifier, one multiply-accumulate
per cycle in the depthwise ones, their requantizations overlapping the next outputs on two units in turn, a
requantization unit per lane) is simulated in Verilator
(Icarus Verilog without it) and compared with the reference bit for bit, synthesized with yosys ``synth_ecp5``
(per layer and whole), placed and routed by nextpnr-ecp5 and packed by ecppack. Writes
``benchmarks/results/rtl_kws_ecp5.json`` and ``.md`` with the commit.

    PYTHONPATH=sdk python3 benchmarks/rtl_kws_ecp5.py [--count 20] [--parallel 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=8, help="output channels at once (1: one MAC per layer)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from mlperf_replicas import calibration, replica_path

    from edgesdk.commands.synth import synth
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    graph = load_model(replica_path("kws"))
    data = make_inputs(graph, calibration((49, 10, 1), seed=7, n=args.count), args.count)
    with tempfile.TemporaryDirectory() as tmp:
        r = synth(
            graph,
            "ulx3s-85f",
            Path(tmp) / "kws",
            inputs=data,
            count=len(data),
            parallel=args.parallel,
            on_progress=lambda line: print(f"kws: {line}", file=sys.stderr, flush=True),
        )
    rtl = dict(r.report["rtl_network"])
    rtl.pop("yosys_cells", None)
    rtl["pnr"] = {k: v for k, v in rtl.get("pnr", {}).items() if k != "bitstream"}
    result = {
        "commit": commit,
        "parallel": args.parallel,
        "board": "ulx3s-85f (LFE5U-85F)",
        "model": graph.name,
        "rtl_network": rtl,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rtl_kws_ecp5.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    f, p = rtl["yosys"], rtl.get("pnr", {})
    lines = [
        f"# MLPerf Tiny KWS DS-CNN (int8 replica) in Verilog on the ECP5 LFE5U-85F (commit {commit})",
        "",
        f"- MAC arrays of {args.parallel} output channels at once (`--parallel {args.parallel}`) in the convolutions "
        "and the classifier; the depthwise convolutions one multiply-accumulate per cycle, their requantizations "
        "overlapping the next outputs on two units in turn",
        f"- bit-exact with the reference: {rtl['bit_exact_count']}/{rtl['inputs']} inputs "
        f"(compared tensor `{rtl['compared_tensor']}`; softmax on the host)",
        f"- yosys synth_ecp5: {f['lut4']:,} LUT4, {f['dff']:,} FF, {f['ebr']} DP16KD, {f['dsp']} MULT18X18D",
        f"- nextpnr-ecp5: Fmax {p.get('fmax_mhz')} MHz; bitstream {p.get('bitstream_bytes')} bytes",
        f"- {rtl['compute_cycles']:,} cycles per inference: {rtl['latency_us']:,} us at "
        f"{rtl['clock_hz'] / 1e6:g} MHz, {rtl['inferences_per_s']} inferences/s",
        "",
        "| layer | kind | cycles est. | cycles sim. | delta | DP16KD est. | DP16KD yosys | delta | MULT18X18D |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rtl["layers"]:
        lines.append(
            f"| {row['layer']} | {row['kind']} | {row['estimate_cycles']:,} | {row['simulated_cycles']:,} | "
            f"{row['cycles_delta_pct']} % | {row['estimate_bram']} | {row['yosys']['ebr']} | "
            f"{row['bram_delta_pct']} % | {row['yosys']['dsp']} |"
        )
    (RESULTS / "rtl_kws_ecp5.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if rtl["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
