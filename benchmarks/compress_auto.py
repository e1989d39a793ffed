"""Benchmark: ``compress --method auto --max-drop 1`` on two small real tasks, judged on a held-out test split.

Tasks (both built offline):

- **MNIST-1D** (Greydanus 2020, the ``mnist1d`` package builds it locally from its templates): 40-sample 1-D
  signals of 10 classes; a small 1-D conv net (three Conv2D layers with (k, 1) kernels, then Dense) trained on
  800 samples, 3,000 validation samples for the search, and the package's 1,000 test samples for the figures.
  The validation split is large because a trial keeps the budget when its drop plus one standard error does:
  at 80 % accuracy a compressed model disagrees with float on ~13 % of the samples, a standard error of
  ~1.1 pt on 1,000 samples, which would leave no room in a 1-pt budget.
- **digits** (scikit-learn's bundled 8x8 digits): the conv8-conv16-pool-dense10 CNN of the tests, trained on 1,000
  samples, 397 for validation, 400 for the test.

For each: the float model (fixed seed) is trained here, ``compress_auto`` searches on the validation split only,
and the written ``.tflite`` (and the plain int8 model, the search's int8 trial) is run on the test split by
ai-edge-litert. The table gives accuracy on validation (optimistic: the search chose on it) and on test, weight
bytes as the C backend stores them with the kernels the size export picks on the default board, the ratio
float32 / compressed, the per-layer choices and the wall time. Writes ``benchmarks/results/compress_auto.md``
(with the commit and options), ``compress_auto.json`` and each task's Pareto plot ``compress_auto_<task>.png``.

    python benchmarks/compress_auto.py [--tasks mnist1d digits] [--trials 8] [--epochs 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from digits_models import build_digits_model  # noqa: E402  (the digits CNN of the tests)

RESULTS = REPO / "benchmarks" / "results"
SEED = 0
log = logging.getLogger("compress_auto")


def _git(*args: str) -> str:
    run = subprocess.run(["git", *args], cwd=REPO, check=True, timeout=30, capture_output=True, text=True)
    return run.stdout.strip()


def _commit() -> str:
    """The checked-out commit, with ``+dirty`` when tracked files other than results differ from it."""
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
    return _git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


# --- tasks --------------------------------------------------------------------------------------------------------
Split = tuple[np.ndarray, np.ndarray]


def mnist1d_task() -> tuple[Any, Split, Split, Split]:
    """MNIST-1D (default generation arguments, seed 42 of the package): 800 train, 3,000 validation (both from
    the package's training part), its 1,000 test samples; a 1-D conv net trained on the 800."""
    import keras
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    x = np.asarray(d["x"], np.float32).reshape(-1, 40, 1, 1)
    y = np.asarray(d["y"], np.int64)
    xt = np.asarray(d["x_test"], np.float32).reshape(-1, 40, 1, 1)
    yt = np.asarray(d["y_test"], np.int64)
    keras.utils.set_random_seed(SEED)
    inp = keras.Input((40, 1, 1))
    h = keras.layers.Conv2D(16, (5, 1), padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(32, (3, 1), strides=(2, 1), padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.Conv2D(32, (3, 1), strides=(2, 1), padding="same", activation="relu", name="conv3")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dropout(0.3)(
        h
    )  # 800 samples: without it the net overfits (test 64.9 % instead of 81.2 %)
    out = keras.layers.Dense(10, activation="softmax", name="fc")(h)
    model = keras.Model(inp, out, name="mnist1d_cnn")
    _fit(model, x[:800], y[:800], epochs=80)
    return model, (x[:800], y[:800]), (x[800:3800], y[800:3800]), (xt, yt)


def digits_task() -> tuple[Any, Split, Split, Split]:
    """sklearn digits: 1,000 train, 397 validation, 400 test (a fixed permutation); the tests' digits CNN."""
    import keras
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[order], y[order]
    keras.utils.set_random_seed(SEED)
    model = build_digits_model("cnn")
    _fit(model, x[:1000], y[:1000], epochs=40)
    return model, (x[:1000], y[:1000]), (x[1000:1397], y[1000:1397]), (x[1397:], y[1397:])


def _fit(model: Any, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)


TASKS = {"mnist1d": mnist1d_task, "digits": digits_task}


# --- one task ----------------------------------------------------------------------------------------------------
def run_task(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from edgesdk.compress import evaluate_tflite
    from edgesdk.compress.auto import compress_auto, work_dir
    from edgesdk.compress.base import accuracy

    start = time.monotonic()
    model, train, val, test = TASKS[name]()
    trained = time.monotonic() - start
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.keras"
    model.save(path)
    np.savez(folder / "train.npz", x=train[0], y=train[1])
    np.savez(folder / "val.npz", x=val[0], y=val[1])
    out = folder / f"{name}_auto.tflite"
    t0 = time.monotonic()
    r = compress_auto(
        path,
        folder / "train.npz",
        folder / "val.npz",
        out=out,
        max_drop=args.max_drop,
        optimize=args.optimize,
        trials=args.trials,
        epochs=args.epochs,
        workers=args.workers,
        safety=args.safety,
        distill=args.distill,
        seed=SEED,
    )
    searched = time.monotonic() - t0
    written = out.read_bytes()
    int8_file = next(
        Path(rec["file"])
        for rec in map(json.loads, (work_dir(out) / "trials.jsonl").read_text().splitlines())
        if rec.get("status") == "ok" and set(rec["assign"].values()) == {"int8"}
    )
    png = args.out.parent / f"compress_auto_{name}.png"
    shutil.copyfile(work_dir(out) / "pareto.png", png)
    row = {
        "task": name,
        "train": len(train[1]),
        "val": len(val[1]),
        "test": len(test[1]),
        "float_val": r.accuracy_float,
        "float_test": accuracy(model, *test),
        "int8_test": evaluate_tflite(int8_file.read_bytes(), *test),
        "auto_val": r.accuracy_compressed,
        "auto_test": evaluate_tflite(written, *test),
        "weight_bytes_float": r.weight_bytes_float,
        "weight_bytes_int8": r.weight_bytes_int8,
        "weight_bytes_auto": r.weight_bytes_compressed,
        "ratio": r.weight_bytes_float / max(1, r.weight_bytes_compressed),
        "instructions": r.instructions,
        "layers": r.layers,
        "trials": len(r.trials),
        "train_seconds": round(trained, 1),
        "search_seconds": round(searched, 1),
        "plot": png.name,
        "board": r.board,
    }
    row["test_drop_pt"] = 100 * (row["float_test"] - row["auto_test"])
    log.info("%s: %s", name, {k: v for k, v in row.items() if k != "layers"})
    return row


def write_md(rows: list[dict[str, Any]], args: argparse.Namespace, path: Path, commit: str) -> None:
    md = [
        "# compress --method auto",
        "",
        f"Measured by `benchmarks/compress_auto.py` at commit {commit}: `--max-drop {args.max_drop:g} "
        f"--optimize {args.optimize} --trials {args.trials} --epochs {args.epochs or 'default (20)'} "
        f"--workers {args.workers} "
        f"--safety {args.safety:g}{' --distill' if args.distill else ''}`, "
        f"seed {SEED}, default choices, default board ({rows[0]['board'] if rows else ''}; bytes are the weight "
        "bytes the C backend stores with the kernels the **size** export picks).",
        "",
        "The search chose on the validation split, so its validation accuracy is optimistic; the test split was "
        "seen by neither training nor the search. Drop and ratio are against the float Keras model "
        "(ratio = float32 weight bytes / compressed weight bytes).",
        "",
        "| task | train/val/test | float val | float test | int8 test | auto val | auto test | test drop (pt) "
        "| weight bytes float / int8 / auto | ratio | est. instructions | trials | search time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['task']} | {r['train']}/{r['val']}/{r['test']} | {100 * r['float_val']:.2f} | "
            f"{100 * r['float_test']:.2f} | {100 * r['int8_test']:.2f} | {100 * r['auto_val']:.2f} | "
            f"{100 * r['auto_test']:.2f} | {r['test_drop_pt']:+.2f} | {r['weight_bytes_float']:,} / "
            f"{r['weight_bytes_int8']:,} / {r['weight_bytes_auto']:,} | {r['ratio']:.1f}x | {r['instructions']:,} | "
            f"{r['trials']} | {r['search_seconds']:.0f} s |"
        )
    for r in rows:
        md += [
            "",
            f"## {r['task']}: per-layer choices",
            "",
            "| layer (file) | method | format | weight bytes | est. instructions |",
            "|---|---|---|---|---|",
        ]
        md += [
            f"| {la['name']} | {la['method']} | {la['format']} | {la['bytes']:,} | {la['instructions']:,} |"
            for la in r["layers"]
        ]
        md += ["", f"![{r['task']} trials: accuracy against weight bytes]({r['plot']})"]
    path.write_text("\n".join(md) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--max-drop", type=float, default=1.0)
    ap.add_argument("--optimize", choices=("size", "speed"), default="size")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument(
        "--epochs", type=int, default=None, help="fine-tuning epochs per trial (default auto's, 20)"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--safety", type=float, default=2.0, help="standard errors added to the validation drop")
    ap.add_argument("--distill", action="store_true", help="trials distil from the float model")
    ap.add_argument(
        "--work", type=Path, default=None, help="folder for models and trials (default: a temp one)"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "compress_auto.md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    commit = _commit()  # before the run writes its plots
    import tempfile

    with tempfile.TemporaryDirectory(prefix="compress_auto_") as tmp:
        work = args.work or Path(tmp)
        rows = [run_task(name, args, work) for name in args.tasks]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_md(rows, args, args.out, commit)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
