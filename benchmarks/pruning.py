"""Benchmark: pruning and weight sharing on load_digits, executed on the emulated Cortex-M4 (mps2-an386).

Figures (issue 9): an MLP (LeNet-300-100 style) and a small CNN with Deep Compression's pipeline
(``prune=…,share=4bit,int8``): weight bytes as the C backend stores them against float32, accuracy of the
written int8 file; filter pruning (L1 and FPGM) of half the CNN's filters and pattern pruning: executed
instructions per inference against the dense int8 model; a 90 %-sparse 512x512 dense layer: flash and
instructions of the sparse kernel against the dense int8 kernel. Every compressed model is validated bit-exact
on the emulated board against the reference. Writes ``benchmarks/results/pruning.json`` and ``.md``.

    python benchmarks/pruning.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
BOARD = "mps2-an386"
DC_METHOD = "prune=0.95,share=4bit,int8"  # Deep Compression: prune, share, int8
log = logging.getLogger("pruning")


def digits(flat: bool) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    x = x if flat else x.reshape(-1, 8, 8, 1)
    xt, xv, yt, yv = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    return (xt, yt.astype(np.int64)), (xv, yv.astype(np.int64))


def mlp() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(300, activation="relu", name="fc1"),
            keras.layers.Dense(100, activation="relu", name="fc2"),
            keras.layers.Dense(10, name="fc3"),
        ],
        name="lenet_300_100",
    )


def cnn() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(64, activation="relu", name="fc1"),
            keras.layers.Dense(10, name="fc2"),
        ],
        name="digits_cnn",
    )


def train(model: Any, data: Any, val: Any, epochs: int) -> Any:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(*data, validation_data=val, epochs=epochs, batch_size=32, verbose=0)
    return model


def on_board(tflite: Path, work: Path, optimize: str = "speed", validate_count: int = 10) -> dict[str, Any]:
    """Export to the emulated board: per-layer instructions, constant bytes, kernels, bit-exact validation."""
    from edgesdk.commands.device import connect, make_inputs, validate
    from edgesdk.commands.export import export
    from edgesdk.frontends.tflite import read_tflite

    graph = read_tflite(tflite)
    built = export(graph, BOARD, work / f"{tflite.stem}-{optimize}", build=True, optimize=optimize)
    x = make_inputs(graph, None, 1)[0]
    with connect(built.board, built.elf) as client:
        client.load_input(x)
        counts = client.run(1)
        layers = client.layer_counts()
    from edgesdk.backends.c import generate_c

    project = generate_c(built.graph, work / f"{tflite.stem}-{optimize}-c", plan=built.plan)
    names = [n.name for n in built.graph.nodes if n.op not in ("QUANTIZE", "DEQUANTIZE")]
    kernels = {k["layer"]: k["kernel"] for k in built.report.get("kernels", [])}
    summary = validate(graph, BOARD, count=validate_count, out_dir=work / f"{tflite.stem}-validate")
    return {
        "instructions": int(counts[-1]),
        "layer_instructions": dict(zip(names, [int(c) for c in layers], strict=False)),
        "flash_const_bytes": int(project.flash_bytes),
        "layer_flash": project.layer_flash,
        "kernels": kernels,
        "kernel_report": built.report.get("kernels", []),
        "validate_exact": f"{summary.exact}/{summary.count}",
        "weight_bytes": int(sum(w["weight_bytes"] for w in built.report.get("weights", []))),
        "flash_total": built.size.flash if built.size else None,
    }


def run_compress(model: Any, method: str, data: Any, val: Any, work: Path, **kw: Any) -> dict[str, Any]:
    from edgesdk.compress import compress

    out = work / f"{model.name}_{method.replace('=', '').replace(',', '_').replace('.', '')}.tflite"
    res = compress(model, method, data, val, out=out, progress=False, board=BOARD, **kw)
    d = res.to_dict()
    d["ratio_float_over_compressed"] = round(res.weight_bytes_float / max(1, res.weight_bytes_compressed), 2)
    d["drop_pt"] = round(100 * (res.accuracy_float - res.accuracy_compressed), 2)
    return d


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs, to try the script")
    ap.add_argument(
        "--only", nargs="*", default=None, help="sections to run (mlp share cnn filter pattern sparse512)"
    )
    ap.add_argument("--replot", action="store_true", help="only redraw the plot and table from pruning.json")
    args = ap.parse_args()
    if args.replot:
        results = json.loads((RESULTS / "pruning.json").read_text())
        (RESULTS / "pruning.md").write_text(markdown(results))
        plot(results, RESULTS / "pruning.png")
        return 0
    ep_float = 5 if args.quick else 60
    ep_ft = 2 if args.quick else 30
    from compression import git_commit

    results: dict[str, Any] = {
        "board": BOARD,
        "commit": git_commit(),
        "export": "--optimize speed (the speed kernels)",
    }
    only = set(args.only) if args.only else {"mlp", "share", "cnn", "filter", "pattern", "sparse512"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "mlp" in only:
            data, val = digits(flat=True)
            m = train(mlp(), data, val, ep_float)
            base = run_compress(m, "int8", data, val, work, epochs=0)
            dc = run_compress(m, DC_METHOD, data, val, work, epochs=ep_ft, keep_int8="")
            results["mlp"] = {
                "int8": base,
                "deep_compression": dc,
                "board_int8": on_board(Path(base["out"]), work),
                "board_compressed": on_board(Path(dc["out"]), work),
                "board_compressed_size": on_board(Path(dc["out"]), work, optimize="size"),
            }
            _print("mlp", results["mlp"])
        if "share" in only:
            data, val = digits(flat=True)
            m = train(mlp(), data, val, ep_float)
            base = run_compress(m, "int8", data, val, work, epochs=0)
            sh = run_compress(m, "share=4bit,int8", data, val, work, epochs=ep_ft, keep_int8="")
            results["share"] = {
                "compressed": sh,
                "board_int8": on_board(Path(base["out"]), work),
                "board": on_board(Path(sh["out"]), work),
            }
            _print("share", results["share"])
        if {"cnn", "filter", "pattern"} & only:
            data, val = digits(flat=False)
            c = train(cnn(), data, val, ep_float)
            base = run_compress(c, "int8", data, val, work, epochs=0)
            results["cnn_int8"] = {"int8": base, "board": on_board(Path(base["out"]), work)}
            if "cnn" in only:
                dc = run_compress(c, DC_METHOD, data, val, work, epochs=ep_ft, keep_int8="first")
                results["cnn"] = {
                    "deep_compression": dc,
                    "board_compressed": on_board(Path(dc["out"]), work),
                    "board_compressed_size": on_board(Path(dc["out"]), work, optimize="size"),
                }
                _print("cnn", results["cnn"])
            if "filter" in only:
                for how in ("filter", "fpgm"):
                    f = run_compress(c, f"{how}=0.5,int8", data, val, work, epochs=ep_ft)
                    results[how] = {"compressed": f, "board": on_board(Path(f["out"]), work)}
                    _print(how, results[how])
            if "pattern" in only:
                p = run_compress(c, "pattern=4,int8", data, val, work, epochs=ep_ft)
                results["pattern"] = {"compressed": p, "board": on_board(Path(p["out"]), work)}
                _print("pattern", results["pattern"])
        if "sparse512" in only:
            results["sparse512"] = sparse_layer(work)
            _print("sparse512", results["sparse512"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "pruning_quick" if args.quick else "pruning"
    if args.only and (RESULTS / f"{name}.json").is_file():  # a partial run updates its sections only
        results = {**json.loads((RESULTS / f"{name}.json").read_text()), **results}
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown(results))
    plot(results, RESULTS / f"{name}.png")
    return 0


def _rows(r: dict[str, Any]) -> list[tuple[str, dict[str, Any], int, dict[str, Any]]]:
    base_cnn = r.get("cnn_int8", {}).get("board", {}).get("instructions")
    rows = []
    if "mlp" in r:
        rows.append(
            (
                "MLP " + r["mlp"]["deep_compression"]["method"],
                r["mlp"]["deep_compression"],
                r["mlp"]["board_int8"]["instructions"],
                r["mlp"]["board_compressed"],
            )
        )
    if "cnn" in r:
        rows.append(
            (
                "CNN " + r["cnn"]["deep_compression"]["method"],
                r["cnn"]["deep_compression"],
                base_cnn,
                r["cnn"]["board_compressed"],
            )
        )
    if "share" in r:
        sh = r["share"]
        rows.append(
            (
                "MLP " + sh["compressed"]["method"],
                sh["compressed"],
                sh["board_int8"]["instructions"],
                sh["board"],
            )
        )
    for k in ("filter", "fpgm", "pattern"):
        if k in r:
            rows.append((f"CNN {r[k]['compressed']['method']}", r[k]["compressed"], base_cnn, r[k]["board"]))
    return rows


def plot(r: dict[str, Any], path: Path) -> Path:
    """Two panels: weight bytes (float32, int8, compressed) and instructions (int8 vs compressed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = _rows(r)
    names = [n.replace(",int8", "").replace("share=", "share ") for n, *_ in rows]
    y = np.arange(len(rows))
    fig = Figure(figsize=(10, 1.2 + 0.6 * len(rows)))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    ax1.barh(y + 0.27, [c["weight_bytes_float"] for _, c, _, _ in rows], 0.27, label="float32")
    ax1.barh(y, [c["weight_bytes_int8"] for _, c, _, _ in rows], 0.27, label="int8 (of the compressed model)")
    ax1.barh(y - 0.27, [c["weight_bytes_compressed"] for _, c, _, _ in rows], 0.27, label="compressed")
    ax1.set_xscale("log")
    ax1.set_xlabel("weight bytes (log)")
    ax1.set_yticks(y, names)
    ax1.legend(fontsize=8)
    ax2.barh(y + 0.2, [b / 1e6 for _, _, b, _ in rows], 0.4, label="dense int8")
    ax2.barh(y - 0.2, [d["instructions"] / 1e6 for _, _, _, d in rows], 0.4, label="compressed kernels")
    ax2.set_xlabel("million instructions per inference (emulated Cortex-M4)")
    ax2.legend(fontsize=8)
    fig.suptitle("load_digits: pruning and weight sharing on mps2-an386")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def sparse_layer(work: Path) -> dict[str, Any]:
    """One 512x512 Dense layer, magnitude-pruned to 90 %, int8: dense kernel vs the kernel the pass picks."""
    import keras

    from edgesdk.compress.prune import _magnitude_mask
    from edgesdk.frontends.keras import quantize_keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [keras.Input((512,), batch_size=1), keras.layers.Dense(512, name="fc512")], name="fc512"
    )
    w, b = m.layers[0].get_weights()
    m.layers[0].set_weights([w * _magnitude_mask(w, 0.9), b])
    calib = np.random.default_rng(0).normal(size=(64, 512)).astype(np.float32)
    path = work / "fc512.tflite"
    path.write_bytes(quantize_keras(m, calib, num_samples=None))
    dense = _forced(path, work, "dense")
    sparse = on_board(path, work)
    return {"dense": dense, "picked": sparse}


