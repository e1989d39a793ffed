"""Benchmark: ``edgesdk compress`` with its DEFAULT settings on small real tasks, three seeds, a held-out test split.

Two tasks, each a small network trained here in float on few samples (the situation of a keyword-spotting model
trained on a few hundred recordings):

- ``mnist1d``: MNIST-1D (Greydanus 2020; the ``mnist1d`` package builds it locally, no download): 40-sample 1-D
  signals, 10 classes; a DS-CNN-like network (conv 5x1 stride 2, three depthwise 3x1 + pointwise 1x1 blocks with
  BatchNorm, dense 10; 17 k weights) on 800 training samples, 200 validation samples, the package's 1,000 test
  samples;
- ``digits``: scikit-learn's 8x8 digits, a CNN (conv 16, conv 32 stride 2, conv 32, dense 10) on 1,000 training,
  300 validation and 497 test samples.

For seeds 0, 1 and 2 (the float model's initialization, the train/val draw and ``compress --seed``) every method of
``METHODS`` runs with ``compress``'s defaults (epochs, schedule, best epoch, ``--keep-int8 auto``, distillation,
BatchNorm re-estimation), nothing chosen per task. Accuracy is measured on the TEST split, which neither
training nor the choice of epochs and int8 layers saw (``compress`` chooses on the validation split, so its own
figure is optimistic and is listed apart); the written ``.tflite`` runs in ai-edge-litert. Per row also: weight
bytes of the default export (``passes.DEFAULT_OPTIMIZE``) and of ``--optimize size`` for the board, exact int8 zeros per
weight layer of the written file, the layers kept int8, and with ``--instructions`` (seed 0) the executed
instructions per inference on the emulated board.

Writes ``benchmarks/results/compression.json`` and ``compression.md`` (with the commit and export mode) and
``compression.png``. ``tests/test_compression_results.py`` recomputes the deterministic figures of the int8 rows
(bytes) in CI and compares them with the JSON, so a change cannot leave the file stale.

    python benchmarks/compression.py [--tasks mnist1d digits] [--seeds 0 1 2] [--instructions] [--kernels]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
BOARD = "mps2-an386"
SEEDS = (0, 1, 2)
log = logging.getLogger("compression")


@dataclass
class MethodRow:
    """One row of the table: a ``compress --method`` spec with every other setting at its default (None: float)."""

    label: str
    method: str | None


METHODS: list[MethodRow] = [
    MethodRow("float", None),
    MethodRow("int8", "int8"),
    MethodRow("ternary", "ternary"),
    MethodRow("binary", "binary"),
    MethodRow("prune 0.8", "prune=0.8"),
    MethodRow("prune 0.8 + share 4 bit", "prune=0.8,share=4bit,int8"),
]


def git_commit() -> str:
    """The checked-out commit (short hash, ``+changes`` when the tree differs from it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True, timeout=30,
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, check=True,
                               timeout=30, capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


# --- tasks -------------------------------------------------------------------------------------------------
Split = tuple[np.ndarray, np.ndarray]


def mnist1d_task(seed: int) -> tuple[Split, Split, Split]:
    """(train 800, val 200, test 1000) of MNIST-1D as (N, 40, 1, 1) images; the train/val draw depends on seed."""
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())  # built locally, deterministic (the package's own seed)
    x, y = d["x"].astype(np.float32).reshape(-1, 40, 1, 1), d["y"].astype(np.int64)
    idx = np.random.default_rng(seed).permutation(len(x))
    tr, va = idx[:800], idx[800:1000]
    test = (d["x_test"].astype(np.float32).reshape(-1, 40, 1, 1), d["y_test"].astype(np.int64))
    return (x[tr], y[tr]), (x[va], y[va]), test


