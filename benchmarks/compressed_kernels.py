"""Compressed models in the default export on DSP cores: the weight bytes ``compress`` reports and int8 speed.

Per model and compression method, against the model's int8 twin (the same float model converted to int8 without
compression), on the emulated Cortex-M4 (mps2-an386; ``--boards`` adds mps2-an500, a Cortex-M7):

- weight bytes of the default export (``--optimize balanced``) against the figure ``compress`` reports (the size
  export's weight bytes, ``edgesdk.compress.layer_report``);
- image size (text + data of the ELF) against the int8 twin's default export;
- executed instructions per inference (QEMU ``-icount``: SysTick counts, deterministic) against the int8 twin;
- whether the board's outputs equal the NumPy reference bit for bit on a few inputs;
- the kernel per layer (``report.json["kernels"]``).

Models: the digits MLP and CNN (``tests/digits_models.py``'s shapes, trained here with fixed seeds) compressed by
``edgesdk.compress`` (ternary, binary, ``prune=0.8,share=4bit,int8``; default ``--keep-int8``), and the KWS DS-CNN
replica (``benchmarks/mlperf_replicas.py``) with its weights made ternary, binary or pruned-and-shared per layer in
NumPy before conversion (first and last layers int8, as ``compress`` keeps them).

    python benchmarks/compressed_kernels.py [--models kws digits_cnn digits_mlp] [--methods ternary binary prune]
                                            [--boards mps2-an386 mps2-an500] [--validate 3]

Writes ``benchmarks/results/compressed_kernels.md`` and ``.json`` (with the commit and options).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
RESULTS = BENCH / "results"
CACHE = BENCH / ".cache" / "compressed_kernels"
SEED = 0
METHODS = {"ternary": "ternary", "binary": "binary", "prune": "prune=0.8,share=4bit,int8"}
MODELS = ("kws", "digits_cnn", "digits_mlp")
log = logging.getLogger("compressed_kernels")


def _bench_module(name: str) -> Any:
    """Another ``benchmarks/`` script as a module (this folder is on ``sys.path`` when run as a script)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


# --- compressing in NumPy (the KWS replica: no data to fine-tune on) ----------------------------------------
def ternarize(w: np.ndarray) -> np.ndarray:
    """TWN (Li et al. 2016) per output channel (last axis): threshold 0.7 mean|w|, scale the mean kept |w|."""
    a = np.abs(w).reshape(-1, w.shape[-1])
    delta = 0.7 * a.mean(axis=0)
    keep = a > delta
    alpha = (a * keep).sum(axis=0) / np.maximum(keep.sum(axis=0), 1)
    return (np.sign(w) * (np.abs(w) > delta) * alpha).astype(np.float32)


def binarize(w: np.ndarray) -> np.ndarray:
    """BWN (Rastegari et al. 2016) per output channel: alpha sign(w), alpha = mean|w|."""
    alpha = np.abs(w).reshape(-1, w.shape[-1]).mean(axis=0)
    return (np.where(w >= 0, 1.0, -1.0) * alpha).astype(np.float32)


def prune_share(w: np.ndarray, sparsity: float = 0.8, bits: int = 4) -> np.ndarray:
    """Magnitude pruning of the layer to ``sparsity`` zeros, then k-means of the kept weights to 2^bits - 1
    shared values (Deep Compression, Han et al. 2016); zero stays exactly zero."""
    flat = w.reshape(-1)
    thr = np.quantile(np.abs(flat), sparsity)
    kept = np.abs(flat) > thr
    vals = flat[kept]
    if vals.size == 0:
        return np.zeros_like(w)
    k = min(2**bits - 1, vals.size)
    centers = np.linspace(vals.min(), vals.max(), k)
    for _ in range(20):
        idx = np.argmin(np.abs(vals[:, None] - centers[None, :]), axis=1)
        for j in range(k):
            if np.any(idx == j):
                centers[j] = vals[idx == j].mean()
    out = np.zeros_like(flat)
    out[kept] = centers[np.argmin(np.abs(vals[:, None] - centers[None, :]), axis=1)]
    return out.reshape(w.shape).astype(np.float32)


