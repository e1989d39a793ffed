"""XNOR dense unit on the iCE40 UP5K (iCEBreaker): area and Fmax over PE/SIMD foldings.

Trains the binary MLP of the tests on load_digits (int8 first/last layers, two XNOR layers), generates the Verilog
of its first XNOR layer (64 -> 64) for several foldings, each without and with the popcount pipeline (the
registered XNOR slice and an adder-tree popcount: ``pipeline=True``, the default), checks each in Icarus Verilog against the reference on
held-out digits, then synthesizes it with yosys ``synth_ice40`` and places it with nextpnr-ice40 (UP5K, SG48).
Writes ``benchmarks/results/xnor_ice40.json``.

    PYTHONPATH=sdk python3 benchmarks/xnor_ice40.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

FOLDINGS = ((2, 16), (4, 32), (8, 64))


def main() -> int:
    import keras
    from sklearn.datasets import load_digits

    from edgesdk.backends.hls import rtl
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model
    from edgesdk.compress import compress
    from edgesdk.reference import Reference
    from edgesdk.reference.xnor import bytes_to_words

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    keras.utils.set_random_seed(21)
    inp = keras.Input((64,), batch_size=1)
    h = keras.layers.Dense(64, activation="relu")(inp)
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(40, activation="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:1400], y[:1400], epochs=30, batch_size=32, verbose=0)  # the float baseline
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        res = compress(
            model,
            "xnor",
            (x[:1400], y[:1400]),
            (x[1400:], y[1400:]),
            epochs=10,
            out=work / "d.xnor",
            progress=False,
        )
        graph = load_model(work / "d.xnor")
        data = make_inputs(graph, x[1400:], 0)
        values = Reference(graph).run_batch_all(data)
        node = next(n for n in graph.nodes if n.op == "EDGESDK_XNOR_FULLY_CONNECTED")
        vin = bytes_to_words(values[node.inputs[0]]).reshape(len(data), -1)
        want = bytes_to_words(values[node.outputs[0]]).reshape(len(data), -1)
        w = graph.tensor(node.inputs[1]).data
        for (pe, simd), pipeline in ((f, p) for f in FOLDINGS for p in (False, True)):
            design = rtl.xnor_dense_verilog(
                w,
                node.in_features,
                np.asarray(node.threshold),
                np.asarray(node.flip),
                pe=pe,
                simd=simd,
                module=f"xnor_pe{pe}_simd{simd}",
                pipeline=pipeline,
            )
            got, cycles = rtl.simulate(design, vin, work / f"sim_{pe}_{simd}_{pipeline}")
            exact = bool(np.array_equal(got, want))
            fig = rtl.synth_ice40(design, work / f"pnr_{pe}_{simd}_{pipeline}")
            row = {
                "layer": node.name,
                "mh": design.mh,
                "mw": design.mw,
                "pe": pe,
                "simd": simd,
                "pipelined": pipeline,
                "cycles_per_vector": design.cycles,
                "latency_cycles": design.latency,
                "simulated_cycles": max(cycles),
                "simulated_vectors": len(data),
                "rtl_equals_reference": exact,
                "lut4": fig["lut4"],
                "dff": fig["dff"],
                "carry": fig["carry"],
                "yosys_cells": fig["yosys_cells"],
                "logic_cells_placed": fig["placed"].get("ICESTORM_LC", {}).get("used"),
                "logic_cells_available": fig["placed"].get("ICESTORM_LC", {}).get("available"),
                "fmax_mhz": fig["fmax_mhz"],
            }
            rows.append(row)
            print(json.dumps(row))
    out = Path(__file__).resolve().parent / "results" / "xnor_ice40.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "device": "iCE40 UP5K (SG48), yosys synth_ice40 + nextpnr-ice40",
                "model": "binary MLP on load_digits (64-64-64-40-10), first XNOR layer",
                "accuracy_binary": res.accuracy_compressed,
                "accuracy_float": res.accuracy_float,
                "foldings": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0 if all(r["rtl_equals_reference"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
