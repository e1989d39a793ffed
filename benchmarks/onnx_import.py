"""ONNX and PyTorch models through edgesdk, measured on small digit classifiers trained here.

Models (sklearn's bundled 8x8 digits, 1397 training samples, seed 0):

- *float NCHW ONNX with BatchNorm*: a PyTorch CNN (conv+BN, depthwise+pointwise+BN, residual add, max pooling, an
  uneven ZeroPad2d, global mean, linear) exported by the TorchScript exporter with BatchNormalization nodes kept
  and a separate Pad fed by a Shape/Gather/Concat chain;
- *torch.onnx.export (dynamo)*: the same network, the default exporter (opset 18: BN and padding folded into Conv,
  ReduceMean with axes as an input);
- *tf2onnx NHWC*: a Keras CNN exported by tf2onnx (NHWC input, Transposes around the NCHW ops);
- *QDQ int8*: onnxruntime ``quant_pre_process`` + ``quantize_static`` (QDQ, per-channel int8 weights, int8
  activations) of the first model with the same 200 calibration samples.

For each: the float ones are quantized by edgesdk with 200 calibration samples (the real TFLite converter after
edgesdk's ONNX -> Keras translation); top-1 on 200 held-out labelled inputs of edgesdk's integer reference next to
onnxruntime's (float, or the QDQ model with graph optimizations on and off); the QDQ model's per-layer agreement
of edgesdk's int8 values with onnxruntime's; then ``validate`` on the emulated board (netduinoplus2, QEMU) with the
200 labelled inputs: every output compared bit for bit with the reference. Torch and the tf2onnx export run in
child processes (a torch export beside TensorFlow crashes). Writes ``benchmarks/results/onnx_import.md`` and
``.json``.

    python benchmarks/onnx_import.py
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
N_CALIB = 200
N_TEST = 200
log = logging.getLogger("onnx_import")


def digits() -> dict[str, np.ndarray]:
    """Train / calibration / held-out test split of load_digits in NCHW, values in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    n_train = len(x) - 2 * N_TEST
    return {
        "x_train": x[:n_train],
        "y_train": y[:n_train],
        "x_calib": x[:N_CALIB],
        "x_test": x[-N_TEST:],
        "y_test": y[-N_TEST:],
    }


# --- child: PyTorch (no TensorFlow in this process) -----------------------------------------------------------
def make_torch(out: Path) -> None:
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(REPO / "tests"))
    from onnx_models import BnCnn, export_both  # the network of the ONNX frontend tests, wider

    torch.manual_seed(0)
    d = digits()
    x, y = torch.from_numpy(d["x_train"]), torch.from_numpy(d["y_train"])
    m = BnCnn(width=16)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for epoch in range(25):
        m.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i : i + 32]
            opt.zero_grad()
            loss = F.cross_entropy(m(x[idx]), y[idx])
            loss.backward()
            opt.step()
        print(f"torch epoch {epoch + 1}: loss {loss.item():.3f}", file=sys.stderr)
    m.eval()
    export_both(m, torch.from_numpy(d["x_test"][:1]), out / "torch_dynamo.onnx", out / "float_bn_nchw.onnx")


# --- child: Keras + tf2onnx ---------------------------------------------------------------------------------------
def make_keras(out: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    d = digits()
    x = d["x_train"].transpose(0, 2, 3, 1)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(h)
    h = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    outp = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, outp)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, d["y_train"], epochs=25, batch_size=32, verbose=0)
    saved = out / "keras_saved"
    model.export(str(saved), verbose=False)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            str(saved),
            "--output",
            str(out / "tf2onnx_nhwc.onnx"),
            "--opset",
            "15",
        ],
        check=True,
        timeout=600,
        capture_output=True,
    )


# --- main process -------------------------------------------------------------------------------------------------
def top1(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits.reshape(len(y), -1), axis=1) == y))