def kws_tflite(method: str | None, cache: Path = CACHE) -> Path:
    """The KWS replica (int8 twin with ``method`` None) with its weights compressed in NumPy, converted to int8."""
    path = cache / f"kws_{method or 'int8'}_s{SEED}.tflite"
    if path.is_file():
        return path
    import keras

    from edgesdk.frontends.keras import quantize_keras

    replicas = _bench_module("mlperf_replicas")
    model, samples = replicas.keras_replica("kws", SEED)
    layers = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense))
    ]
    for i, layer in enumerate(layers):
        if method is None or i in (0, len(layers) - 1):
            continue  # first and last layers stay int8 (compress's default --keep-int8 first,last)
        weights = layer.get_weights()
        if method == "prune":
            weights[0] = prune_share(weights[0])
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            continue  # ternary / binary leave depthwise layers int8, as compress does
        else:
            weights[0] = ternarize(weights[0]) if method == "ternary" else binarize(weights[0])
        layer.set_weights(weights)
    data = quantize_keras(model, samples, num_samples=None)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def digits_tflite(kind: str, method: str | None, cache: Path = CACHE) -> Path:
    """The digits ``kind`` model ("mlp"/"cnn") compressed by ``edgesdk.compress`` with ``method`` (None: int8)."""
    spec = METHODS.get(method or "", "int8")
    path = cache / f"digits_{kind}_{method or 'int8'}_s{SEED}.tflite"
    if path.is_file():
        return path
    import tensorflow as tf

    from edgesdk.compress import compress

    sys.path.insert(0, str(REPO / "tests"))
    from digits_models import digits_split, train_digits_model

    tf.config.experimental.enable_op_determinism()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fpath, train, val = train_digits_model(kind, Path(tmp), epochs=20)
        res = compress(
            fpath, spec, train, val, epochs=None if method else 0, out=path, seed=SEED, progress=False
        )
    log.info("digits %s %s: accuracy %.4f -> %.4f", kind, spec, res.accuracy_float, res.accuracy_compressed)
    del digits_split
    return path


def model_path(model: str, method: str | None) -> Path:
    if model == "kws":
        return kws_tflite(method)
    return digits_tflite(model.split("_", 1)[1], method)


# --- measuring ----------------------------------------------------------------------------------------------
def compress_figure(graph: Any) -> int:
    """The weight bytes ``compress`` reports for ``graph`` (the size export's choice on a Cortex-M4)."""
    from edgesdk.numerics.weights import layer_weights
    from edgesdk.passes import PassContext, run_pipeline

    decided = run_pipeline(graph, "default", PassContext(core="cortex-m4", optimize="size"))
    return int(sum(r["weight_bytes"] for r in layer_weights(decided)))


def measure(path: Path, board: str, optimize: str, n_validate: int) -> dict[str, Any]:
    """``speed.measure`` (export, build, run on the emulated board: instructions, bytes, bit-exact inputs, kernels)
    of the model at ``path``, with the weight bytes ``compress`` reports for it."""
    from edgesdk.boards import get_board
    from edgesdk.compiler.data import make_inputs
    from edgesdk.compiler.model import load_model
    from edgesdk.reference import Reference

    graph = load_model(path)
    x = make_inputs(graph, None, max(1, n_validate), seed=0)
    want = Reference(graph).run_batch(x).reshape(len(x), -1)
    m = _bench_module("speed").measure(graph, get_board(board), x, want, optimize)
    m["compress_bytes"] = compress_figure(graph)
    m["image_bytes"] = m["flash_bytes"]
    m["bit_exact"] = f"{m['bit_exact']}/{m['validated']}"
    m["kernels"] = {
        name: layer["kernel"] + (f"({layer['format']})" if layer["kernel"] == "decoded" else "")
        for name, layer in m["layers"].items()
        if layer["op"] in ("CONV_2D", "FULLY_CONNECTED", "DEPTHWISE_CONV_2D")
    }
    return m


