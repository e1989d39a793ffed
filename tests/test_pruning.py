"""Pruning and weight sharing as ``compress`` methods, end to end on load_digits with tiny models.

Each method runs for real (fine-tuning in Keras, the real TFLite converter, ai-edge-litert for the accuracy of
the written file), then the int8 graph goes through the default passes, which must find the structure the method
left (zeros, few values per channel, 3x3 patterns) and pick the matching kernel; the generated C with that kernel
is compared bit for bit with the reference on the host, and one compressed model on the emulated board.
Filter pruning is checked for exactness: the smaller rebuilt model computes what the original computes with the
removed filters zeroed. Bad input gets one sentence (CompressError, exit code 9).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.errors import CompressError

keras = pytest.importorskip("keras")

from edgesdk.compress import compress  # noqa: E402
from edgesdk.compress.prune import zhu_gupta_sparsity  # noqa: E402
from edgesdk.compress.share import kmeans_linear  # noqa: E402
from edgesdk.frontends.tflite import read_tflite  # noqa: E402
from edgesdk.ir import weightformats as wf  # noqa: E402
from edgesdk.passes import PassContext, kernel_decisions, run_pipeline  # noqa: E402
from hostbuild import generate_and_build, run_host  # noqa: E402

N_TRAIN = 400


@pytest.fixture(scope="session")
def digits_data():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    return (
        x[idx[:N_TRAIN]],
        y[idx[:N_TRAIN]],
        x[idx[N_TRAIN : N_TRAIN + 200]],
        y[idx[N_TRAIN : N_TRAIN + 200]],
    )


def _fit(model, x, y, epochs: int):
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="session")
def mlp(digits_data):
    keras.utils.set_random_seed(1)
    x, y, _, _ = digits_data
    m = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(48, activation="relu", name="h1"),
            keras.layers.Dense(10, name="out"),
        ],
        name="mlp",
    )
    return _fit(m, x, y, 30)


@pytest.fixture(scope="session")
def cnn(digits_data):
    keras.utils.set_random_seed(2)
    x, y, _, _ = digits_data
    m = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="c2"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="out"),
        ],
        name="cnn",
    )
    return _fit(m, x.reshape(-1, 8, 8, 1), y, 15)


def _decisions(path: Path, optimize: str = "speed"):
    graph = read_tflite(path)
    lowered = run_pipeline(graph, "default", PassContext(core="cortex-m4", optimize=optimize))
    return graph, lowered, {d["layer"]: d for d in kernel_decisions(lowered)}


def _bit_exact_on_host(graph, lowered, tmp_path: Path, x_float: np.ndarray) -> None:
    t = graph.tensor(graph.inputs[0])
    if t.dtype == "float32":  # the C API takes the int8 tensor after QUANTIZE
        q = graph.tensor(graph.consumers(graph.inputs[0])[0].outputs[0]).quant
    else:
        q = t.quant
    xq = np.clip(np.round(x_float.reshape(len(x_float), -1) / q.s) + q.zp, -128, 127).astype(np.int8)
    project, exe = generate_and_build(lowered, tmp_path, sanitize=True)
    got = run_host(exe, xq, project.output_size)
    from edgesdk.backends.c.generator import _int8_view
    from edgesdk.reference import Reference

    ref = Reference(graph)
    _, outs, _ = _int8_view(graph)
    want = np.stack([ref.run_all(_dq(row, q, t.dtype))[outs[0]].reshape(-1) for row in xq]).astype(np.int8)
    np.testing.assert_array_equal(got, want)


def _dq(row: np.ndarray, q, dtype: str) -> np.ndarray:
    return ((row.astype(np.float64) - q.zp) * q.s).astype(np.float32) if dtype == "float32" else row


# --- pure functions ------------------------------------------------------------------------------------------
def test_zhu_gupta_schedule_and_linear_kmeans() -> None:
    assert zhu_gupta_sparsity(0, 100, 0.9) == 0.0
    assert zhu_gupta_sparsity(100, 100, 0.9) == 0.9
    assert zhu_gupta_sparsity(50, 100, 0.9) == pytest.approx(0.9 * (1 - 0.5**3))
    s = [zhu_gupta_sparsity(t, 100, 0.9) for t in range(101)]
    assert all(b >= a for a, b in zip(s, s[1:], strict=False))  # monotone ramp, fast at first
    v = np.concatenate([np.full(50, -1.0), np.full(30, 0.5), np.full(5, 3.0)])
    c, a = kmeans_linear(v, 3)
    np.testing.assert_allclose(np.sort(c), [-1.0, 0.5, 3.0])
    np.testing.assert_allclose(c[a], v)


def test_centroid_gradient_is_the_sum_over_its_cluster() -> None:
    """Deep Compression's fine-tuning: d loss / d centroid_k = sum of d loss / d w over the weights of cluster k."""
    import tensorflow as tf

    from edgesdk.compress.share import _make_classes, clusters

    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 5)).astype(np.float32)
    w[rng.random(w.shape) < 0.3] = 0  # pruned weights stay out of every cluster
    centroids, assign, alive = clusters(w, 2)
    assert centroids.size == 3  # 2 bits: the zero plus 3 centroids
    layer = _make_classes()["Dense"](5, use_bias=False)
    layer._edgesdk_k = centroids.size
    layer.build((None, 6))
    layer.centroids.assign(centroids.astype(np.float32))
    layer.assign.assign(assign.astype(np.int32))
    layer.alive.assign(alive)
    x = tf.constant(rng.normal(size=(4, 6)).astype(np.float32))
    r = tf.constant(rng.normal(size=(4, 5)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * r)
    g_centroids = tape.gradient(loss, layer.centroids.value)
    kernel = tf.Variable(centroids[assign].astype(np.float32) * alive)
    with tf.GradientTape() as tape:
        loss2 = tf.reduce_sum(tf.matmul(x, kernel) * r)
    g_w = tape.gradient(loss2, kernel).numpy() * alive
    want = np.bincount(assign.reshape(-1), weights=g_w.reshape(-1), minlength=centroids.size)
    np.testing.assert_allclose(g_centroids.numpy(), want, rtol=1e-5, atol=1e-5)
    assert float(loss) == pytest.approx(float(loss2), rel=1e-6)


# --- methods end to end -------------------------------------------------------------------------------------
def test_prune_share_int8_is_deep_compression(mlp, digits_data, tmp_path: Path) -> None:
    """prune=0.8,share=2bit: zeros + at most 4 values per row -> sparse kernel; bit-exact C; smaller bytes."""
    x, y, xv, yv = digits_data
    r = compress(
        mlp,
        "share=2bit,prune=0.8",
        (x, y),
        (xv, yv),
        epochs=2,
        out=tmp_path / "dc.tflite",
        keep_int8="",
        progress=False,
    )
    assert r.method == "prune=0.8,share=2bit,int8"  # fixed order, int8 implied
    graph, lowered, dec = _decisions(tmp_path / "dc.tflite")
    for node in lowered.nodes:
        if node.op == "FULLY_CONNECTED":
            w = graph.tensor(node.inputs[1]).data
            assert abs(np.mean(w == 0) - 0.8) < 0.02
            assert wf.max_distinct(w) <= 4  # 3 centroids + the zero per channel
            assert dec[node.name]["kernel"] in ("sparse", "sparse_codebook")
    rows = {row["keras_name"]: row for row in r.layers}
    assert rows["h1"]["size_format"] in ("sparse", "sparse_codebook") and rows["h1"][
        "sparsity"
    ] == pytest.approx(0.8, abs=0.01)
    assert r.weight_bytes_size_export < r.weight_bytes_float / 8
    assert r.accuracy_compressed > 0.5
    _bit_exact_on_host(graph, lowered, tmp_path / "c", xv[:20])
    _cli_kernel_choice(tmp_path / "dc.tflite", tmp_path)


def _cli_kernel_choice(model: Path, tmp_path: Path) -> None:
    """``edgesdk export --optimize/--kernel/--no-kernel`` reach the passes; a malformed option is one sentence."""
    import json

    from edgesdk.commands.cli import main

    graph = read_tflite(model)
    fc = [n.name for n in graph.nodes if n.op == "FULLY_CONNECTED"]
    out = tmp_path / "cli"
    args = ["export", str(model), "--board", "host", "-o", str(out)]
    assert main([*args, "--kernel", f"{fc[0]}=codebook", "--no-kernel", "*=sparse_codebook"]) == 0
    kernels = {k["layer"]: k["kernel"] for k in json.loads((out / "report.json").read_text())["kernels"]}
    assert kernels[fc[0]] == "codebook" and "sparse_codebook" not in kernels.values()
    assert main([*args, "--kernel", "fc1"]) == 1


def test_share_gives_codebook_kernel(mlp, digits_data, tmp_path: Path) -> None:
    x, y, xv, yv = digits_data
    r = compress(
        mlp, "share=4bit", (x, y), (xv, yv), epochs=1, out=tmp_path / "s.tflite", keep_int8="", progress=False
    )
    graph, lowered, dec = _decisions(tmp_path / "s.tflite", optimize="size")
    assert {d["kernel"] for d in dec.values()} == {"codebook"}
    for node in lowered.nodes:
        if node.op == "FULLY_CONNECTED":
            assert wf.max_distinct(graph.tensor(node.inputs[1]).data) <= 16
    assert r.accuracy_compressed > 0.5
    _bit_exact_on_host(graph, lowered, tmp_path / "c", xv[:20])


def test_pattern_pruning_runs_generated_kernel(cnn, digits_data, tmp_path: Path) -> None:
    x, y, xv, yv = digits_data
    x4, xv4 = x.reshape(-1, 8, 8, 1), xv.reshape(-1, 8, 8, 1)
    r = compress(cnn, "pattern=4", (x4, y), (xv4, yv), epochs=1, out=tmp_path / "p.tflite", keep_int8="first,last",
                 progress=False)  # fmt: skip
    graph, lowered, dec = _decisions(tmp_path / "p.tflite")
    pat = [d for d in dec.values() if d["kernel"] == "pattern"]
    assert (
        len(pat) == 1 and pat[0]["kernels_kept"] == pat[0]["kernels_total"] // 2 and pat[0]["patterns"] <= 8
    )
    assert pat[0]["candidates"]["pattern"]["instructions"] < pat[0]["candidates"]["dense"]["instructions"]
    assert {row["keras_name"]: row for row in r.layers}["c2"]["target"] == "pattern"
    _bit_exact_on_host(graph, lowered, tmp_path / "c", xv4[:10])


def _residual_cnn(bn: bool):
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    b = keras.layers.Conv2D(8, 3, padding="same", name="b1")(a)
    if bn:
        b = keras.layers.BatchNormalization(name="bn")(b)
    b = keras.layers.ReLU()(b)
    b = keras.layers.Conv2D(8, 3, padding="same", name="b2")(b)
    s = keras.layers.Add()([a, b])
    s = keras.layers.MaxPooling2D(2)(s)
    f = keras.layers.Flatten()(s)
    out = keras.layers.Dense(10, name="out")(f)
    return keras.Model(inp, out, name="res")


def test_filter_pruning_removes_channels_exactly(digits_data, tmp_path: Path) -> None:
    """L1 filter pruning of a residual CNN: the rebuilt model (no fine-tuning) equals the original with the
    removed filters zeroed; the residual group (stem + b2) shares one choice; Flatten->Dense rows follow."""
    from edgesdk.compress.base import CompressContext

    x, y, xv, yv = digits_data
    model = _residual_cnn(bn=False)
    ctx = CompressContext(
        x.reshape(-1, 8, 8, 1), y, xv.reshape(-1, 8, 8, 1), yv, epochs=0, seed=0, keep_int8={"out"}
    )
    from edgesdk.compress.prune import apply_filter

    small = apply_filter(model, "0.5", ctx)
    convs = {la.name: la for la in small.layers if type(la).__name__ == "Conv2D"}
    assert {n: int(la.kernel.shape[-1]) for n, la in convs.items()} == {"stem": 4, "b1": 4, "b2": 4}
    assert ctx.layers["b1"]["filters_before"] == 8 and ctx.layers["b1"]["filters_after"] == 4
    # Zero the removed filters in the original: same function.
    ref = keras.models.clone_model(model)
    ref.set_weights(model.get_weights())
    group = sum(np.abs(model.get_layer(n).kernel.numpy()).reshape(-1, 8).sum(0) for n in ("stem", "b2"))
    for names, score in (
        (("stem", "b2"), group),
        (("b1",), np.abs(model.get_layer("b1").kernel.numpy()).reshape(-1, 8).sum(0)),
    ):
        drop = np.sort(np.argsort(-score, kind="stable")[4:])
        for n in names:
            k, b = ref.get_layer(n).get_weights()
            k[..., drop], b[drop] = 0, 0
            ref.get_layer(n).set_weights([k, b])
    xs = xv[:16].reshape(-1, 8, 8, 1)
    np.testing.assert_allclose(small.predict(xs, verbose=0), ref.predict(xs, verbose=0), rtol=1e-5, atol=1e-5)


def test_fpgm_with_batchnorm_compresses_and_converts(digits_data, tmp_path: Path) -> None:
    x, y, xv, yv = digits_data
    model = _residual_cnn(bn=True)
    x4, xv4 = x.reshape(-1, 8, 8, 1), xv.reshape(-1, 8, 8, 1)
    r = compress(
        model,
        "fpgm=0.5",
        (x4, y),
        (xv4, yv),
        epochs=1,
        out=tmp_path / "f.tflite",
        keep_int8="out",
        progress=False,
    )
    rows = {row["keras_name"]: row for row in r.layers}
    assert rows["b1"]["filters_after"] == 4 and rows["stem"]["filters_after"] == 4
    assert r.weight_bytes_int8 < r.weight_bytes_float / 4 * 0.6  # about half the weights


@pytest.mark.emulator
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is not installed")
def test_compressed_model_bit_exact_on_emulated_board(mlp, digits_data, tmp_path: Path) -> None:
    """A pruned model with the sparse kernel, validated input by input on the emulated Cortex-M4."""
    from edgesdk.commands.device import validate

    x, y, xv, yv = digits_data
    compress(
        mlp, "prune=0.9", (x, y), (xv, yv), epochs=1, out=tmp_path / "p.tflite", keep_int8="", progress=False
    )
    graph, _, dec = _decisions(tmp_path / "p.tflite")
    assert {d["kernel"] for d in dec.values()} == {"sparse"}
    summary = validate(graph, "mps2-an386", count=6, out_dir=tmp_path / "v")
    assert summary.exact == summary.count == 6


# --- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "words"),
    [
        ("prune=1.5", "prune ratio 1.5 is outside (0, 1)"),
        ("prune=0", "prune ratio 0 is outside (0, 1)"),
        ("filter=-0.2", "filter ratio -0.2 is outside (0, 1)"),
        ("fpgm=abc", "method fpgm takes a ratio between 0 and 1"),
        ("prune", "method prune needs a ratio"),
        ("share=5bit", "method share takes the bits per weight from 1 to 4"),
        ("pattern=3", "method pattern takes 4"),
        ("ternary,prune=0.5", "methods prune and ternary cannot be combined"),
        ("fpgm=0.5,filter=0.5", "methods filter and fpgm cannot be combined"),
    ],
)
def test_bad_method_arguments(method: str, words: str, mlp, digits_data, tmp_path: Path) -> None:
    x, y, xv, yv = digits_data
    with pytest.raises(CompressError, match=words.replace("(", r"\(").replace(")", r"\)")) as exc:
        compress(
            mlp, method, (x, y), (xv, yv), epochs=0, out=tmp_path / "m.tflite", keep_int8="", progress=False
        )
    assert exc.value.exit_code == 9 and "\n" not in str(exc.value)


