"""Low-rank factorization (``lowrank``) and distillation: the factors, the rebuilt model, compress end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesdk.compress import compress
from edgesdk.compress.lowrank import RankSpec, factorize, parse_rank, svd_factors, tucker2_factors
from edgesdk.errors import CompressError


@pytest.fixture
def mlp(digits_mlp):
    return digits_mlp


@pytest.fixture
def cnn(digits_cnn):
    return digits_cnn


def test_parse_rank() -> None:
    assert parse_rank("8") == RankSpec(rank=8)
    assert parse_rank("0.9e") == RankSpec(energy=0.9)
    assert parse_rank(None) == RankSpec(energy=0.9)
    for bad in ("0", "-3", "abc", "1.5e", "0e", "0.5"):
        with pytest.raises(CompressError, match="lowrank="):
            parse_rank(bad)


def test_factors_reconstruct_a_low_rank_kernel() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 3)) @ rng.normal(size=(3, 12))  # rank 3
    a, b = svd_factors(w, 3)
    np.testing.assert_allclose(a @ b, w, atol=1e-5)
    # A conv kernel of multilinear rank (2, 3) in its channel modes.
    core = rng.normal(size=(3, 3, 2, 3))
    u1, u2 = rng.normal(size=(6, 2)), rng.normal(size=(9, 3))
    k = np.einsum("hwrs,ir,os->hwio", core, u1, u2)
    v1, g, v2 = tucker2_factors(k, 2, 3)
    assert v1 is not None and v2 is not None and g.shape == (3, 3, 2, 3)
    np.testing.assert_allclose(np.einsum("hwrs,ir,os->hwio", g, v1, v2), k, atol=1e-4)
    # Full rank in a mode: that mode is not factored.
    v1, g, v2 = tucker2_factors(k, 6, 3)
    assert v1 is None and g.shape == (3, 3, 6, 3)


def test_factorized_models_compute_the_same_function_at_full_information(mlp, cnn) -> None:
    """With the exact rank of a low-rank kernel, the rebuilt model's outputs equal the original's."""
    import keras

    for path, train, _ in (mlp, cnn):
        model = keras.models.load_model(path)
        rng = np.random.default_rng(1)
        for layer in model.layers:
            if type(layer).__name__ in ("Dense", "Conv2D") and layer.name in ("fc1", "conv2"):
                k = layer.kernel.numpy()
                flat = k.reshape(-1, k.shape[-1])
                low = rng.normal(size=(flat.shape[0], 2)) @ rng.normal(size=(2, flat.shape[1])) * 0.1
                if k.ndim == 4:  # rank (2, 2) in the channel modes
                    low = (
                        np.einsum(
                            "hwrs,ir,os->hwio",
                            rng.normal(size=(3, 3, 2, 2)),
                            rng.normal(size=(k.shape[2], 2)),
                            rng.normal(size=(k.shape[3], 2)),
                        )
                        * 0.1
                    )
                layer.kernel.assign(low.reshape(k.shape).astype(np.float32))
        name = "fc1" if "mlp" in model.name else "conv2"
        new, report = factorize(model, RankSpec(rank=2), only={name})
        assert report[name]["factorized"] and report[name]["params_after"] < report[name]["params_before"]
        assert len(new.layers) > len(model.layers)
        x = train[0][:64]
        np.testing.assert_allclose(new.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)


def test_rank_larger_than_the_layer_is_refused(mlp, tmp_path: Path) -> None:
    path, train, val = mlp
    msg = r"rank 60 is larger than every layer allows; the largest, layer fc1, allows at most 48 \(64×48"
    with pytest.raises(CompressError, match=msg):
        compress(path, "lowrank=60", train, val, epochs=1, out=tmp_path / "x.tflite", progress=False)
    assert not (tmp_path / "x.tflite").exists()


def test_lowrank_compress_mlp_with_distillation(mlp, tmp_path: Path) -> None:
    """lowrank=8 on the MLP, fine-tuned with and without distillation: smaller, still accurate, and the
    teacher changes the training."""
    from edgesdk.frontends.tflite import read_tflite

    path, train, val = mlp
    plain = compress(
        path, "lowrank=8", train, val, epochs=3, out=tmp_path / "lr.tflite", distill=False, progress=False
    )
    dist = compress(
        path, "lowrank=8", train, val, epochs=3, out=tmp_path / "lr_kd.tflite", distill=True, progress=False
    )
    g = read_tflite(tmp_path / "lr.tflite")
    fcs = [n for n in g.nodes if n.op == "FULLY_CONNECTED"]
    # fc1 (64x48 -> 64x8 + 8x48) and fc2 (48x32 -> 48x8 + 8x32) factorized; fc3 (32x10: 8*42 > 320) kept
    assert [g.tensor(n.inputs[1]).shape for n in fcs] == [(8, 64), (48, 8), (8, 48), (32, 8), (10, 32)]
    assert plain.weight_bytes_size_export == 8 * 64 + 48 * 8 + 8 * 48 + 32 * 8 + 10 * 32
    assert plain.weight_bytes_size_export < 64 * 48 + 48 * 32 + 32 * 10  # the int8 model's
    assert plain.accuracy_compressed > 0.85 and dist.accuracy_compressed > 0.85
    # The teacher's soft targets (the KL term of the loss) change the training, so the weights differ.
    assert (tmp_path / "lr.tflite").read_bytes() != (tmp_path / "lr_kd.tflite").read_bytes()


def test_lowrank_compress_cnn_tucker(cnn, tmp_path: Path) -> None:
    from edgesdk.frontends.tflite import read_tflite

    path, train, val = cnn
    r = compress(path, "lowrank=4", train, val, epochs=2, out=tmp_path / "cnn.tflite", progress=False)
    g = read_tflite(tmp_path / "cnn.tflite")
    convs = [g.tensor(n.inputs[1]).shape for n in g.nodes if n.op == "CONV_2D"]
    # conv1 (1 -> 8, 3x3): only its output mode is factored (core 1->4, then 1x1 4->8);
    # conv2 (8 -> 16): 1x1 8->4, core 3x3 4->4, 1x1 4->16.
    assert convs == [(4, 3, 3, 1), (8, 1, 1, 4), (4, 1, 1, 8), (4, 3, 3, 4), (16, 1, 1, 4)]
    assert r.accuracy_compressed > 0.8
