"""Benchmark: compression methods on scikit-learn's digits (offline), measured on the emulated Cortex-M4.

For an MLP and a small CNN (trained here with fixed seeds) and every row of ``METHODS`` (float, int8, ternary,
binary weights, xnor, pruning, weight sharing, Deep Compression, filter and pattern pruning, low-rank;
first/last layers int8): validation accuracy, weight bytes as the C backend stores them
(compression ratio Cr against float and against int8), executed instructions per inference on QEMU mps2-an386
(speed-up Sr against int8), the share of outputs bit-exact with the host reference on the emulated board
(``validate``), and for ``.tflite`` results whether the reference equals ai-edge-litert's own kernels.

Kernel figures: an xnor dense 512->512 and an xnor 3x3 conv (32->32 channels, 16x16) against today's int8 kernel
of the same shape, and the packed ternary/binary kernels against int8, in emulated instructions (per layer).

Writes ``benchmarks/results/compression.json``, ``compression.md`` and ``compression.png`` (accuracy against
weight bytes). To add a method, append a ``MethodRow`` to ``METHODS`` (any ``edgesdk compress --method`` spec).

    python benchmarks/compression.py [--models mlp cnn] [--skip-kernels] [--board mps2-an386]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SEED = 0
log = logging.getLogger("compression")


@dataclass
class MethodRow:
    """One row of the table: a ``compress`` method spec (None: the float model itself)."""

    label: str
    method: str | None
    epochs: int = 15
    keep_int8: str = "first,last"
    distill: bool = False
    models: tuple[str, ...] = ("mlp", "cnn")


METHODS: list[MethodRow] = [
    MethodRow("float", None),
    MethodRow("int8", "int8", epochs=0),
    MethodRow("ternary", "ternary", epochs=15),
    MethodRow("binary", "binary", epochs=15),
    MethodRow("xnor", "xnor", epochs=40, distill=True),
    MethodRow("ternary (all layers)", "ternary", epochs=15, keep_int8="none"),
    MethodRow("binary (all layers)", "binary", epochs=15, keep_int8="none"),
    # Issue 9, pruning and weight sharing (figures of their own: benchmarks/pruning.py).
    MethodRow("prune 90 %", "prune=0.9", epochs=15),
    MethodRow("share 4 bit (all layers)", "share=4bit", epochs=10, keep_int8="none"),
    MethodRow("Deep Compression (all layers)", "prune=0.95,share=4bit,int8", epochs=20, keep_int8="none"),
    MethodRow("filter L1 50 %", "filter=0.5", epochs=15, models=("cnn",)),
    MethodRow("FPGM 50 %", "fpgm=0.5", epochs=15, models=("cnn",)),
    MethodRow("pattern 4 taps", "pattern=4", epochs=15, models=("cnn",)),
    # Low-rank factorization (SVD for Dense, Tucker-2 for Conv2D); figures of their own: benchmarks/lowrank.py.
    MethodRow("low-rank 16", "lowrank=16", epochs=15, models=("mlp",)),
    MethodRow("low-rank 8", "lowrank=8", epochs=15, models=("cnn",)),
]


# --- data and models ---------------------------------------------------------------------------------------
def digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = np.random.default_rng(SEED).permutation(len(x))
    tr, va = idx[:1297], idx[1297:]
    return {"x_train": x[tr], "y_train": y[tr], "x_val": x[va], "y_val": y[va]}


def build_mlp() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_mlp",
    )


def build_cnn() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="digits_cnn",
    )


MODELS = {"mlp": (build_mlp, (64,)), "cnn": (build_cnn, (8, 8, 1))}


def train_float(name: str, data: dict, out: Path) -> Path:
    import keras

    build, shape = MODELS[name]
    keras.utils.set_random_seed(SEED)
    m = build()
    m.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    m.fit(data["x_train"].reshape((-1, *shape)), data["y_train"], epochs=40, batch_size=32, verbose=0)
    path = out / f"{m.name}.keras"
    m.save(path)
    return path


# --- measurements ------------------------------------------------------------------------------------------
def on_board(fn: Any, *args: Any, attempts: int = 3, **kw: Any) -> Any:
    """``fn(*args, **kw)`` on the emulated board, started again when it did not boot in time (a loaded
    machine can delay QEMU's first bytes past the boot timeout; the counts are deterministic either way)."""
    from edgesdk.errors import TransportTimeout

    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kw)
        except TransportTimeout as e:
            if attempt == attempts:
                raise
            log.warning("%s; starting the emulator again (attempt %d of %d)", e, attempt + 1, attempts)
    raise AssertionError("unreachable")