def test_method_a_layer_cannot_take_names_it(digits_data, tmp_path: Path) -> None:
    """pattern=4 skips a convolution it cannot take (with a note) instead of asking for --keep-int8 (which would
    replace the default choice and send the user in circles); a model with no 3x3 convolution is one sentence,
    before any training."""
    x, y, xv, yv = digits_data
    keras.utils.set_random_seed(4)
    m = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", name="c3x3"),
            keras.layers.Conv2D(4, 5, padding="same", name="c5x5"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="out"),
        ],
        name="mixed",
    )
    x4, xv4 = x.reshape(-1, 8, 8, 1), xv.reshape(-1, 8, 8, 1)
    r = compress(m, "pattern=4", (x4, y), (xv4, yv), epochs=1, out=tmp_path / "m.tflite", keep_int8="",
                 progress=False)  # fmt: skip
    rows = {row["keras_name"]: row for row in r.layers}
    assert rows["c3x3"]["target"] == "pattern"
    assert rows["c5x5"]["note"] == (
        "layer c5x5 (5x5 Conv2D) keeps int8 weights: pattern pruning takes ungrouped 3x3 kernels"
    )
    m5 = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 5, name="c5"), keras.layers.Flatten(),
         keras.layers.Dense(10, name="out")],
        name="only5",
    )  # fmt: skip
    with pytest.raises(
        CompressError,
        match=r"^model only5 has no ungrouped 3x3 Conv2D outside the int8-kept layers for pattern pruning "
        r"\(its other convolutions: c5 5x5\)$",
    ):
        compress(
            m5, "pattern=4", (x4, y), (xv4, yv), out=tmp_path / "m5.tflite", keep_int8="", progress=False
        )
    # A model whose only convolution feeds the output cannot lose filters.
    inp = keras.Input((8, 8, 1))
    only = keras.Model(
        inp, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(10, 3, name="head")(inp))
    )
    with pytest.raises(CompressError, match="has no Conv2D whose filters can be removed"):
        compress(
            only,
            "filter=0.5",
            (x4, y),
            (xv4, yv),
            epochs=0,
            out=tmp_path / "n.tflite",
            keep_int8="",
            progress=False,
        )


