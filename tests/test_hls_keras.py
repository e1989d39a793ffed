"""hls4ml's own Keras-3 entry point on edgesdk's binary training layers (Keras-3 layer handlers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("hls4ml")


@pytest.fixture(scope="session")
def digits_xnor_keras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """A binary MLP trained on load_digits with edgesdk's xnor method: the trained Keras model (BinaryDense,
    BatchNorm, BinarySign layers) and the ``.xnor`` graph edgesdk writes from it, with held-out digits."""
    import keras
    from sklearn.datasets import load_digits

    from edgesdk.compress.base import CompressContext, resolve_keep_int8
    from edgesdk.compress.xnor import apply_xnor

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    keras.utils.set_random_seed(5)
    inp = keras.Input((64,), batch_size=1)
    h = keras.layers.Dense(64, activation="relu")(inp)
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(40, activation="relu")(h)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h), name="kdigits")
    ctx = CompressContext(
        x_train=x[:1400],
        y_train=y[:1400],
        x_val=x[1400:],
        y_val=y[1400:],
        epochs=3,
        seed=5,
        keep_int8=resolve_keep_int8(model, "first,last"),
        show_progress=False,
    )
    qat = apply_xnor(model, None, ctx)
    res = qat._edgesdk_writer(tmp_path_factory.mktemp("kxnor") / "kdigits.xnor", ctx)
    assert res["accuracy"] > 0.5  # a working classifier, so the bits below are not trivial
    return qat, res["graph"], x[1400:1420], y[1400:1420]


def _core(qat: Any) -> Any:
    """The binary part of the trained model as its own Keras model: ±1 in, BinaryDense+BN+sign layers, ±1 out."""
    import keras

    layers = [
        la for la in qat.layers if type(la).__name__ in ("BinaryDense", "BatchNormalization", "BinarySign")
    ]
    first = next(i for i, la in enumerate(layers) if type(la).__name__ == "BinaryDense")
    inp = keras.Input((int(layers[first].kernel.shape[0]),), batch_size=1)
    x = inp
    for la in layers[first:]:
        x = la(x)
    return keras.Model(inp, x, name="core")


def _hls_config() -> dict[str, Any]:
    return {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}


def test_keras_xnor_layers_convert_through_hls4ml_and_csim_equals_the_reference(
    digits_xnor_keras: Any, tmp_path: Path
) -> None:
    """convert_from_keras_model on the trained binary layers gives our folded XNOR units; C-simulated on the
    reference's own first-layer bits, the output bits equal the ``.xnor`` graph's bit for bit."""
    import hls4ml

    from edgesdk.backends.hls.extensions import register
    from edgesdk.reference import Reference
    from edgesdk.reference.binary import unpack_bits

    qat, graph, x, _ = digits_xnor_keras
    register()
    register()  # idempotent
    core = _core(qat)
    hm = hls4ml.converters.convert_from_keras_model(
        core,
        output_dir=str(tmp_path / "vitis"),
        backend="Vitis",
        io_type="io_parallel",
        hls_config=_hls_config(),
        project_name="core",
    )
    classes = [layer.class_name for layer in hm.graph.values()]
    assert classes.count("EdgeXnorDense") == 2
    assert "EdgeSign" in classes and "EdgeUnpack" in classes
    assert "BatchNormalization" not in classes  # folded into the thresholds

    t_in = graph.tensor(graph.inputs[0])
    q = np.clip(np.round(x / t_in.quant.s) + t_in.quant.zp, -128, 127).astype(np.int8)
    tensors = Reference(graph).run_batch_all(q)
    nodes = {n.op: n for n in graph.nodes}
    binarize, unpack = nodes["EDGESDK_BINARIZE"], nodes["EDGESDK_UNPACK_BITS"]

    def pm1(name: str, k: int) -> np.ndarray:
        words = np.ascontiguousarray(tensors[name]).reshape(len(x), -1).view(np.uint32)
        return np.where(unpack_bits(words, k), 1, -1)

    a = pm1(binarize.outputs[0], binarize.channels).astype(np.float32)
    want = pm1(unpack.inputs[0], unpack.channels)
    assert 0 < (want > 0).mean() < 1
    hm.compile()
    got = np.asarray(hm.predict(np.ascontiguousarray(a))).reshape(want.shape)
    np.testing.assert_array_equal(got.astype(np.int64), want)


def test_the_whole_trained_xnor_model_converts_on_vivado_too(digits_xnor_keras: Any, tmp_path: Path) -> None:
    """The full model (float first/last layers go to hls4ml's own layers) converts on Vivado: the hidden
    binary layers become our units, registered on both backends."""
    import hls4ml
    import keras

    from edgesdk.backends.hls.extensions import register

    qat = digits_xnor_keras[0]
    register()
    hm = hls4ml.converters.convert_from_keras_model(
        qat,
        output_dir=str(tmp_path / "vivado"),
        backend="Vivado",
        io_type="io_parallel",
        hls_config=_hls_config(),
    )
    classes = [layer.class_name for layer in hm.graph.values()]
    assert classes.count("EdgeXnorDense") == 2
    assert classes.count("BatchNormalization") == 1  # the first layer's, before its sign: hls4ml's own
    assert classes.index("EdgeSign") < classes.index("EdgeXnorDense") < classes.index("EdgeUnpack")
    # a sub-model ending at a sign that the full model feeds to a binary layer: its output is unpacked to ±1
    sign = next(la for la in qat.layers if type(la).__name__ == "BinarySign")
    head = keras.Model(qat.inputs, sign.output)
    hm = hls4ml.converters.convert_from_keras_model(
        head, output_dir=str(tmp_path / "head"), backend="Vivado", hls_config=_hls_config()
    )
    assert [layer.class_name for layer in hm.graph.values()][-2:] == ["EdgeSign", "EdgeUnpack"]


def test_a_binary_layer_without_its_sign_is_one_sentence(tmp_path: Path) -> None:
    import hls4ml
    import keras

    from edgesdk.backends.hls.extensions import register
    from edgesdk.compress.xnor import _classes
    from edgesdk.errors import UnsupportedOpError

    register()
    inp = keras.Input((40,), batch_size=1)
    model = keras.Model(inp, _classes()["Dense"](8, use_bias=False, name="lonely")(inp))
    with pytest.raises(UnsupportedOpError, match="layer lonely .*BinarySign"):
        hls4ml.converters.convert_from_keras_model(
            model, output_dir=str(tmp_path / "x"), backend="Vitis", hls_config=_hls_config()
        )
