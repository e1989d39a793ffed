"""Make the quickstart's model from data inside the installation: scikit-learn's bundled digits (1,797 8x8
images of handwritten digits, offline), a small Keras CNN trained in seconds with a fixed seed.

Writes into OUT (default ``out/quickstart``):
  digits.keras       the float Keras model (edgesdk quantizes it to int8 with the calibration data)
  digits_calib.npy   200 training images, float32 (N, 8, 8, 1) in [0, 1]: calibration data for ``--calib``
  digits_test.npz    the held-out images ``x`` (float32) and their labels ``y``: ``validate --inputs``
  digits.json        seed, sample counts and the float model's test accuracy

    python scripts/digits_model.py [OUT] [--epochs 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

CALIB_SAMPLES = 200


def load_digits_split(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """Digits as float32 images (N, 8, 8, 1) scaled to [0, 1], split 75/25 with a fixed shuffle."""
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_train = int(0.75 * len(x))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def build_model(seed: int = 0) -> Any:
    """A small CNN: conv 3x3x8 -> max-pool -> dense 10 -> softmax (static batch of 1, see TOOLCHAIN.md)."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(10)(x)
    out = keras.layers.Softmax()(x)
    return keras.Model(inp, out, name="digits")


def make(out: Path, epochs: int = 40, seed: int = 0) -> dict[str, Any]:
    """Train and save the model and its data; returns the paths and the float test accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    model = build_model(seed)
    # training uses its own batch size; the saved model keeps the static batch of 1 for conversion
    trainer = keras.Model(*_unbatched(model))
    trainer.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["acc"]
    )
    trainer.fit(x_tr, y_tr, epochs=epochs, batch_size=64, verbose=0, shuffle=False)
    model.set_weights(trainer.get_weights())
    acc = float(np.mean(np.argmax(trainer.predict(x_te, verbose=0), axis=1) == y_te))
    paths = {
        "model": out / "digits.keras",
        "calib": out / "digits_calib.npy",
        "test": out / "digits_test.npz",
        "info": out / "digits.json",
    }
    model.save(paths["model"])
    np.save(paths["calib"], x_tr[:CALIB_SAMPLES])
    np.savez(paths["test"], x=x_te, y=y_te)
    info = {"seed": seed, "epochs": epochs, "train": len(x_tr), "test": len(x_te), "float_test_top1": acc}
    paths["info"].write_text(json.dumps(info, indent=2) + "\n")
    return {**{k: str(v) for k, v in paths.items()}, "float_test_top1": acc}


def _unbatched(model: Any) -> tuple[Any, Any]:
    """The same layers on an input without the fixed batch size, for training in batches."""
    import keras

    inp = keras.Input(model.input_shape[1:])
    x = inp
    for layer in model.layers[1:]:
        x = layer(x)
    return inp, x


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="out/quickstart", type=Path)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    made = make(args.out, args.epochs, args.seed)
    print(
        f"digits model: float top-1 {100 * made['float_test_top1']:.1f} % on the held-out digits -> {made['model']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