def test_filter_pruning_through_depthwise_and_global_pooling(digits_data) -> None:
    """stem -> depthwise -> pointwise -> global pooling -> Dense: the depthwise layer follows the stem's kept
    channels, the Dense loses the pointwise's removed rows; equal to the original with those channels zeroed."""
    from edgesdk.compress.base import CompressContext
    from edgesdk.compress.prune import apply_filter

    keras.utils.set_random_seed(5)
    inp = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    d = keras.layers.ReLU()(keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(a))
    p = keras.layers.Conv2D(12, 1, name="pw")(d)
    model = keras.Model(inp, keras.layers.Dense(10, name="out")(keras.layers.GlobalAveragePooling2D()(p)))
    x, y, xv, yv = digits_data
    ctx = CompressContext(
        x.reshape(-1, 8, 8, 1), y, xv.reshape(-1, 8, 8, 1), yv, epochs=0, seed=0, keep_int8={"out"}
    )
    small = apply_filter(model, "0.5", ctx)
    assert tuple(small.get_layer("dw").kernel.shape) == (3, 3, 4, 1)
    assert tuple(small.get_layer("out").kernel.shape) == (6, 10)
    ref = keras.models.clone_model(model)
    ref.set_weights(model.get_weights())
    for conv, n, followers in (("stem", 8, ("dw",)), ("pw", 12, ())):
        score = np.abs(model.get_layer(conv).kernel.numpy()).reshape(-1, n).sum(0)
        drop = np.sort(np.argsort(-score, kind="stable")[n // 2 :])
        for name in (conv, *followers):
            k, b = ref.get_layer(name).get_weights()
            if name == "dw":
                k[:, :, drop, :] = 0
            else:
                k[..., drop] = 0
            b[drop] = 0
            ref.get_layer(name).set_weights([k, b])
    xs = xv[:16].reshape(-1, 8, 8, 1)
    np.testing.assert_allclose(small.predict(xs, verbose=0), ref.predict(xs, verbose=0), rtol=1e-5, atol=1e-5)


# --- masks survive later stages, in the written file -----------------------------------------------------------
@pytest.fixture(scope="session")
def dscnn(digits_data):
    """A tiny DS-CNN on digits (conv, BatchNorm, depthwise, pointwise, dense): the layer kinds of a KWS model."""
    keras.utils.set_random_seed(6)
    x, y, _, _ = digits_data
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(inp)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(name="conv_bn")(h))
    h = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(name="dw_bn")(h))
    h = keras.layers.Conv2D(16, 1, use_bias=False, name="pw")(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(name="pw_bn")(h))
    h = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(h))
    model = keras.Model(inp, keras.layers.Dense(10, name="out")(h), name="dscnn")
    return _fit(model, x.reshape(-1, 8, 8, 1), y, 15)


