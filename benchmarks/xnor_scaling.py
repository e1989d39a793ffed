"""Benchmark: do XNOR-Net's scaling factors help edgesdk's xnor training on digits?

XNOR-Net (Rastegari, Ordonez, Redmon and Farhadi 2016, "XNOR-Net: ImageNet Classification Using Binary
Convolutional Neural Networks") approximates a real dot product by ``K·α·(sign(a)·sign(w))``: α = mean|W| per
output channel (weights), K = mean|A| of the real-valued input (activations; per position for a convolution).
edgesdk's ``compress --method xnor`` (:mod:`edgesdk.compress.xnor`) trains without either, because a BatchNorm
and the sign follow every binary layer:

- α is a positive per-channel factor in front of a BatchNorm; the folded integer threshold absorbs it, so at
  inference it changes nothing. It could still change *training* (the gradient's scale per channel);
- K varies per sample (and per position); it moves the threshold per sample, which the popcount-threshold
  kernels cannot express without computing the real-valued activations they exist to avoid.

This script measures what the factors would buy in accuracy: the xnor training of ``benchmarks/compression.py``
(same data split, float models, 40 epochs with distillation) with three variants of the binary layers —
``none`` (what edgesdk trains), ``alpha`` (α·sign(W)), ``alpha+K`` (also K·sign(a), K the channel mean of |a| at
each position, XNOR-Net's window average omitted) — over several seeds, as the Keras model's own validation
accuracy (the same measure for all three; ``alpha+K`` cannot be written as a ``.xnor`` file).

Writes ``benchmarks/results/xnor_scaling.json`` and ``xnor_scaling.md``.

    python benchmarks/xnor_scaling.py [--models mlp cnn] [--seeds 0 1 2] [--epochs 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compression import MODELS, RESULTS, digits, train_float  # noqa: E402

log = logging.getLogger("xnor_scaling")
VARIANTS = ("none", "alpha", "alpha+K")


def variant_classes(original: Any, variant: str) -> Any:
    """A replacement for ``edgesdk.compress.xnor._classes`` whose binary layers use the variant's factors."""

    def classes() -> dict[str, Any]:
        from keras import ops

        base = original()
        if variant == "none":
            return base

        class AlphaDense(base["Dense"]):
            def call(self, inputs: Any, training: Any = None) -> Any:
                return super().call(inputs) * ops.mean(ops.abs(self.kernel), axis=0)

        class AlphaConv2D(base["Conv2D"]):
            def call(self, inputs: Any) -> Any:
                return super().call(inputs) * ops.mean(ops.abs(self.kernel), axis=(0, 1, 2))

        out = dict(base, Dense=AlphaDense, Conv2D=AlphaConv2D)
        if "K" in variant:

            class ScaledSign(base["sign"]):
                def call(self, x: Any) -> Any:
                    return super().call(x) * ops.mean(ops.abs(x), axis=-1, keepdims=True)

            out["sign"] = ScaledSign
        return out

    return classes


def run(name: str, variant: str, seed: int, epochs: int, data: dict, float_path: Path) -> dict[str, Any]:
    import keras

    from edgesdk.compress import xnor
    from edgesdk.compress.base import CompressContext, accuracy, resolve_keep_int8

    _, shape = MODELS[name]
    model = keras.models.load_model(float_path, compile=False)
    xt, xv = data["x_train"].reshape((-1, *shape)), data["x_val"].reshape((-1, *shape))
    ctx = CompressContext(
        x_train=xt, y_train=data["y_train"], x_val=xv, y_val=data["y_val"], epochs=epochs, seed=seed,
        keep_int8=resolve_keep_int8(model, "first,last"), teacher=model, show_progress=False,
    )  # fmt: skip
    original = xnor._classes
    xnor._classes = variant_classes(original, variant)
    try:
        keras.utils.set_random_seed(seed)
        t0 = time.time()
        qat = xnor.apply_xnor(model, None, ctx)
        seconds = time.time() - t0
    finally:
        xnor._classes = original
    acc = accuracy(qat, data["x_val"], data["y_val"])
    log.info("%s %s seed %d: val accuracy %.4f (%.0f s)", name, variant, seed, acc, seconds)
    return {
        "model": name,
        "variant": variant,
        "seed": seed,
        "accuracy": acc,
        "train_seconds": round(seconds, 1),
    }


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        for variant in VARIANTS:
            accs = [r["accuracy"] for r in rows if r["model"] == name and r["variant"] == variant]
            if accs:
                out.append({"model": name, "variant": variant, "seeds": len(accs), "mean": float(np.mean(accs)),
                            "min": float(np.min(accs)), "max": float(np.max(accs))})  # fmt: skip
    return out


def markdown(table: list[dict[str, Any]], epochs: int) -> str:
    lines = [
        "# XNOR-Net scaling factors in xnor training (digits)",
        "",
        f"Keras validation accuracy after {epochs} epochs of `--method xnor` training with distillation "
        "(`benchmarks/xnor_scaling.py`): none = edgesdk's binary layers, alpha = α·sign(W) per output channel, "
        "alpha+K = also K·sign(a) with K the channel mean of |a| per position.",
        "",
        "| model | variant | seeds | mean % | min % | max % |",
        "|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['seeds']} | {100 * r['mean']:.2f} | {100 * r['min']:.2f} | "
            f"{100 * r['max']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=sorted(MODELS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data = digits()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            float_path = train_float(name, data, Path(tmp))
            for seed in args.seeds:
                for variant in VARIANTS:
                    rows.append(run(name, variant, seed, args.epochs, data, float_path))
    table = summary(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "xnor_scaling.json").write_text(json.dumps({"epochs": args.epochs, "runs": rows, "summary": table},
                                                          indent=2) + "\n")  # fmt: skip
    (RESULTS / "xnor_scaling.md").write_text(markdown(table, args.epochs))
    log.info("%s", markdown(table, args.epochs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