def emulated_counts(graph: Any, board: str, pass_ctx: Any = None) -> dict[str, Any]:
    """Instructions per inference (total and per layer) of the exported model on the emulated board."""
    from edgesdk.device import connect, make_inputs
    from edgesdk.export import export

    x = make_inputs(graph, None, 1, seed=1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        built = export(graph, board, Path(tmp) / "p", build=True, pass_ctx=pass_ctx)
        with connect(built.board, built.elf) as client:
            info = client.info()
            client.load_input(x)
            (count,) = client.run(1)
            layers = client.layer_counts() if info.profile else []
    names = [n.name for n in built.graph.nodes if "fused_into" not in n.attrs]  # fused: counted in the ADD
    return {"instructions": int(count), "layers": dict(zip(names, (int(c) for c in layers), strict=False))}


def litert_equal(path: Path, n: int = 100) -> bool:
    """Reference (litert's rounding) == ai-edge-litert BUILTIN_REF on n random int8 inputs, bit for bit."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.reference import Reference

    g = read_tflite(path)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    xs = np.random.default_rng(2).integers(-128, 128, (n, *di["shape"][1:]), dtype=np.int8)
    ref = Reference(g, rounding="single").run_batch(xs).reshape(n, -1)
    for i, x in enumerate(xs):
        it.set_tensor(di["index"], x[None])
        it.invoke()
        if not np.array_equal(it.get_tensor(do["index"]).reshape(-1), ref[i]):
            return False
    return True


def run_models(names: list[str], board: str, work: Path) -> list[dict[str, Any]]:
    from edgesdk.compress import compress
    from edgesdk.device import validate
    from edgesdk.model import load_model

    data = digits()
    rows: list[dict[str, Any]] = []
    for name in names:
        _, shape = MODELS[name]
        model_path = train_float(name, data, work)
        train = (data["x_train"].reshape((-1, *shape)), data["y_train"])
        val = (data["x_val"].reshape((-1, *shape)), data["y_val"])
        int8_row: dict[str, Any] | None = None
        float_row: dict[str, Any] | None = None
        for spec in METHODS:
            if name not in spec.models:
                continue
            t0 = time.monotonic()
            log.info("%s: %s", name, spec.label)
            if spec.method is None:
                row = {"model": name, "label": spec.label, "method": None}
                rows.append(row)
                float_row = row
                continue
            suffix = ".xnor" if spec.method == "xnor" else ".tflite"
            out = work / f"{name}_{spec.label.replace(' ', '_').replace('(', '').replace(')', '')}{suffix}"
            r = compress(
                model_path,
                spec.method,
                train,
                val,
                epochs=spec.epochs,
                out=out,
                keep_int8=spec.keep_int8,
                distill=spec.distill,
                seed=SEED,
                progress=False,
            )
            graph = load_model(out)
            counts = on_board(emulated_counts, graph, board)
            v = on_board(validate, graph, board, count=20, out_dir=work / f"{out.stem}-validate")
            row = {
                "model": name,
                "label": spec.label,
                "method": spec.method,
                "epochs": spec.epochs,
                "keep_int8": spec.keep_int8,
                "distill": spec.distill,
                "accuracy": r.accuracy_compressed,
                "accuracy_float": r.accuracy_float,
                "weight_bytes": r.weight_bytes_compressed,
                "weight_bytes_float": r.weight_bytes_float,
                "weight_bytes_int8": r.weight_bytes_int8,
                "instructions": counts["instructions"],
                "layer_instructions": counts["layers"],
                "validate_exact_pct": 100.0 * v.exact / v.count,
                "litert_bit_exact": litert_equal(out) if suffix == ".tflite" else None,
                "layers": [
                    {k: la.get(k) for k in ("name", "format", "weight_bytes", "params", "macs", "bitops")}
                    for la in r.layers
                ],
                "seconds": round(time.monotonic() - t0, 1),
            }
            if float_row is not None and "accuracy" not in float_row:
                float_row.update(
                    accuracy=r.accuracy_float,
                    weight_bytes=r.weight_bytes_float,
                    weight_bytes_float=r.weight_bytes_float,
                )
            if spec.method == "int8":
                int8_row = row
            rows.append(row)
        for row in rows:
            if row["model"] != name:
                continue
            if float_row is not None and row.get("accuracy") is not None:
                row["drop_pt"] = round(100.0 * (float_row["accuracy"] - row["accuracy"]), 2)
                row["cr_vs_float"] = round(float_row["weight_bytes"] / row["weight_bytes"], 2)
            if int8_row is not None and row.get("instructions"):
                row["bytes_vs_int8"] = round(row["weight_bytes"] / int8_row["weight_bytes"], 4)
                row["sr_vs_int8"] = round(int8_row["instructions"] / row["instructions"], 2)
                packed = [la for la in row["layers"] if la["format"] in ("ternary", "binary", "xnor")]
                if packed:
                    int8_bytes = sum(la["params"] for la in packed)
                    row["packed_layers_bytes_vs_int8"] = round(
                        sum(la["weight_bytes"] for la in packed) / int8_bytes, 4
                    )
    return rows


# --- kernels -----------------------------------------------------------------------------------------------
def _q(scale: Any, zp: Any = 0, axis: int | None = None) -> Any:
    from edgesdk.ir import graph as ir

    return ir.QuantParams(np.asarray(scale, dtype=np.float64), zp, axis)


def kernel_graph(kind: str, op: str) -> Any:
    """One layer of the benchmark shapes: dense 512->512 or conv 3x3 32->32 on 16x16 (SAME)."""
    from edgesdk.ir import graph as ir
    from edgesdk.ir.binary import Binarize, UnpackBits, XnorConv2D, XnorFullyConnected
    from edgesdk.reference.binary import pack_bits, words_for

    rng = np.random.default_rng(7)
    g = ir.Graph(name=f"{kind}_{op}")
    if op == "dense":
        in_shape, out_shape, wshape = (1, 512), (1, 512), (512, 512)
    else:
        in_shape, out_shape, wshape = (1, 16, 16, 32), (1, 16, 16, 32), (32, 3, 3, 32)
    g.add_tensor(ir.Tensor("x", in_shape, "int8", _q(0.05, 3)))
    g.add_tensor(ir.Tensor("y", out_shape, "int8", _q(0.1, -2)))
    o = wshape[0]
    if kind == "xnor":
        cin = in_shape[-1]
        g.add_tensor(ir.Tensor("a", (*in_shape[:-1], 4 * words_for(cin)), "int8"))
        g.add_tensor(ir.Tensor("b", (*out_shape[:-1], 4 * words_for(o)), "int8"))
        wdata = pack_bits(rng.integers(0, 2, wshape).astype(bool)).view(np.int32)
        g.add_tensor(ir.Tensor("w", wdata.shape, "int32", data=wdata))
        thr = tuple(int(v) for v in rng.integers(-8, 8, o))
        flip = tuple(bool(v) for v in rng.integers(0, 2, o))
        nodes: list[Any] = [
            Binarize(name="binarize", inputs=["x"], outputs=["a"], channels=cin, threshold=(0,) * cin,
                     flip=(False,) * cin),
        ]  # fmt: skip
        if op == "dense":
            nodes.append(XnorFullyConnected(name="layer", inputs=["a", "w"], outputs=["b"], in_features=512,
                                            out_features=512, threshold=thr, flip=flip))  # fmt: skip
        else:
            nodes.append(XnorConv2D(name="layer", inputs=["a", "w"], outputs=["b"], in_channels=32, out_channels=32,
                                    kernel=(3, 3), stride=(1, 1), padding="SAME", pad_value=1, threshold=thr,
                                    flip=flip))  # fmt: skip
        g.tensors["y"].quant = _q(1.0, 0)
        nodes.append(UnpackBits(name="unpack", inputs=["b"], outputs=["y"], channels=o, high=1, low=-1))
    else:
        if kind == "int8":
            w = rng.integers(-127, 128, wshape)
        elif kind == "ternary":
            w = rng.choice([-127, 0, 127], size=wshape, p=[0.3, 0.4, 0.3])
        else:
            w = rng.choice([-127, 127], size=wshape)
        g.add_tensor(ir.Tensor("w", wshape, "int8", _q(rng.uniform(0.001, 0.003, o), np.zeros(o, np.int64), 0),
                               w.astype(np.int8)))  # fmt: skip
        g.add_tensor(ir.Tensor("bias", (o,), "int32", _q(np.ones(o), np.zeros(o, np.int64), 0),
                               rng.integers(-500, 500, o).astype(np.int32)))  # fmt: skip
        if op == "dense":
            nodes = [ir.FullyConnected(name="layer", inputs=["x", "w", "bias"], outputs=["y"])]
        else:
            nodes = [ir.Conv2D(name="layer", inputs=["x", "w", "bias"], outputs=["y"], padding="SAME")]
    g.inputs, g.outputs, g.nodes = ["x"], ["y"], nodes
    g.validate()
    return g


def run_kernels(board: str) -> list[dict[str, Any]]:
    from edgesdk.device import validate
    from edgesdk.passes import PassContext
    from edgesdk.weights import layer_weights

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for op in ("dense", "conv"):
            base = None
            for kind in ("int8", "ternary", "binary", "xnor"):
                g = kernel_graph(kind, op)
                # The packed kernels are forced: on a DSP core the SMLAD int8 kernel may win the speed choice,
                # and this table compares the kernels themselves.
                ctx = PassContext(
                    core="cortex-m4", force={"layer": kind} if kind in ("ternary", "binary") else {}
                )
                c = on_board(emulated_counts, g, board, ctx)
                v = on_board(validate, g, board, count=3, out_dir=Path(tmp) / f"{kind}_{op}", pass_ctx=ctx)
                from edgesdk.passes import run_pipeline

                decided = run_pipeline(g, "default", ctx)
                layer = next(n for n in decided.nodes if n.name == "layer")
                wrow = next(r for r in layer_weights(decided) if r["name"] == "layer")
                row = {
                    "op": op,
                    "kind": kind,
                    "kernel": layer.attrs.get("kernel", "int8") if kind != "xnor" else "xnor",
                    "layer_instructions": c["layers"].get("layer"),
                    "total_instructions": c["instructions"],
                    "other_layers": {k: v for k, v in c["layers"].items() if k != "layer"},
                    "weight_bytes": wrow["weight_bytes"],
                    "validate_exact_pct": 100.0 * v.exact / v.count,
                }
                if kind == "int8":
                    base = row
                assert base is not None
                row["speedup_vs_int8"] = round(base["layer_instructions"] / row["layer_instructions"], 2)
                rows.append(row)
                log.info("kernel %s %s: %s", op, kind, row)
    return rows


# --- report ------------------------------------------------------------------------------------------------
def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, marker in (("mlp", "o"), ("cnn", "s")):
        pts = [r for r in rows if r["model"] == model and r.get("weight_bytes")]
        if not pts:
            continue
        ax.plot([r["weight_bytes"] for r in pts], [100 * r["accuracy"] for r in pts], marker, label=model)
        for r in pts:
            ax.annotate(r["label"], (r["weight_bytes"], 100 * r["accuracy"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("weight bytes (as stored by the C backend)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("digits: accuracy against weight size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict[str, Any]], kernels: list[dict[str, Any]], board: str) -> str:
    out = [
        "# Compression on digits (scikit-learn), emulated Cortex-M4",
        "",
        f"Board: QEMU {board} (instructions are executed-instruction counts, not cycles). Seed {SEED}. "
        "Written by `benchmarks/compression.py`.",
        "",
        "| model | method | accuracy % | drop pt | weight B | Cr vs float | B vs int8 | packed layers B vs int8 "
        "| instructions | Sr vs int8 | validate bit-exact | litert bit-exact |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(v: Any, fmt: str = "{}") -> str:
        return "–" if v is None else fmt.format(v)

    for r in rows:
        out.append(
            f"| {r['model']} | {r['label']} | {f(r.get('accuracy') and 100 * r['accuracy'], '{:.2f}')} "
            f"| {f(r.get('drop_pt'))} | {f(r.get('weight_bytes'), '{:,}')} | {f(r.get('cr_vs_float'))} "
            f"| {f(r.get('bytes_vs_int8'))} | {f(r.get('packed_layers_bytes_vs_int8'))} "
            f"| {f(r.get('instructions'), '{:,}')} | {f(r.get('sr_vs_int8'))} "
            f"| {f(r.get('validate_exact_pct'), '{:.0f} %')} | {f(r.get('litert_bit_exact'))} |"
        )
    if kernels:
        out += [
            "",
            "## Kernels (one layer, instructions of that layer on the emulated board)",
            "",
            "| shape | weights | kernel | instructions | speed-up vs int8 | weight B | validate |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in kernels:
            shape = "dense 512→512" if k["op"] == "dense" else "conv 3×3 32→32, 16×16"
            out.append(
                f"| {shape} | {k['kind']} | {k['kernel']} | {k['layer_instructions']:,} | {k['speedup_vs_int8']} "
                f"| {k['weight_bytes']:,} | {k['validate_exact_pct']:.0f} % |"
            )
        out.append("")
        out.append(
            "xnor rows count the XNOR layer alone; its int8→bits (binarize) and bits→int8 (unpack) neighbours are "
            "listed in `compression.json` (`other_layers`)."
        )
    out += ["", "![accuracy against weight bytes](compression.png)", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--skip-kernels", action="store_true")
    ap.add_argument("--skip-models", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [] if args.skip_models else run_models(args.models, args.board, Path(tmp))
    kernels = [] if args.skip_kernels else run_kernels(args.board)
    data = {
        "board": args.board,
        "seed": SEED,
        "methods": [asdict(m) for m in METHODS],
        "rows": rows,
        "kernels": kernels,
    }
    (args.out / "compression.json").write_text(json.dumps(data, indent=2) + "\n")
    if rows:
        plot(rows, args.out / "compression.png")
    (args.out / "compression.md").write_text(markdown(rows, kernels, args.board))
    print((args.out / "compression.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