def measure(name: str, path: Path, d: dict[str, np.ndarray], layout: str, out_dir: Path) -> dict:
    import onnx

    from edgesdk.commands.device import make_inputs, validate
    from edgesdk.compiler.model import load_model
    from edgesdk.frontends.onnx import load
    from edgesdk.frontends.onnx_keras import onnxruntime_outputs
    from edgesdk.reference import Reference

    x_test = d["x_test"] if layout == "NCHW" else d["x_test"].transpose(0, 2, 3, 1).copy()
    x_calib = d["x_calib"] if layout == "NCHW" else d["x_calib"].transpose(0, 2, 3, 1).copy()
    y = d["y_test"]
    low = load(path)
    row: dict = {
        "model": name,
        "file": path.name,
        "layout": layout,
        "qdq": low.prep.is_qdq,
        "opset": low.prep.opset,
    }
    row["onnx_ops"] = sorted({n.op_type for n in onnx.load(str(path)).graph.node})
    t0 = time.perf_counter()
    graph = load_model(path, calib=None if low.prep.is_qdq else x_calib, num_samples=N_CALIB)
    row["load_s"] = round(time.perf_counter() - t0, 1)
    row["ir_ops"] = [n.op for n in graph.nodes]
    ref = Reference(graph)
    q_out = ref.run_batch(make_inputs(graph, x_test, count=0))
    oq = graph.tensors[graph.outputs[0]].quant
    row["top1_edgesdk"] = top1(q_out.astype(np.float64), y)
    if low.prep.is_qdq:
        from edgesdk.frontends.onnx_qdq import qdq_agreement

        for optimize in (True, False):
            key = "on" if optimize else "off"
            ort = onnxruntime_outputs(low.prep.model, x_test, optimize=optimize)[0]
            row[f"top1_onnxruntime_opt_{key}"] = top1(ort, y)
            ours = (q_out.astype(np.float64) - oq.zp) * oq.s
            row[f"output_equal_opt_{key}"] = float(
                np.mean(np.isclose(ours.reshape(ort.shape), ort, rtol=0, atol=oq.s / 4))
            )
            row[f"argmax_equal_opt_{key}"] = float(
                np.mean(np.argmax(ours.reshape(len(y), -1), 1) == np.argmax(ort.reshape(len(y), -1), 1))
            )
            row[f"layers_opt_{key}"] = qdq_agreement(low, graph, x_test, optimize=optimize)
    else:
        ort = onnxruntime_outputs(low.prep.model, x_test)[0]
        row["top1_onnxruntime_float"] = top1(ort, y)
    s = validate(graph, None, inputs=x_test, labels=y, count=N_TEST, out_dir=out_dir / name)
    row["device"] = {
        "inputs": s.count,
        "bit_exact": s.exact,
        "max_abs_diff": s.max_abs_diff,
        "top1_device": s.top1_device,
        "top1_reference": s.top1_reference,
    }
    log.info("%s: %s", name, {k: v for k, v in row.items() if not k.startswith("layers")})
    return row


def _child(flag: str, out: Path) -> None:
    subprocess.run([sys.executable, __file__, flag, str(out)], check=True, timeout=1800)


