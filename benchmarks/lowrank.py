"""Benchmark: low-rank factorization, AdderNet, Shift and Ghost layers on load_digits, through ``edgesdk sweep``.

Three sweeps (compress + export + executed instructions per inference on the emulated Cortex-M4 ``mps2-an386``),
each with its rate-distortion table and Pareto plot:

- ``mlp``: a LeNet-300-100-style MLP (64-300-100-10): int8, lowrank by rank and by energy, with and without
  distillation, and ternary (from the ternary/binary methods) for comparison;
- ``cnn``: a small CNN (conv16-conv32-pool-dense10): int8, Tucker-2 lowrank, AdderNet (``adder``);
- ``compact``: the same CNN shape with its 3×3 convolutions replaced by Shift + 1×1 (ShiftNet) or by a Ghost
  module, each trained from scratch and converted to int8 (the Shift layer runs on the ``shift`` kernel).

Writes ``benchmarks/results/lowrank.json`` and ``.md`` and, per sweep, ``benchmarks/results/lowrank/<name>/``
(``report.html``, ``pareto.png``, ``table.md``, ``table.csv``, ``sweep.jsonl``).

    python benchmarks/lowrank.py [--epochs 15] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


def digits() -> tuple[tuple, tuple]:
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def build(kind: str):
    import keras

    import edgesdk.layers as L

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    if kind == "mlp":
        h = keras.layers.Flatten()(inp)
        h = keras.layers.Dense(300, activation="relu", name="fc1")(h)
        h = keras.layers.Dense(100, activation="relu", name="fc2")(h)
    elif kind == "cnn":
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
    elif kind == "shift":
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
        h = L.Shift2D(3, name="shift")(h)
        h = keras.layers.Conv2D(32, 1, activation="relu", name="mix")(h)
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
    elif kind == "ghost":
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inp)
        h = L.GhostConv2D(32, 3, ratio=2, dw_size=3, name="ghost")(h)
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
    else:
        raise ValueError(kind)
    out = keras.layers.Dense(10, activation="softmax", name="fc")(h)
    return keras.Model(inp, out, name=f"digits_{kind}")


def train(kind: str, train_xy: tuple, out: Path, epochs: int = 40) -> Path:
    import keras

    model = build(kind)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(*train_xy, epochs=epochs, batch_size=64, verbose=0)
    path = out / f"digits_{kind}.keras"
    model.save(path)
    return path


def main() -> int:
    from edgesdk.commands.sweep import TABLE_KEYS, sweep

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15, help="fine-tuning epochs per point")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tr, va = digits()
    e = args.epochs
    sweeps = {
        "mlp": [
            {"method": m, "epochs": e}
            for m in (
                "int8",
                "lowrank=8",
                "lowrank=16",
                "lowrank=32",
                "lowrank=0.8e",
                "lowrank=0.9e",
                "ternary",
            )
        ]
        + [{"method": "lowrank=16", "epochs": e, "distill": True}],
        "cnn": [{"method": m, "epochs": e} for m in ("int8", "lowrank=4", "lowrank=8", "lowrank=0.9e")]
        + [{"method": "lowrank=8", "epochs": e, "distill": True}, {"method": "adder", "epochs": 2 * e}],
    }
    summary: dict = {"board": "mps2-an386", "epochs": e, "sweeps": {}}
    start = time.monotonic()
    # A fixed work folder: a benchmark run that was interrupted resumes its sweeps (same seeds, same models).
    work = Path(tempfile.gettempdir()) / "edgesdk-lowrank-bench"
    work.mkdir(exist_ok=True)
    for name, points in [*sweeps.items(), ("compact", None)]:
        if points is None:
            rows = []
            for kind in ("cnn", "shift", "ghost"):
                model = train(kind, tr, work)
                res = sweep(model, [{"method": "int8"}], tr, va, out=work / f"compact_{kind}", workers=1)
                rows.append({**res.rows[0], "label": f"{kind} int8"})
            from edgesdk.commands.sweep import table_rows, write_report

            for r, kind in zip(rows, ("cnn", "shift", "ghost"), strict=True):
                r["settings"] = {"method": "int8", "model": kind}  # Sr against the first, the plain CNN
            rows = table_rows(rows)
            dest = RESULTS / "lowrank" / name
            dest.mkdir(parents=True, exist_ok=True)
            write_report(rows, dest)
        else:
            kind = name
            model = train(kind, tr, work)
            res = sweep(model, points, tr, va, out=work / name, workers=args.workers)
            rows = res.rows
            dest = RESULTS / "lowrank" / name
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            for f in ("report.html", "pareto.png", "table.md", "table.csv", "sweep.jsonl"):
                shutil.copyfile(work / name / f, dest / f)
        summary["sweeps"][name] = [{k: r.get(k) for k in TABLE_KEYS} for r in rows]
        print(f"{name}:\n" + (dest / "table.md").read_text(), flush=True)
    summary["seconds"] = round(time.monotonic() - start)
    (RESULTS / "lowrank.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    md = ["# Low-rank, AdderNet, Shift and Ghost on load_digits (emulated Cortex-M4, mps2-an386)", ""]
    md.append(
        "Cr = float32 weight bytes / stored weight bytes; Sr = instructions per inference of the int8 model / "
        "of the point (executed instructions under QEMU -icount, not cycles). Pareto plots: "
        "`lowrank/<sweep>/pareto.png`."
    )
    for name in summary["sweeps"]:
        md += ["", f"## {name}", "", (RESULTS / "lowrank" / name / "table.md").read_text()]
    (RESULTS / "lowrank.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