def _forced(tflite: Path, work: Path, kernel: str) -> dict[str, Any]:
    from edgesdk.backends.c import generate_c
    from edgesdk.commands.device import connect, make_inputs
    from edgesdk.commands.export import export
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.passes import PassContext

    graph = read_tflite(tflite)
    ctx = PassContext(core="cortex-m4", force={"*": kernel})
    built = export(graph, BOARD, work / f"{tflite.stem}-{kernel}", build=True, pass_ctx=ctx)
    x = make_inputs(graph, None, 1)[0]
    with connect(built.board, built.elf) as client:
        client.load_input(x)
        counts = client.run(1)
    project = generate_c(built.graph, work / f"{tflite.stem}-{kernel}-c", plan=built.plan)
    return {
        "instructions": int(counts[-1]),
        "flash_const_bytes": project.flash_bytes,
        "layer_flash": project.layer_flash,
    }


def _print(name: str, d: Any) -> None:
    sys.stdout.write(f"== {name}\n{json.dumps(d, indent=1, default=str)[:3000]}\n")
    sys.stdout.flush()


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Pruning and weight sharing on load_digits (emulated mps2-an386)",
        "",
        f"Commit `{r.get('commit', 'unknown')}`. Main table: the speed export (`export --optimize speed`) for "
        f"{r['board']}: its weight bytes and executed instructions per inference (QEMU -icount, not cycles); the "
        "`--optimize size` bytes beside them. Accuracy: `compress`'s figure on the validation split, on which it "
        "chose the epoch and the int8 layers (optimistic; `benchmarks/compression.py` has test-split figures).",
        "",
    ]
    lines.append(
        "| experiment | accuracy float | accuracy int8 compressed | drop (pt) | weight bytes float | compressed (default export) | ratio | compressed (--optimize size) | instructions int8 | instructions compressed | bit-exact on board |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    base_cnn = r.get("cnn_int8", {}).get("board", {}).get("instructions")
    rows = []
    if "mlp" in r:
        rows.append(
            (
                "MLP " + DC_METHOD + "",
                r["mlp"]["deep_compression"],
                r["mlp"]["board_int8"]["instructions"],
                r["mlp"]["board_compressed"],
            )
        )
    if "cnn" in r:
        rows.append(
            ("CNN " + DC_METHOD + "", r["cnn"]["deep_compression"], base_cnn, r["cnn"]["board_compressed"])
        )
    if "share" in r:
        sh = r["share"]
        rows.append(
            (
                "MLP " + sh["compressed"]["method"],
                sh["compressed"],
                sh["board_int8"]["instructions"],
                sh["board"],
            )
        )
    for k in ("filter", "fpgm", "pattern"):
        if k in r:
            rows.append((f"CNN {r[k]['compressed']['method']}", r[k]["compressed"], base_cnn, r[k]["board"]))
    for name, c, base, board in rows:
        lines.append(
            f"| {name} | {c['accuracy_float']:.4f} | {c['accuracy_compressed']:.4f} | {c['drop_pt']} | "
            f"{c['weight_bytes_float']:,} | {c['weight_bytes_compressed']:,} | {c['ratio_float_over_compressed']}x | "
            f"{c.get('weight_bytes_size_export', 0):,} | {base:,} | {board['instructions']:,} ({base / board['instructions']:.2f}x) | {board['validate_exact']} |"
        )
    size_rows = [(k.upper(), r[k]) for k in ("mlp", "cnn") if "board_compressed_size" in r.get(k, {})]
    if size_rows:
        lines += [
            "",
            '## Deep Compression exported for size (`PassContext(optimize="size")`)',
            "",
            "The rows above are the speed export (`--optimize speed`). Optimizing for size, the shared",
            "weights are stored as 4-bit codes in the relative-index entries (codebooks shared between rows):",
            "",
            "| model | weight bytes | ratio vs float32 | instructions | kernels | bit-exact on board |",
            "|---|---|---|---|---|---|",
        ]
        for name, d in size_rows:
            b = d["board_compressed_size"]
            fl = d["deep_compression"]["weight_bytes_float"]
            kinds = ", ".join(sorted(set(b["kernels"].values())))
            lines.append(
                f"| {name} | {b['weight_bytes']:,} | {fl / b['weight_bytes']:.1f}x | {b['instructions']:,} | "
                f"{kinds} | {b['validate_exact']} |"
            )
    if "sparse512" in r:
        d, p = r["sparse512"]["dense"], r["sparse512"]["picked"]
        lines += [
            "",
            "## 90 %-sparse 512x512 dense layer",
            "",
            f"- kernel picked: {p['kernels']}; constant bytes {p['flash_const_bytes']:,} vs dense int8 "
            f"{d['flash_const_bytes']:,} ({p['flash_const_bytes'] / d['flash_const_bytes']:.3f}x)",
            f"- instructions {p['instructions']:,} vs dense int8 {d['instructions']:,} "
            f"({d['instructions'] / p['instructions']:.2f}x fewer); bit-exact on board {p['validate_exact']}",
        ]
    lines += [
        "",
        "Weight bytes: the weight tensors as the C backend stores them with the kernels the passes pick (biases and",
        "requantization arrays are the same for every format and not counted; `flash_const_bytes` in the JSON has",
        "every constant). Instructions: SysTick under QEMU -icount (executed instructions, not cycles).",
        "",
        "![weight bytes and instructions](pruning.png)",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