def run(models: list[str], methods: list[str], boards: list[str], n_validate: int) -> list[dict[str, Any]]:
    on_board = _bench_module("compression").on_board
    rows = []
    for board in boards:
        for model in models:
            twin = on_board(measure, model_path(model, None), board, "balanced", n_validate)
            twin_speed = on_board(measure, model_path(model, None), board, "speed", n_validate)
            log.info("%s %s int8: %s instructions", board, model, f"{twin['instructions']:,}")
            for method in methods:
                t0 = time.monotonic()
                path = model_path(model, method)
                row: dict[str, Any] = {
                    "board": board,
                    "model": model,
                    "method": METHODS[method],
                    "int8": twin,
                    "int8_speed": twin_speed,
                }
                for opt in ("balanced", "size", "speed"):
                    row[opt] = on_board(measure, path, board, opt, n_validate)
                row["seconds"] = round(time.monotonic() - t0, 1)
                b = row["balanced"]
                log.info(
                    "%s %s %s: %s B (compress %s B), %s instructions (int8 %s), %s",
                    board, model, method, f"{b['weight_bytes']:,}", f"{b['compress_bytes']:,}",
                    f"{b['instructions']:,}", f"{twin['instructions']:,}", b["bit_exact"],
                )  # fmt: skip
                rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Compressed models in the default export (`--optimize balanced`)",
        "",
        f"Commit `{meta['commit']}`, measured {meta['date']} with `{meta['command']}`. Instructions: executed "
        "instructions per inference under QEMU `-icount` (not cycles). Weight bytes: the export's weight storage "
        "(`report.json`); compress: the figure `edgesdk compress` prints (the size export's). Image: text + data of "
        "the ELF. Int8 twin: the same float model converted to int8 without compression, default export "
        "(`balanced`: int8 weights in flash, widened to int16 in RAM where the speed kernels want them); "
        "int8 `speed`: the twin with `--optimize speed` (the default before `balanced`: int16 weights in flash).",
        "",
        "| board | model | method | weight B (default) | compress B | ratio | image B | int8 image B | RAM B | int8 RAM B | "
        "instructions | int8 instructions | vs int8 | int8 `speed` instructions / image B | vs int8 `speed` | "
        "size-export instructions | speed-export instructions / weight B | bit-exact |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        b, t, z, s, ts = r["balanced"], r["int8"], r["size"], r["speed"], r["int8_speed"]
        lines.append(
            f"| {r['board']} | {r['model']} | `{r['method']}` | {b['weight_bytes']:,} | {b['compress_bytes']:,} | "
            f"{b['weight_bytes'] / max(1, b['compress_bytes']):.3f} | {b['image_bytes']:,} | {t['image_bytes']:,} | "
            f"{b['ram_bytes']:,} | {t['ram_bytes']:,} | "
            f"{b['instructions']:,} | {t['instructions']:,} | {100 * (b['instructions'] / t['instructions'] - 1):+.2f} % | "
            f"{ts['instructions']:,} / {ts['image_bytes']:,} | {100 * (b['instructions'] / ts['instructions'] - 1):+.2f} % | "
            f"{z['instructions']:,} | {s['instructions']:,} / {s['weight_bytes']:,} | {b['bit_exact']} |"
        )
    lines += ["", "## Kernels per layer (default export)", ""]
    for r in rows:
        ks = ", ".join(f"{k}: {v}" for k, v in r["balanced"]["kernels"].items())
        lines.append(f"- {r['board']} {r['model']} `{r['method']}`: {ks}")
    return "\n".join(lines) + "\n"


def write_json(path: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The measurements, one row per line."""
    body = ",\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    path.write_text(f'{{"meta": {json.dumps(meta)},\n"rows": [\n{body}\n]}}\n')


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=MODELS)
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--boards", nargs="*", default=["mps2-an386"])
    ap.add_argument("--validate", type=int, default=3, help="inputs checked bit for bit on the board")
    ap.add_argument("--out", type=Path, default=RESULTS / "compressed_kernels.md")
    ap.add_argument("--report-only", action="store_true", help="rewrite the .md from the existing .json")
    args = ap.parse_args(argv)
    if args.report_only:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        args.out.write_text(markdown(saved["rows"], saved["meta"]))
        print(f"wrote {args.out}")
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    rows = run(args.models, args.methods, args.boards, args.validate)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        check=True,
        timeout=30,
        capture_output=True,
        text=True,
    ).stdout.strip()
    meta = {
        "commit": commit,
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/compressed_kernels.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(rows, meta))
    write_json(args.out.with_suffix(".json"), meta, rows)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
