"""``edgesdk synth`` on the MLPerf Tiny IC model (ResNet-8) for the PYNQ-Z2, direct and with the Winograd unit.

Runs the C-simulation (host g++) on a few inputs against the reference, and records the analytical estimate
(cycles per layer, multipliers, LUT/FF/DSP/BRAM against the board: ResNet-8 with every tap in parallel does not
fit the PYNQ-Z2, so the run C-simulates it with ``enforce_fit=False`` and records the fit) and the C-simulation
time. Writes
``benchmarks/results/hls_synth.json``. Synthesis runs too when a vendor HLS tool is on PATH.

    PYTHONPATH=sdk python3 benchmarks/hls_synth.py [--count N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IC = ROOT / "models" / "mlperf_tiny" / "pretrainedResnet_quant.tflite"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(IC))
    parser.add_argument("--board", default="pynq-z2")
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args()

    from edgesdk.commands.synth import synth
    from edgesdk.compiler.model import load_model

    graph = load_model(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for winograd in (False, True):
            t0 = time.monotonic()
            r = synth(
                graph,
                args.board,
                Path(tmp) / f"w{int(winograd)}",
                count=args.count,
                winograd=winograd,
                enforce_fit=False,
            )
            est = r.estimate
            row = {
                "winograd": winograd,
                "csim_bit_exact": r.bit_exact,
                "csim_inputs": r.inputs,
                "seconds": round(time.monotonic() - t0, 1),
                "estimate_total_cycles": est["total_cycles"],
                "estimate_latency_us": est["latency_us"],
                "weight_bram_18k": est["total_weight_bram"],
                "multipliers": sum(int(u.get("multipliers", 0)) for u in est["layers"]),
                "fit": est["fit"],
                "layers": [
                    {
                        k: u.get(k)
                        for k in ("layer", "kind", "cycles", "multipliers", "lut", "ff", "dsp", "bram")
                    }
                    for u in est["layers"]
                ],
                "synthesis": r.synthesis,
            }
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "layers"}))
    out = ROOT / "benchmarks" / "results" / "hls_synth.json"
    out.write_text(
        json.dumps({"model": Path(args.model).name, "board": args.board, "runs": rows}, indent=2) + "\n",
        encoding="utf-8",
    )
    return 0 if all(r["csim_bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
