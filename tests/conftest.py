"""Shared fixtures: where the reference models are, and the hardware-test switches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Training in the tests must give the same weights on every machine and run (fixed seeds alone do not make
# TensorFlow's CPU kernels reproducible): set before TensorFlow is first imported.
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

REPO = Path(__file__).resolve().parent.parent
#: The reference models and TFLM golden vectors the tests need ship in the repository (models/README.md);
#: EDGESDK_MODELS points the tests at another copy.
MLPERF = Path(os.environ.get("EDGESDK_MODELS", REPO / "models" / "mlperf_tiny"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--board", default=None, help="run hardware tests on this board (name from boards/)")
    parser.addoption("--port", default=None, help="serial port of the board for hardware tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--board") and config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="hardware test: needs --board and --port")
    for item in items:
        if "hardware" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mlperf_dir() -> Path:
    if not MLPERF.is_dir():
        pytest.fail(f"reference models not found at {MLPERF} (set EDGESDK_MODELS)")
    return MLPERF


@pytest.fixture(scope="session")
def ic_model(mlperf_dir: Path) -> Path:
    return mlperf_dir / "pretrainedResnet_quant.tflite"


@pytest.fixture(scope="session")
def ad_model(mlperf_dir: Path) -> Path:
    return mlperf_dir / "ad01_int8.tflite"


@pytest.fixture(scope="session")
def ic_golden(mlperf_dir: Path):
    import numpy as np

    return dict(np.load(mlperf_dir / "golden_tflm" / "pretrainedResnet_quant.npz"))


@pytest.fixture(scope="session")
def ad_golden(mlperf_dir: Path):
    import numpy as np

    return dict(np.load(mlperf_dir / "golden_tflm" / "ad01_int8.npz"))


@pytest.fixture(scope="session")
def ic_graph(ic_model: Path):
    """The IC model read into the IR once per session (tests must not mutate it)."""
    from edgesdk.frontends.tflite import read_tflite

    return read_tflite(ic_model)


@pytest.fixture(scope="session")
def ad_graph(ad_model: Path):
    """The AD model read into the IR once per session (tests must not mutate it)."""
    from edgesdk.frontends.tflite import read_tflite

    return read_tflite(ad_model)


@pytest.fixture(scope="session")
def digits_mlp(tmp_path_factory: pytest.TempPathFactory):
    """A load_digits MLP (64-48-32-10) trained once per session: (path, (x, y) train, (x, y) val)."""
    from digits_models import train_digits_model

    return train_digits_model("mlp", tmp_path_factory.mktemp("digits_mlp"))


@pytest.fixture(scope="session")
def digits_cnn(tmp_path_factory: pytest.TempPathFactory):
    """A load_digits CNN (conv8-conv16-pool-dense10) trained once per session."""
    from digits_models import train_digits_model

    return train_digits_model("cnn", tmp_path_factory.mktemp("digits_cnn"))