def _written_zeros(path: Path) -> dict[str, float]:
    """Share of exact int8 zeros in the weights of every weight layer of the written file, by IR layer name."""
    graph = read_tflite(path)
    ops = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    return {n.name: float(np.mean(graph.tensor(n.inputs[1]).data == 0)) for n in graph.nodes if n.op in ops}


@pytest.mark.parametrize("method", ["prune=0.8,share=4bit", "prune=0.8"])
def test_pruning_masks_survive_sharing_and_distillation(
    dscnn, digits_data, method: str, tmp_path: Path
) -> None:
    """Every layer prune reports as pruned holds >= the requested share of exact zeros in the WRITTEN .tflite,
    also after weight sharing and distillation fine-tuned the model again (the depthwise layer, which sharing
    does not cluster, included); BatchNorm folded by the converter keeps them."""
    x, y, xv, yv = digits_data
    x4, xv4 = x.reshape(-1, 8, 8, 1), xv.reshape(-1, 8, 8, 1)
    out = tmp_path / "dc.tflite"
    r = compress(dscnn, method, (x4, y), (xv4, yv), epochs=2, out=out, keep_int8="none", distill=True,
                 progress=False)  # fmt: skip
    zeros = _written_zeros(out)
    pruned = [row for row in r.layers if row.get("target", "").startswith("sparse")]
    assert {row["keras_name"] for row in pruned} == {"conv", "dw", "pw", "out"}
    for row in pruned:
        assert zeros[row["name"]] >= 0.8, (row["name"], zeros)


