"""AdderNet end to end: the Keras layer's gradients, the writer against the trained Keras model, compress
``adder`` into edgesdk's own file, the file read by export/validate, and the C bit-exact with the reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from digits_models import digits_split
from edgesdk.commands.cli import main
from edgesdk.compress import compress
from edgesdk.errors import CompressError, ModelFormatError
from hostbuild import GCC, generate_and_build, random_inputs, reference_outputs, run_host


@pytest.fixture
def cnn(digits_cnn):
    return digits_cnn


@pytest.fixture(scope="session")
def adder_file(digits_cnn, tmp_path_factory: pytest.TempPathFactory):
    path, train, val = digits_cnn
    out = tmp_path_factory.mktemp("adder") / "cnn_adder.edgesdk"
    res = compress(path, "adder", train, val, epochs=2, out=out, progress=False)
    return out, res


def test_adder_gradients_are_the_papers() -> None:
    """dY/dW = X - W (scaled by η·√k/‖·‖), dY/dX = HardTanh(W - X), on one 1×1 adder with one output."""
    import tensorflow as tf

    import edgesdk.layers as L

    layer = L.AdderConv2D(1, 1, eta=0.5)
    x = tf.constant([[[[0.2, 3.0]]]])
    layer.build(x.shape)
    layer.kernel.assign(np.array([[[[1.0], [1.0]]]], np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tf.reduce_sum(layer.raw(x))
    assert float(y) == pytest.approx(-(0.8 + 2.0))
    gx, gw = tape.gradient(y, [x, layer.kernel])
    np.testing.assert_allclose(gx.numpy().ravel(), [0.8, -1.0])  # clip(w - x, -1, 1)
    raw = np.array([0.2 - 1.0, 3.0 - 1.0])  # x - w
    np.testing.assert_allclose(gw.numpy().ravel(), raw * 0.5 * np.sqrt(2) / np.linalg.norm(raw), rtol=1e-5)


def test_writer_agrees_with_the_trained_keras_model(tmp_path: Path) -> None:
    """Conv → Adder → BatchNorm → ReLU → pool → Dense: the int8 reference of the written file against Keras."""
    import keras

    import edgesdk.layers as L
    from edgesdk.compress.adder import reference_accuracy, write_adder_model

    keras.utils.set_random_seed(1)
    (x, y), (xv, yv) = digits_split(image=True)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = L.AdderConv2D(8, 3, name="adder")(h)
    h = keras.layers.BatchNormalization(momentum=0.8)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    graph = write_adder_model(model, x[:200], tmp_path / "m.edgesdk")
    adder = [n for n in graph.nodes if n.op == "EDGESDK_ADDER_CONV_2D"]
    assert len(adder) == 1 and adder[0].activation == "RELU"  # BatchNorm and ReLU folded in
    keras_acc = float(np.mean(np.argmax(model.predict(xv, verbose=0), axis=1) == yv))
    int8_acc = reference_accuracy(graph, xv, yv)
    assert keras_acc > 0.8 and abs(int8_acc - keras_acc) <= 0.02


def test_compress_adder_writes_the_own_format(adder_file) -> None:
    from edgesdk.compiler.model import load_model

    out, res = adder_file
    assert out.read_bytes()[:2] == b"PK"
    g = load_model(out)
    assert [n.op for n in g.nodes] == [
        "CONV_2D",
        "EDGESDK_ADDER_CONV_2D",
        "MAX_POOL_2D",
        "RESHAPE",
        "FULLY_CONNECTED",
        "SOFTMAX",
    ]
    rows = {r["keras_name"]: r for r in res.layers}
    assert rows["conv2"]["format"] == "adder" and rows["conv2"]["macs"] == 0
    assert rows["conv2"]["weight_bytes"] == 2 * 16 * 3 * 3 * 8  # int16 weights
    assert rows["conv1"]["size_format"] == "int8"  # the first layer stays an ordinary convolution
    assert res.accuracy_compressed > 0.2  # two epochs only; the benchmark trains longer


def test_bad_adder_input(cnn, tmp_path: Path) -> None:
    path, train, val = cnn
    with pytest.raises(CompressError, match="method adder takes no argument"):
        compress(path, "adder=2", train, val, epochs=1, out=tmp_path / "a.edgesdk", progress=False)
    from edgesdk.compress import METHODS

    if "ternary" in METHODS:
        with pytest.raises(CompressError, match="cannot be combined"):
            compress(path, "adder,ternary", train, val, epochs=1, out=tmp_path / "a.edgesdk", progress=False)
    with pytest.raises(CompressError, match=r"name the output a\.edgesdk, not a\.tflite"):
        compress(path, "adder", train, val, epochs=1, out=tmp_path / "a.tflite", progress=False)
    bad = tmp_path / "broken.edgesdk"
    bad.write_bytes(b"PK\x03\x04 not really")
    from edgesdk.compiler.model import load_model

    with pytest.raises(ModelFormatError, match="is not a readable zip archive"):
        load_model(bad)


@pytest.mark.skipif(GCC is None, reason="needs host gcc")
def test_adder_model_c_bit_exact(adder_file, tmp_path: Path) -> None:
    from edgesdk.compiler.model import load_model
    from edgesdk.passes import PassContext, run_pipeline

    g = load_model(adder_file[0])
    project, exe = generate_and_build(run_pipeline(g, "default", PassContext()), tmp_path, sanitize=True)
    assert "ed_adder.c" in project.kernel_files
    x = random_inputs(project.input_size, 30, seed=5)
    np.testing.assert_array_equal(run_host(exe, x, project.output_size), reference_outputs(g, x))


@pytest.mark.skipif(
    not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")), reason="needs QEMU"
)
def test_validate_adder_file_on_the_emulated_board(adder_file, tmp_path: Path) -> None:
    code = main(["validate", str(adder_file[0]), "--count", "5", "-o", str(tmp_path / "v")])
    assert code == 0
