"""The digits rows of the speed suite (``benchmarks/speed.py``): an MLP and a small CNN on scikit-learn's digits
(offline), trained with fixed seeds, and the ``compress`` methods measured on them (first/last layers int8, the
epochs and options of each row fixed here so that the suite's models do not move when ``compress``'s defaults do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEED = 0


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
    # Pruning and weight sharing (figures of their own: benchmarks/pruning.py).
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
