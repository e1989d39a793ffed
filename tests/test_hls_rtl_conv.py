"""The XNOR convolution in Verilog: Icarus Verilog == the reference, and it places on an iCE40 UP5K."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog is not installed")


def _case() -> tuple[Any, np.ndarray, np.ndarray]:
    """A 3x3 SAME conv on an odd 5x7 map of 40 channels (crossing a word edge), 12 outputs, some flipped."""
    from edgesdk.ir.binary import XnorConv2D
    from edgesdk.reference.binary import pack_bits

    rng = np.random.default_rng(11)
    c, o = 40, 12
    wbits = rng.random((o, 3, 3, c)) < 0.5
    thr = rng.integers(-30, 31, o)
    flip = rng.random(o) < 0.3
    thr[0] = 1 << 30  # a constant -1 channel
    node = XnorConv2D(
        name="conv",
        inputs=["x", "w"],
        outputs=["y"],
        in_channels=c,
        out_channels=o,
        kernel=(3, 3),
        stride=(1, 1),
        padding="SAME",
        pad_value=1,
        threshold=tuple(int(t) for t in thr),
        flip=tuple(bool(f) for f in flip),
    )
    maps = pack_bits(rng.random((3, 5, 7, c)) < 0.5)
    return node, pack_bits(wbits), maps


def test_xnor_conv_rtl_simulation_equals_the_reference(tmp_path: Path) -> None:
    from edgesdk.backends.hls.rtl_conv import simulate_conv, xnor_conv_verilog
    from edgesdk.reference.binary import unpack_bits
    from edgesdk.reference.xnor import bytes_to_words, words_to_bytes, xnor_conv2d

    node, w, maps = _case()
    want = bytes_to_words(xnor_conv2d(None, node, {}, [words_to_bytes(maps), w.view(np.int32)], "")).reshape(
        3, 5, 7, 1
    )
    bits = unpack_bits(want, 12)
    assert not bits[..., 0].any() and 0.2 < bits[..., 1:].mean() < 0.8  # a constant channel, the rest vary
    design = xnor_conv_verilog(w, (5, 7, 40), node.threshold, node.flip, kernel=(3, 3), pe=4, module="xconv")
    got, cycles = simulate_conv(design, maps, tmp_path / "sim")
    np.testing.assert_array_equal(got, want)
    assert design.cycles == (12 // 4) * 9 * 2 + 4
    assert min(cycles) >= 35 * design.cycles


def test_xnor_conv_rtl_stride_2_valid_equals_the_reference(tmp_path: Path) -> None:
    from edgesdk.backends.hls.rtl_conv import simulate_conv, xnor_conv_verilog
    from edgesdk.reference.xnor import bytes_to_words, words_to_bytes, xnor_conv2d

    node, w, maps = _case()
    node.stride, node.padding = (2, 2), "VALID"
    want = bytes_to_words(xnor_conv2d(None, node, {}, [words_to_bytes(maps), w.view(np.int32)], ""))
    design = xnor_conv_verilog(
        w, (5, 7, 40), node.threshold, node.flip, kernel=(3, 3), stride=(2, 2), padding="VALID", pe=3
    )
    got, _ = simulate_conv(design, maps, tmp_path / "sim")
    np.testing.assert_array_equal(got, want.reshape(got.shape))


def test_xnor_conv_rtl_places_on_an_ice40_up5k(tmp_path: Path) -> None:
    from edgesdk.backends.hls.rtl import synth_ice40
    from edgesdk.backends.hls.rtl_conv import xnor_conv_verilog

    if not (shutil.which("yosys") and shutil.which("nextpnr-ice40")):
        pytest.fail("yosys and nextpnr-ice40 are not installed (scripts/setup.sh installs them)")
    node, w, _ = _case()
    design = xnor_conv_verilog(w, (5, 7, 40), node.threshold, node.flip, kernel=(3, 3), pe=4, module="xconv")
    fig = synth_ice40(design, tmp_path / "ice40")
    assert fig["lut4"] > 0 and fig["dff"] > 0 and fig["yosys_cells"] >= fig["lut4"]
    assert fig["cells"].get("SB_RAM40_4K", 0) > 0  # the feature map sits in block RAM
    assert fig["placed"]["ICESTORM_LC"]["available"] == 5280
    assert fig["fmax_mhz"] is not None and fig["fmax_mhz"] > 0
