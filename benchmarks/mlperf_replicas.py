"""Architecture replicas of the two MLPerf Tiny models that are not in ``models/mlperf_tiny``.

* **KWS DS-CNN** (keyword spotting, MLPerf Tiny's reference, after Zhang et al., "Hello Edge: Keyword Spotting on
  Microcontrollers", arXiv:1711.07128): MFCC input 49x10x1; a 10x4 stride-2 convolution with 64 filters, batch
  norm and ReLU; four depthwise-separable blocks (3x3 depthwise + BN + ReLU, 1x1 pointwise with 64 filters + BN +
  ReLU); an average pool over the whole 25x5 map; a dense layer of 12 classes with softmax. ~2.7 M MACs.
* **VWW MobileNetV1, alpha 0.25** (visual wake words, Howard et al., "MobileNets", arXiv:1704.04861, as MLPerf
  Tiny trains it): RGB input 96x96x3; a 3x3 stride-2 convolution with 8 filters; thirteen depthwise-separable
  blocks (strides 1,2,1,2,1,2,1,1,1,1,1,2,1; the pointwise width doubles with every stride-2 block and once after
  the first block, 16 ... 256); an average pool over the 3x3 map; a dense layer of 2 classes with softmax.
  ~7.5 M MACs.

They are *replicas*: the same layer shapes and the same TFLite ops as the reference models, but untrained weights
(He-normal with a fixed seed). Batch-norm statistics are set from the activations that the seeded calibration
data actually produce, with a random scale and shift per channel, so that every layer's int8 activations use
their range (about half the ReLU outputs non-zero) as a trained model's do. Executed-instruction counts depend on
shapes and ops, not on the weights' values (except for data-dependent kernels such as sparse ones, which the
int8 replicas do not trigger), so they are comparable with the published figures; accuracy is not.

The float model is quantized to full int8 by the real ``TFLiteConverter`` (through
:func:`edgesdk.frontends.keras.quantize_keras`) with a seeded representative dataset. The ``.tflite`` is cached
under ``benchmarks/.cache/`` (git-ignored), keyed by the builder's version and seed.

    python benchmarks/mlperf_replicas.py [kws vww]   # builds (or finds) the cached .tflite files
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "benchmarks" / ".cache"
SEED = 0
#: Bump when the builder changes so that cached files are rebuilt.
VERSION = 2
CALIB_SAMPLES = 32
log = logging.getLogger("mlperf_replicas")


def _conv_bn_relu(x: Any, filters: int, kernel: tuple[int, int], strides: int, name: str) -> Any:
    """Conv + BN + ReLU. Layers are named explicitly: Keras' generated names count the layers built before in
    the process, and they end up in the flatbuffer, which would make the .tflite differ between builds."""
    import keras

    conv = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding="same", kernel_initializer="he_normal", name=name
    )
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(conv(x))
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _separable(x: Any, filters: int, strides: int, name: str) -> Any:
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU (a MobileNet / DS-CNN block)."""
    import keras

    dw = keras.layers.DepthwiseConv2D(
        3, strides=strides, padding="same", depthwise_initializer="he_normal", name=f"{name}_dw"
    )
    x = keras.layers.BatchNormalization(name=f"{name}_dw_bn")(dw(x))
    x = keras.layers.ReLU(name=f"{name}_dw_relu")(x)
    return _conv_bn_relu(x, filters, (1, 1), 1, f"{name}_pw")


def build_kws() -> Any:
    """Float Keras DS-CNN with the MLPerf Tiny keyword-spotting reference's shapes (49x10x1 -> 12)."""
    import keras

    inp = keras.Input((49, 10, 1), batch_size=1, name="mfcc")
    x = _conv_bn_relu(inp, 64, (10, 4), 2, "conv1")
    x = keras.layers.Dropout(0.2, name="drop1")(x)
    for i in range(4):
        x = _separable(x, 64, 1, f"block{i + 1}")
    x = keras.layers.Dropout(0.4, name="drop2")(x)
    x = keras.layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(12, activation="softmax", name="fc")(x)
    return keras.Model(inp, out, name="kws_dscnn")


