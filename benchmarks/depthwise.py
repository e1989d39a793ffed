"""Depthwise-separable models on the emulated Cortex-M4 (mps2-an386): per-layer instructions and the arena.

Builds a MobileNetV1-0.25-shaped Keras model on 96x96x3 (the VWW architecture of MLPerf Tiny: 13 depthwise-separable
blocks, alpha 0.25, random weights, fixed seed) and quantizes it to int8 with the real TFLite converter on random
calibration data, then exports it for mps2-an386 and runs it on the emulated board: executed instructions per
inference (QEMU -icount, not cycles) per layer and per op type, MACs per instruction, the arena against the
planner's lower bound, and whether the board's outputs equal the reference bit for bit. Writes
``benchmarks/results/depthwise.json`` and ``depthwise.md``.

    python benchmarks/depthwise.py [--tflite OUT.tflite] [--validate 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from gitstate import commit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))  # speed.kernel_code_bytes
RESULTS = REPO / "benchmarks" / "results"
log = logging.getLogger("depthwise")

#: (filters at alpha 1, stride) of MobileNetV1's 13 depthwise-separable blocks (Howard et al., 2017).
MOBILENET_V1_BLOCKS = [
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
]  # fmt: skip


def mobilenet_v1(input_shape=(96, 96, 3), alpha: float = 0.25, classes: int = 2, seed: int = 0):
    """A MobileNetV1 (alpha ``alpha``) Keras model with random weights: conv 3x3 s2, 13 depthwise-separable
    blocks (depthwise 3x3 + BN + ReLU6, pointwise 1x1 + BN + ReLU6), global average pool, dense, softmax."""
    import keras

    keras.utils.set_random_seed(seed)
    x = inp = keras.Input(input_shape, batch_size=1)
    x = keras.layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(6.0)(x)
    for filters, stride in MOBILENET_V1_BLOCKS:
        x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU(6.0)(x)
        x = keras.layers.Conv2D(int(filters * alpha), 1, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(classes)(x)
    out = keras.layers.Softmax()(x)
    model = keras.Model(inp, out, name="mobilenet_v1_025")
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial BN statistics so that every channel has its own scale
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, n).astype("float32"),
                    rng.uniform(-0.5, 0.5, n).astype("float32"),
                    rng.uniform(-0.2, 0.2, n).astype("float32"),
                    rng.uniform(0.5, 2.0, n).astype("float32"),
                ]
            )
    return model


def mobilenet_tflite(seed: int = 0, n_calib: int = 16) -> bytes:
    """The int8 .tflite of :func:`mobilenet_v1` (real TFLite converter, random calibration images)."""
    from edgesdk.frontends.keras import quantize_keras

    model = mobilenet_v1(seed=seed)
    calib = np.random.default_rng(seed + 1).uniform(-1, 1, (n_calib, 96, 96, 3)).astype("float32")
    return quantize_keras(model, calib)


#: The same model and board before the depthwise work of this benchmark (commit efde245: DSP depthwise with the
#: window clipped per pixel and per-output requantization; no in-place depthwise), measured with this script.
BEFORE = {
    "instructions": 28_488_520,
    "depthwise_instructions": 8_225_200,
    "arena_bytes": 64_512,
    "lower_bound": 55_296,
}


def measure(graph, board, x, n_validate: int, pass_ctx=None) -> dict:
    """Export and build for ``board``, run once on the emulator: total and per-layer instructions, arena."""
    from speed import kernel_code_bytes

    from edgesdk.commands.device import connect
    from edgesdk.commands.export import export
    from edgesdk.reference import Reference

    with tempfile.TemporaryDirectory() as tmp:
        built = export(graph, board, Path(tmp) / "p", build=True, pass_ctx=pass_ctx)
        code = kernel_code_bytes(built.elf, built.c_name)
        exact = 0
        with connect(board, built.elf) as client:
            client.load_input(x[0])
            (count,) = client.run(1)
            layers = client.layer_counts()
            want = Reference(graph).run_batch(x[:n_validate]).reshape(n_validate, -1).astype("int8")
            for i in range(n_validate):
                got, _ = client.infer(x[i])
                exact += int((got == want[i]).all())
    by_op: dict[str, int] = defaultdict(int)
    per_layer = []
    for node, c in zip(built.graph.nodes, layers, strict=False):
        by_op[node.op] += int(c)
        out = built.graph.tensor(node.outputs[0])
        per_layer.append(
            {
                "layer": node.name,
                "op": node.op,
                "kernel": node.attrs.get("kernel", "default"),
                "out_shape": list(out.shape),
                "instructions": int(c),
            }
        )
    return {
        "instructions": int(count),
        "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
        "layers": per_layer,
        "arena_bytes": built.plan.arena_bytes,
        "arena_lower_bound": built.plan.lower_bound,
        "kernel_code_bytes": code,
        "bit_exact": f"{exact}/{n_validate}",
    }


#: The replicas on main before this work (benchmarks/results/speed.md at b988e79, mps2-an386, speed kernels).
REPLICAS_BEFORE = {
    "kws": {
        "instructions": 6_898_000,
        "depthwise_instructions": 2_734_320,
        "arena_bytes": 16_000,
        "lower_bound": 16_000,
    },
    "vww": {
        "instructions": 21_017_000,
        "depthwise_instructions": 7_930_480,
        "arena_bytes": 64_512,
        "lower_bound": 55_296,
    },
}


def replica_rows(board, n_validate: int, row: dict) -> list[str]:
    """Measure the KWS and VWW replicas of ``benchmarks/mlperf_replicas.py``; markdown lines (and ``row``)."""
    from mlperf_replicas import replica_path

    from edgesdk.compiler.data import make_inputs
    from edgesdk.frontends.tflite import read_tflite

    lines = [
        "## MLPerf Tiny replicas (benchmarks/mlperf_replicas.py) on " + board.name,
        "",
        "| model | | instructions | depthwise instructions | arena B | lower bound B | arena / bound | bit-exact |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    row["replicas"] = {}
    for key in ("kws", "vww"):
        graph = read_tflite(replica_path(key), name=f"{key}_replica")
        x = make_inputs(graph, None, n_validate)
        r = measure(graph, board, x, n_validate)
        row["replicas"][key] = {k: v for k, v in r.items() if k != "layers"}
        b = REPLICAS_BEFORE[key]
        lines.append(
            f"| {key} | before (main b988e79) | {b['instructions']:,} | {b['depthwise_instructions']:,} | "
            f"{b['arena_bytes']:,} | {b['lower_bound']:,} | {b['arena_bytes'] / b['lower_bound']:.3f} | |"
        )
        lines.append(
            f"| {key} | depthwise kernel + in-place | {r['instructions']:,} | "
            f"{r['by_op'].get('DEPTHWISE_CONV_2D', 0):,} | {r['arena_bytes']:,} | {r['arena_lower_bound']:,} | "
            f"{r['arena_bytes'] / r['arena_lower_bound']:.3f} | {r['bit_exact']} |"
        )
    return lines


def main() -> int:
    from edgesdk.boards import get_board
    from edgesdk.commands.inspection import summarize
    from edgesdk.compiler.data import make_inputs
    from edgesdk.frontends.tflite import read_tflite

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflite", type=Path, default=None, help="also write the model's .tflite here")
    ap.add_argument("--validate", type=int, default=2, help="inputs compared bit for bit on the board")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument(
        "--replicas",
        action="store_true",
        help="also the KWS and VWW replicas (benchmarks/mlperf_replicas.py)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = mobilenet_tflite()
    if args.tflite:
        args.tflite.write_bytes(data)
    graph = read_tflite(data, name="mobilenet_v1_025")
    macs = summarize(graph)["totals"]["macs"]
    x = make_inputs(graph, None, args.validate)
    board = get_board(args.board)
    from edgesdk.passes import PassContext

    row = {"model": graph.name, "board": args.board, "macs": macs, **measure(graph, board, x, args.validate)}
    row["macs_per_instruction"] = round(macs / row["instructions"], 4)
    no_inplace = measure(graph, board, x, args.validate, PassContext(forbid={"*": {"inplace"}}))
    row["without_inplace"] = {
        k: no_inplace[k] for k in ("instructions", "by_op", "arena_bytes", "arena_lower_bound")
    }
    row["before"] = BEFORE
    log.info("%s", json.dumps({k: v for k, v in row.items() if k != "layers"}))
    RESULTS.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# {graph.name} (MobileNetV1-0.25 shape, 96x96x3, random weights) on {args.board}",
        "",
        f"Measured by `python benchmarks/depthwise.py` at commit {commit()}, the default export, exact "
        "instruction counts (QEMU -icount with the board's shift).",
        "",
        f"Executed instructions per inference (QEMU -icount): **{row['instructions']:,}**, {macs:,} MACs, "
        f"{row['macs_per_instruction']} MAC/insn; arena {row['arena_bytes']:,} B (planner's lower bound "
        f"{row['arena_lower_bound']:,} B); outputs bit-exact on the board {row['bit_exact']}; kernel code "
        f"{row['kernel_code_bytes']:,} B.",
        "",
        "| | instructions | depthwise instructions | arena B | lower bound B | arena / bound |",
        "|---|---:|---:|---:|---:|---:|",
        f"| before (efde245) | {BEFORE['instructions']:,} | {BEFORE['depthwise_instructions']:,} | "
        f"{BEFORE['arena_bytes']:,} | {BEFORE['lower_bound']:,} | {BEFORE['arena_bytes'] / BEFORE['lower_bound']:.3f} |",
        f"| new DSP depthwise, in-place off | {no_inplace['instructions']:,} | "
        f"{no_inplace['by_op']['DEPTHWISE_CONV_2D']:,} | {no_inplace['arena_bytes']:,} | "
        f"{no_inplace['arena_lower_bound']:,} | {no_inplace['arena_bytes'] / no_inplace['arena_lower_bound']:.3f} |",
        f"| new DSP depthwise + in-place (default) | {row['instructions']:,} | "
        f"{row['by_op']['DEPTHWISE_CONV_2D']:,} | {row['arena_bytes']:,} | {row['arena_lower_bound']:,} | "
        f"{row['arena_bytes'] / row['arena_lower_bound']:.3f} |",
        "",
        "| layer | op | kernel | output | instructions |",
        "|---|---|---|---|---:|",
    ]
    for r in row["layers"]:
        shape = "x".join(str(s) for s in r["out_shape"][1:])
        lines.append(f"| {r['layer']} | {r['op']} | {r['kernel']} | {shape} | {r['instructions']:,} |")
    lines += ["", "Per op type: " + ", ".join(f"{op} {c:,}" for op, c in row["by_op"].items())]
    if args.replicas:
        lines += ["", *replica_rows(board, args.validate, row)]
    (RESULTS / "depthwise.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (RESULTS / "depthwise.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
