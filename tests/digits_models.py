"""Tiny load_digits classifiers (an MLP and a CNN) trained once per session, for compression tests.

sklearn's bundled 8×8 digits: 1797 real samples, offline. Fixed seeds; a few epochs on 2 cores take seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def digits_split(image: bool) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(train, val) of load_digits scaled to [0, 1]: 1400 / 397 samples, as (N, 64) or (N, 8, 8, 1)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    if image:
        x = x.reshape(-1, 8, 8, 1)
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def train_digits_model(kind: str, out: Path, epochs: int = 30) -> tuple[Path, Any, Any]:
    """Train the ``"mlp"`` (64-48-32-10) or ``"cnn"`` (conv8-conv16-pool-dense10) digits model; save it."""
    import keras

    keras.utils.set_random_seed(0)
    train, val = digits_split(image=kind == "cnn")
    model = build_digits_model(kind)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    model.fit(*train, epochs=epochs, batch_size=64, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"digits_{kind}.keras"
    model.save(path)
    return path, train, val


def build_digits_model(kind: str) -> Any:
    """The untrained ``"mlp"`` or ``"cnn"`` digits model (layers fc1..fc3, or conv1, conv2, fc)."""
    import keras

    if kind == "mlp":
        inp = keras.Input((64,))
        h = keras.layers.Dense(48, activation="relu", name="fc1")(inp)
        h = keras.layers.Dense(32, activation="relu", name="fc2")(h)
        outp = keras.layers.Dense(10, activation="softmax", name="fc3")(h)
    else:
        inp = keras.Input((8, 8, 1))
        h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(h)
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
        outp = keras.layers.Dense(10, activation="softmax", name="fc")(h)
    return keras.Model(inp, outp, name=f"digits_{kind}")