#: MobileNetV1 alpha 0.25: (depthwise stride, pointwise filters) of the thirteen separable blocks.
VWW_BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128),
    (1, 128), (1, 128), (1, 128), (1, 128), (1, 128), (2, 256), (1, 256),
)  # fmt: skip


def build_vww() -> Any:
    """Float Keras MobileNetV1 (alpha 0.25) on 96x96x3 with 2 classes, as MLPerf Tiny's visual wake words."""
    import keras

    inp = keras.Input((96, 96, 3), batch_size=1, name="image")
    x = _conv_bn_relu(inp, 8, (3, 3), 2, "conv1")
    for i, (stride, filters) in enumerate(VWW_BLOCKS):
        x = _separable(x, filters, stride, f"block{i + 1}")
    x = keras.layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]), name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(2, activation="softmax", name="fc")(x)
    return keras.Model(inp, out, name="vww_mobilenet_v1_025")


def calibration(shape: tuple[int, ...], seed: int = SEED, n: int = CALIB_SAMPLES) -> np.ndarray:
    """Seeded representative inputs: smooth random fields in [-1, 1] (not white noise, so that neighbouring
    features correlate as in MFCCs and images; their range matters for the input scale)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape)).astype(np.float32)
    # a separable 3-tap blur along the two spatial axes
    for axis in (1, 2):
        x = (np.roll(x, 1, axis) + 2 * x + np.roll(x, -1, axis)) / 4
    return np.clip(x / (np.abs(x).max() + 1e-6), -1.0, 1.0).astype(np.float32)


def randomize_batchnorm(model: Any, samples: np.ndarray, seed: int = SEED) -> None:
    """Set each BatchNormalization's moving mean and variance from the statistics of its own input on
    ``samples`` (layer by layer, so later layers see the already-normalized earlier ones), with a random
    per-channel gamma in [0.5, 1.5] and beta in [-0.5, 0.5] times the std: a trained network's kind of
    activation range, deterministic for a seed."""
    import keras

    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        probe = keras.Model(model.inputs[0], layer.input)
        a = np.asarray(probe(samples, training=False)).reshape(-1, layer.input.shape[-1])
        mean, var = a.mean(axis=0), a.var(axis=0) + 1e-3
        c = mean.shape[0]
        gamma = rng.uniform(0.5, 1.5, c)
        beta = rng.uniform(-0.5, 0.5, c)
        layer.set_weights([w.astype(np.float32) for w in (gamma, beta, mean, var)])


BUILDERS: dict[str, Callable[[], Any]] = {"kws": build_kws, "vww": build_vww}
#: Published MACs of the MLPerf Tiny reference models (MLPerf Tiny paper, Banbury et al. 2021, Table 1).
PUBLISHED_MACS = {"kws": 2_700_000, "vww": 7_500_000}


def keras_replica(name: str, seed: int = SEED) -> tuple[Any, np.ndarray]:
    """The float Keras replica ``name`` ('kws' or 'vww') with its BN statistics set, and its calibration data."""
    import keras

    keras.utils.set_random_seed(seed)
    model = BUILDERS[name]()
    samples = calibration(tuple(int(d) for d in model.inputs[0].shape[1:]), seed)
    randomize_batchnorm(model, samples, seed)
    return model, samples


def replica_path(name: str, seed: int = SEED, cache: Path = CACHE) -> Path:
    """Path of the int8 ``.tflite`` replica ``name``; built (real TFLite converter) on first use, then cached."""
    if name not in BUILDERS:
        raise KeyError(f"no replica named {name!r}; choose from {sorted(BUILDERS)}")
    path = cache / f"{name}_replica_v{VERSION}_s{seed}.tflite"
    if path.is_file():
        return path
    from edgesdk.frontends.keras import quantize_keras

    log.info("building the %s replica (seed %d) into %s", name, seed, path)
    model, samples = keras_replica(name, seed)
    data = quantize_keras(model, samples, num_samples=None)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=list(BUILDERS), help=f"any of {sorted(BUILDERS)}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from edgesdk.commands.inspection import summarize
    from edgesdk.frontends.tflite import read_tflite

    for name in args.names:
        path = replica_path(name)
        macs = summarize(read_tflite(path))["totals"]["macs"]
        log.info("%s: %s, %d MACs (published ~%d)", name, path, macs, PUBLISHED_MACS[name])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