def test_auto_keep_int8_is_measured_and_reported(dscnn, digits_data, tmp_path: Path) -> None:
    """The default --keep-int8 (auto) measures each layer's one-shot drop and keeps the chosen ones int8."""
    from edgesdk.compress.sensitivity import BUDGET, MIN_DROP, choose

    x, y, xv, yv = digits_data
    x4, xv4 = x.reshape(-1, 8, 8, 1), xv.reshape(-1, 8, 8, 1)
    r = compress(dscnn, "prune=0.8", (x4, y), (xv4, yv), epochs=1, out=tmp_path / "a.tflite", progress=False)
    measured = {row["keras_name"]: row for row in r.layers if "sensitivity_drop_pt" in row}
    assert set(measured) == {"conv", "dw", "pw", "out"}
    sens = {
        n: {"drop": row["sensitivity_drop_pt"] / 100, "params": row["params"]} for n, row in measured.items()
    }
    assert set(r.keep_int8) == choose(sens)
    for name, row in measured.items():
        if name in r.keep_int8:
            assert row["note"].startswith("kept int8 (auto: one-shot drop") and "target" not in row
            assert row["sensitivity_drop_pt"] >= 100 * MIN_DROP
        else:
            assert row["target"] == "sparse"
    assert sum(measured[n]["params"] for n in r.keep_int8) <= BUDGET * sum(
        row["params"] for row in measured.values()
    )
    assert r.val_optimistic


def test_choose_keeps_sensitive_small_layers_within_budget() -> None:
    from edgesdk.compress.sensitivity import choose

    sens = {
        "first": {"drop": 0.20, "params": 100},  # sensitive and small: kept
        "big": {"drop": 0.30, "params": 5000},  # sensitive but beyond the budget: compressed
        "mid": {"drop": 0.05, "params": 1000},  # sensitive, fits after first: kept
        "calm": {"drop": 0.002, "params": 50},  # below the minimum drop: compressed
        "last": {"drop": 0.03, "params": 800},  # would exceed 25 % of 6950 with first and mid: compressed
    }
    assert choose(sens) == {"first", "mid"}
