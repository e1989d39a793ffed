"""Whole digits networks in Verilog on the iCE40 UP5K (iCEBreaker), through ``edgesdk synth``'s open flow.

Trains two load_digits classifiers with fixed seeds: a binary network (int8 first and last layers, two XNOR
layers: ``compress --method xnor``) and a ternary MLP (``compress --method ternary``: TWN weights {-127, 0, 127}
in every layer). Each goes through :func:`edgesdk.commands.synth.synth` on the icebreaker board: the
whole-network Verilog is simulated in Icarus Verilog on 100 held-out digits and compared with the reference
bit for bit, synthesized with yosys ``synth_ice40`` (per layer and whole), placed and routed with nextpnr-ice40
and packed by icepack. Writes ``benchmarks/results/rtl_network_ice40.json`` and ``.md`` with the commit.

    PYTHONPATH=sdk python3 benchmarks/rtl_network_ice40.py [--count 100] [--parallel 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"


def _models(work: Path) -> dict[str, Path]:
    import keras
    from sklearn.datasets import load_digits

    from edgesdk.compress import compress

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    out = {}
    for name, widths, method in (("binary", (64, 64, 40), "xnor"), ("ternary", (64, 32), "ternary")):
        keras.utils.set_random_seed(21)
        inp = keras.Input((64,), batch_size=1)
        h = inp
        for w in widths:
            h = keras.layers.Dense(w, activation="relu")(h)
        model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h))
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x[:1400], y[:1400], epochs=30, batch_size=32, verbose=0)
        path = work / (f"digits_{name}.xnor" if method == "xnor" else f"digits_{name}.tflite")
        res = compress(
            model, method, (x[:1400], y[:1400]), (x[1400:], y[1400:]), epochs=10, out=path, progress=False
        )
        out[name] = path
        print(f"{name}: compressed accuracy {res.accuracy_compressed:.3f}", file=sys.stderr, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--parallel", type=int, default=1, help="output channels the int8 layers compute at once")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the .md from the stored .json")
    args = ap.parse_args()
    if args.markdown_only:
        return write_markdown(json.loads((RESULTS / "rtl_network_ice40.json").read_text(encoding="utf-8")))
    from sklearn.datasets import load_digits

    from edgesdk.commands.synth import synth
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, path in _models(work).items():
            graph = load_model(path)
            data = make_inputs(graph, x[1400 : 1400 + args.count], args.count)
            r = synth(
                graph,
                "icebreaker",
                work / name,
                inputs=data,
                count=len(data),
                parallel=args.parallel,
                on_progress=lambda line, n=name: print(f"{n}: {line}", file=sys.stderr, flush=True),
            )
            rtl = dict(r.report["rtl_network"])
            rtl.pop("yosys_cells", None)
            rtl["pnr"] = {k: v for k, v in rtl.get("pnr", {}).items() if k != "bitstream"}
            rows[name] = rtl
    result = {
        "commit": commit,
        "board": "icebreaker (up5k-sg48)",
        "inputs": args.count,
        "parallel": args.parallel,
        "networks": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rtl_network_ice40.json").write_text(
        json.dumps(result, indent=2, default=str), encoding="utf-8"
    )
    return write_markdown(result)


def write_markdown(result: dict) -> int:
    """``rtl_network_ice40.md`` from the results (also ``--markdown-only`` from the stored JSON)."""
    commit, rows = result["commit"], result["networks"]
    simulator = next(iter(rows.values())).get("simulator", "iverilog")
    lines = [
        f"# Whole digits networks in Verilog on the iCE40 UP5K (commit {commit})",
        "",
        f"{result['inputs']} held-out load_digits inputs, {simulator} against the reference; yosys synth_ice40, "
        "nextpnr-ice40 (seed 1), icepack; int8 layers with MAC arrays of "
        f"{result.get('parallel', 1)} output channel(s) at once (`--parallel`).",
        "",
        "| network | bit-exact | LUT4 | DFF | EBR | SPRAM | DSP | Fmax MHz | cycles | us | inferences/s | uJ |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        f, p = r["yosys"], r.get("pnr", {})
        lines.append(
            f"| {name} | {r['bit_exact_count']}/{r['inputs']} | {f['lut4']} | {f['dff']} | {f['ebr']} | "
            f"{f['spram']} | {f['dsp']} | {p.get('fmax_mhz')} | {r['compute_cycles']} | {r['latency_us']} | "
            f"{r['inferences_per_s']} | {r.get('energy', {}).get('uj_per_inference')} |"
        )
    lines += [
        "",
        "Estimate against the Verilog, per layer:",
        "",
        "| network | layer | kind | cycles est. | cycles sim. | delta | EBR est. | EBR yosys | delta |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        for row in r["layers"]:
            lines.append(
                f"| {name} | {row['layer']} | {row['kind']} | {row['estimate_cycles']} | {row['simulated_cycles']} | "
                f"{row['cycles_delta_pct']} % | {row['estimate_bram']} | {row['yosys']['ebr']} | "
                f"{row['bram_delta_pct']} % |"
            )
    (RESULTS / "rtl_network_ice40.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if all(r["bit_exact"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