def write_md(rows: list[dict], commit: str, seconds: float) -> str:
    lines = [
        "# ONNX and PyTorch models in (digits, 8x8)",
        "",
        f"Measured by `python benchmarks/onnx_import.py` at commit `{commit}` in {seconds:.0f} s. sklearn digits: "
        f"{N_CALIB} calibration samples (from the training set), {N_TEST} held-out labelled test inputs; board: "
        "the emulated netduinoplus2 (QEMU) over its serial port; all 200 test inputs validated on it.",
        "",
        "| model | layout | ONNX ops | onnxruntime top-1 | edgesdk int8 top-1 (reference) | device top-1 | device outputs bit-exact |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["qdq"]:
            ort = f"{100 * r['top1_onnxruntime_opt_on']:.1f} % (QDQ, opt on) / {100 * r['top1_onnxruntime_opt_off']:.1f} % (off)"
        else:
            ort = f"{100 * r['top1_onnxruntime_float']:.1f} % (float)"
        dev = r["device"]
        lines.append(
            f"| {r['model']} | {r['layout']} | {', '.join(r['onnx_ops'])} | {ort} | {100 * r['top1_edgesdk']:.1f} % | "
            f"{100 * (dev['top1_device'] or 0):.1f} % | {dev['bit_exact']}/{dev['inputs']} |"
        )
    for r in rows:
        if not r["qdq"]:
            continue
        lines += [
            "",
            f"## {r['model']}: edgesdk (TFLite fixed-point requantization) vs onnxruntime (float requantization)",
            "",
            f"Final outputs equal (same int8 step) for {100 * r['output_equal_opt_on']:.2f} % of elements with onnxruntime's "
            f"graph optimizations on, {100 * r['output_equal_opt_off']:.2f} % with them off; the predicted class agrees on "
            f"{100 * r['argmax_equal_opt_on']:.1f} % / {100 * r['argmax_equal_opt_off']:.1f} % of the inputs.",
            "",
            "Per layer, over the 200 inputs: *alone* = the layer computed by edgesdk's kernel from onnxruntime's own "
            "int8 inputs (the requantization arithmetic alone); *end to end* = edgesdk's reference from the model input "
            "(differences of earlier layers propagate). Steps are int8 quantization steps.",
            "",
            "| layer | elements | alone: equal (opt on / off) | alone: max steps | end to end: equal (on / off) | end to end: max steps |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        on, off = r["layers_opt_on"], r["layers_opt_off"]
        for t, a in on.items():
            b = off[t]
            if "equal" in a:
                lines.append(
                    f"| {a['layer']} | {a['n']} | {100 * a['iso_equal']:.2f} % / {100 * b['iso_equal']:.2f} % | "
                    f"{max(a['iso_max_steps'], b['iso_max_steps'])} | {100 * a['equal']:.2f} % / {100 * b['equal']:.2f} % | "
                    f"{max(a['max_steps'], b['max_steps'])} |"
                )
            else:
                lines.append(
                    f"| {a['layer']} (real units) | {a['n']} | max abs {a['iso_max_abs']:.4f} | | "
                    f"max abs {a['max_abs']:.4f} | |"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--make-torch", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--make-keras", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--keep", type=Path, default=None, help="keep the models in this folder")
    a = p.parse_args()
    if a.make_torch:
        make_torch(a.make_torch)
        return 0
    if a.make_keras:
        make_keras(a.make_keras)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.path.insert(0, str(REPO / "sdk"))
    t0 = time.perf_counter()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="onnx_import-") as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        log.info("training and exporting the PyTorch CNN (child process)")
        _child("--make-torch", work)
        log.info("training the Keras CNN and exporting it with tf2onnx (child process)")
        _child("--make-keras", work)
        d = digits()
        from edgesdk.frontends.onnx_qdq import quantize_with_onnxruntime

        qdq = quantize_with_onnxruntime(work / "float_bn_nchw.onnx", work / "qdq_int8.onnx", d["x_calib"])
        rows = [
            measure(
                "float NCHW ONNX with BN (TorchScript exporter)", work / "float_bn_nchw.onnx", d, "NCHW", work
            ),
            measure("torch.onnx.export (dynamo)", work / "torch_dynamo.onnx", d, "NCHW", work),
            measure("tf2onnx NHWC", work / "tf2onnx_nhwc.onnx", d, "NHWC", work),
            measure("QDQ int8 (onnxruntime quantize_static)", qdq, d, "NCHW", work),
        ]
    seconds = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "onnx_import.json").write_text(
        json.dumps({"commit": commit, "rows": rows}, indent=2, default=float) + "\n"
    )
    (RESULTS / "onnx_import.md").write_text(write_md(rows, commit, seconds))
    print((RESULTS / "onnx_import.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