def digits_task(seed: int) -> tuple[Split, Split, Split]:
    """(train 1000, val 300, test 497) of scikit-learn's digits as (N, 8, 8, 1) images in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)
    y = d.target.astype(np.int64)
    test_idx = np.random.default_rng(1000).permutation(len(x))  # one fixed test split for every seed
    test, pool = test_idx[:497], test_idx[497:]
    pool = pool[np.random.default_rng(seed).permutation(len(pool))]
    return (x[pool[:1000]], y[pool[:1000]]), (x[pool[1000:]], y[pool[1000:]]), (x[test], y[test])


def build_dscnn() -> Any:
    """A DS-CNN-like network for 40x1 signals (the shape of a small keyword-spotting model)."""
    import keras

    inp = keras.Input((40, 1, 1))
    h = keras.layers.Conv2D(32, (5, 1), strides=(2, 1), padding="same", use_bias=False, name="conv1")(inp)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn1")(h))
    for i, (c, s) in enumerate([(48, 1), (64, 2), (64, 1)], start=1):
        h = keras.layers.DepthwiseConv2D(
            (3, 1), strides=(s, 1), padding="same", use_bias=False, name=f"dw{i}"
        )(h)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization(name=f"dw{i}_bn")(h))
        h = keras.layers.Conv2D(c, 1, use_bias=False, name=f"pw{i}")(h)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization(name=f"pw{i}_bn")(h))
    out = keras.layers.Dense(10, name="fc")(keras.layers.Flatten()(h))
    return keras.Model(inp, out, name="mnist1d_dscnn")


def build_digits_cnn() -> Any:
    import keras

    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="fc"),
        ],
        name="digits_cnn",
    )


#: task -> (data of a seed, model builder, float training epochs)
TASKS = {"mnist1d": (mnist1d_task, build_dscnn, 80), "digits": (digits_task, build_digits_cnn, 40)}


def train_float(task: str, seed: int, train: Split) -> Any:
    """The float model of ``task`` trained from seed ``seed`` (Adam 3e-3 with cosine decay, batch 32)."""
    import keras

    _, build, epochs = TASKS[task]
    keras.utils.set_random_seed(seed)
    m = build()
    steps = epochs * int(np.ceil(len(train[0]) / 32))
    m.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    m.fit(*train, epochs=epochs, batch_size=32, verbose=0)
    return m


def top1(model: Any, data: Split) -> float:
    return float(np.mean(np.argmax(model.predict(data[0], batch_size=256, verbose=0), axis=-1) == data[1]))


def written_zeros(path: Path) -> dict[str, float]:
    """Share of exact int8 zeros in each weight layer of the written ``.tflite`` (IR layer names)."""
    from edgesdk.frontends.tflite import read_tflite

    g = read_tflite(path)
    ops = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    return {n.name: round(float(np.mean(g.tensor(n.inputs[1]).data == 0)), 4) for n in g.nodes if n.op in ops}


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
    from edgesdk.commands.device import connect, make_inputs
    from edgesdk.commands.export import export

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


def run_row(
    task: str,
    seed: int,
    spec: MethodRow,
    model: Any,
    data: tuple[Split, Split, Split],
    work: Path,
    instructions: bool,
) -> dict[str, Any]:
    """One method on one task and seed: ``compress`` with its defaults, then the test split on the written file."""
    from edgesdk.compress import compress, evaluate_tflite

    train, val, test = data
    out = work / f"{task}_{seed}_{spec.label.replace(' ', '_').replace('+', '')}.tflite"
    t0 = time.monotonic()
    r = compress(model, spec.method, train, val, out=out, seed=seed, board=BOARD, progress=False)
    row: dict[str, Any] = {
        "task": task,
        "seed": seed,
        "label": spec.label,
        "method": r.method,
        "accuracy_test": evaluate_tflite(out.read_bytes(), *test),
        "accuracy_val_optimistic": r.accuracy_compressed,
        "weight_bytes": r.weight_bytes_compressed,
        "weight_bytes_size_export": r.weight_bytes_size_export,
        "weight_bytes_int8": r.weight_bytes_int8,
        "weight_bytes_float": r.weight_bytes_float,
        "keep_int8": r.keep_int8,
        "distill": r.distill,
        "epochs": r.epochs,
        "best_epochs": [f["best_epoch"] for f in r.fits],
        "zeros": written_zeros(out),
        "pruned_layers": [la["name"] for la in r.layers if str(la.get("target", "")).startswith("sparse")],
        "layers": [
            {
                k: la.get(k)
                for k in (
                    "name",
                    "keras_name",
                    "format",
                    "weight_bytes",
                    "size_format",
                    "size_weight_bytes",
                    "params",
                    "sensitivity_drop_pt",
                )
            }
            for la in r.layers
        ],  # fmt: skip
    }
    if instructions:
        from edgesdk.compiler.model import load_model

        row["instructions"] = on_board(emulated_counts, load_model(out), BOARD)["instructions"]
    row["seconds"] = round(time.monotonic() - t0, 1)
    log.info("%s seed %d %s: test %.4f, %s", task, seed, spec.label, row["accuracy_test"],
             {k: row[k] for k in ("weight_bytes", "weight_bytes_size_export", "keep_int8", "best_epochs")})  # fmt: skip
    return row


def run_tasks(
    tasks: list[str], seeds: list[int], work: Path, instructions: bool, done: list[dict]
) -> list[dict]:
    """Every method on every task and seed; rows already in ``done`` (same task, seed, label) are kept."""
    rows = list(done)
    have = {(r["task"], r["seed"], r["label"]) for r in rows}
    for task in tasks:
        for seed in seeds:
            if all((task, seed, m.label) in have for m in METHODS):
                continue
            data = TASKS[task][0](seed)
            model = train_float(task, seed, data[0])
            for spec in METHODS:
                if (task, seed, spec.label) in have:
                    continue
                if spec.method is None:
                    row = {"task": task, "seed": seed, "label": spec.label, "method": None,
                           "accuracy_test": top1(model, data[2]), "accuracy_val_optimistic": top1(model, data[1])}  # fmt: skip
                else:
                    row = run_row(task, seed, spec, model, data, work, instructions and seed == seeds[0])
                rows.append(row)
                save_partial(rows)
    return rows


def save_partial(rows: list[dict]) -> None:
    """Rows so far (a re-run continues from them with ``--resume``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compression_partial.json").write_text(json.dumps(rows, indent=1) + "\n")


def summary(rows: list[dict]) -> list[dict]:
    """Per task and method: test accuracy mean and spread (sample std) over the seeds, drop against float."""
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        floats = {r["seed"]: r["accuracy_test"] for r in rows if r["task"] == task and r["method"] is None}
        for m in METHODS:
            rs = [r for r in rows if r["task"] == task and r["label"] == m.label]
            if not rs:
                continue
            acc = np.array([r["accuracy_test"] for r in rs])
            drop = np.array([floats[r["seed"]] - r["accuracy_test"] for r in rs if r["seed"] in floats])
            entry = {
                "task": task,
                "label": m.label,
                "seeds": [r["seed"] for r in rs],
                "accuracy_test_mean": float(acc.mean()),
                "accuracy_test_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "drop_pt_mean": float(100 * drop.mean()) if len(drop) else None,
                "drop_pt_max": float(100 * drop.max()) if len(drop) else None,
            }
            if m.method is not None:
                entry["weight_bytes"] = sorted({r["weight_bytes"] for r in rs})
                entry["weight_bytes_size_export"] = sorted({r["weight_bytes_size_export"] for r in rs})
                entry["weight_bytes_float"] = rs[0]["weight_bytes_float"]
                pruned = [r["zeros"][n] for r in rs for n in r.get("pruned_layers", [])]
                entry["min_zeros_in_pruned_layers"] = min(pruned) if pruned else None
            out.append(entry)
    return out


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
    from edgesdk.commands.device import validate
    from edgesdk.numerics.weights import layer_weights
    from edgesdk.passes import PassContext

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
def plot(summ: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, task in zip(axes, ("mnist1d", "digits"), strict=True):
        pts = [s for s in summ if s["task"] == task]
        for s in pts:
            size = s.get("weight_bytes_size_export", [s.get("weight_bytes_float")])
            b = size[0] if isinstance(size, list) else size
            b = b or next((p["weight_bytes_float"] for p in pts if p.get("weight_bytes_float")), 1)
            ax.errorbar([b], [100 * s["accuracy_test_mean"]], yerr=[100 * s["accuracy_test_std"]], fmt="o",
                        capsize=3)  # fmt: skip
            ax.annotate(s["label"], (b, 100 * s["accuracy_test_mean"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("weight bytes (--optimize size export; float: float32)")
        ax.set_ylabel("test accuracy % (mean ± std over seeds)")
        ax.set_title(task)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(data: dict[str, Any]) -> str:
    rows, summ = data["rows"], data["summary"]
    out = [
        "# `edgesdk compress` with default settings on small real tasks",
        "",
        f"Commit `{data['commit']}`; bytes are the weight tensors as the C backend stores them in the default "
        f"export (`export --optimize {data['export']['optimize']}`) for {data['board']}, and with `--optimize size` where labelled; "
        "instructions (when measured) are executed instructions per inference on the emulated board (QEMU "
        f"{data['board']}, default export). Seeds {', '.join(map(str, data['seeds']))}. Written by "
        "`benchmarks/compression.py`.",
        "",
        "Every method runs with `compress`'s defaults: "
        + data["defaults"]
        + ". Accuracy is on the TEST split "
        "(neither training nor the choice of epochs and int8 layers saw it); `val` is `compress`'s own figure on "
        "the validation split it chose on (optimistic).",
        "",
        "## Mean and spread over the seeds (test accuracy)",
        "",
        "| task | method | test accuracy % (mean ± std) | drop vs float pt (mean / worst seed) | weight B default export "
        "| weight B --optimize size | min exact zeros in pruned layers |",
        "|---|---|---|---|---|---|---|",
    ]

    def b(v: Any) -> str:
        if v is None:
            return "–"
        return " / ".join(f"{x:,}" for x in v) if isinstance(v, list) else f"{v:,}"

    for s in summ:
        drop = "–" if s["label"] == "float" else f"{s['drop_pt_mean']:.2f} / {s['drop_pt_max']:.2f}"
        z = s.get("min_zeros_in_pruned_layers")
        out.append(
            f"| {s['task']} | {s['label']} | {100 * s['accuracy_test_mean']:.2f} ± {100 * s['accuracy_test_std']:.2f} "
            f"| {drop} | {b(s.get('weight_bytes', [s.get('weight_bytes_float')] if s['label'] != 'float' else None))} "
            f"| {b(s.get('weight_bytes_size_export'))} | {'–' if z is None else f'{100 * z:.1f} %'} |"
        )
    out += [
        "",
        "## Per seed",
        "",
        "| task | seed | method | test % | float test % | val % (optimistic) | weight B default | weight B size "
        "| kept int8 | best epoch(s) | exact zeros per layer (written file) | instructions |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    floats = {(r["task"], r["seed"]): r["accuracy_test"] for r in rows if r["method"] is None}
    for r in rows:
        if r["method"] is None:
            continue
        zeros = ", ".join(f"{n} {100 * v:.1f} %" for n, v in r["zeros"].items() if v >= 0.05) or "–"
        instr = f"{r['instructions']:,}" if "instructions" in r else "–"
        out.append(
            f"| {r['task']} | {r['seed']} | {r['label']} | {100 * r['accuracy_test']:.2f} "
            f"| {100 * floats[(r['task'], r['seed'])]:.2f} | {100 * r['accuracy_val_optimistic']:.2f} "
            f"| {r['weight_bytes']:,} | {r['weight_bytes_size_export']:,} | {', '.join(r['keep_int8']) or '–'} "
            f"| {', '.join(map(str, r['best_epochs'])) or '–'} | {zeros} | {instr} |"
        )
    kern = data.get("kernels") or []
    if kern:
        out += [
            "",
            "## Kernels (one layer, instructions of that layer on the emulated board)",
            "",
            "| shape | weights | kernel | instructions | speed-up vs int8 | weight B | validate |",
            "|---|---|---|---|---|---|---|",
        ]
        for k in kern:
            shape = "dense 512→512" if k["op"] == "dense" else "conv 3×3 32→32, 16×16"
            out.append(
                f"| {shape} | {k['kind']} | {k['kernel']} | {k['layer_instructions']:,} | {k['speedup_vs_int8']} "
                f"| {k['weight_bytes']:,} | {k['validate_exact_pct']:.0f} % |"
            )
    out += ["", "![test accuracy against weight bytes](compression.png)", ""]
    return "\n".join(out)


def defaults_text() -> str:
    from edgesdk.compress import DEFAULT_DISTILL
    from edgesdk.compress.base import DEFAULT_EPOCHS, DEFAULT_LR, WARMUP

    return (
        f"{DEFAULT_EPOCHS} epochs per fine-tuning stage, Adam {DEFAULT_LR:g} with {WARMUP:.0%} linear warm-up and "
        "cosine decay, the best validation epoch restored, `--keep-int8 auto`, distillation "
        f"{'on' if DEFAULT_DISTILL else 'off'}, BatchNorm statistics re-estimated before conversion"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    ap.add_argument(
        "--instructions", action="store_true", help="count instructions on the board (first seed)"
    )
    ap.add_argument("--kernels", action="store_true", help="also the one-layer kernel table")
    ap.add_argument("--resume", action="store_true", help="keep the rows of compression_partial.json")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    from edgesdk.passes import DEFAULT_OPTIMIZE

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    commit = git_commit()  # the code as it was when the run started
    args.out.mkdir(parents=True, exist_ok=True)
    partial = RESULTS / "compression_partial.json"
    done = json.loads(partial.read_text()) if args.resume and partial.is_file() else []
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_tasks(args.tasks, args.seeds, Path(tmp), args.instructions, done)
    kernels = run_kernels(BOARD) if args.kernels else []
    data = {
        "commit": commit,
        "board": BOARD,
        "export": {"board": BOARD, "optimize": DEFAULT_OPTIMIZE},
        "seeds": args.seeds,
        "defaults": defaults_text(),
        "methods": [asdict(m) for m in METHODS],
        "summary": summary(rows),
        "rows": rows,
        "kernels": kernels,
    }
    (args.out / "compression.json").write_text(json.dumps(data, indent=1) + "\n")
    plot(data["summary"], args.out / "compression.png")
    (args.out / "compression.md").write_text(markdown(data))
    partial.unlink(missing_ok=True)
    print((args.out / "compression.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
