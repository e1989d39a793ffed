"""The open-source path for the XNOR convolution: Verilog from ``hls/rtl/xnor_conv.v.j2``, Icarus Verilog
against the reference, yosys ``synth_ice40`` + nextpnr-ice40 through :func:`edgesdk.backends.hls.rtl.synth_ice40`.

The unit is a sequential window walker (no line buffer): the feature map sits in a word memory, and for each
output pixel the KH x KW window is read one 32-bit word per cycle (an out-of-map position reads the +1 padding
word: ones in the valid channels, zero tail) through a one-cycle synchronous read that maps to iCE40
block RAM, the XNOR and its popcount (a balanced adder tree) registered, PE output channels in parallel as in FINN's matrix-vector unit
(Umuroglu et al., FPGA 2017). BatchNorm + sign are the popcount bounds of :func:`rtl.popcount_bounds` with
K = KH * KW * C valid bits per window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesdk.backends.hls.rtl_tools import (
    check_module,
    pe_roms,
    popcount_bounds,
    render,
    simulate_unit,
    split_words,
)
from edgesdk.errors import BuildError, EdgeSDKError
from edgesdk.reference.binary import WORD, words_for
from edgesdk.reference.xnor import conv_pads


@dataclass
class XnorConvRTL:
    """One XNOR convolution's Verilog and the figures it was generated with."""

    module: str
    verilog: str
    h: int
    w: int
    c: int
    oh: int
    ow: int
    mh: int  # output channels
    words: int  # feature-map words (H * W * words(C))
    pe: int
    cycles: int  # per output pixel, including the store


def _bits(n: int) -> int:
    return max(1, (max(n, 1) - 1).bit_length())


def xnor_conv_verilog(
    weights: np.ndarray,
    in_shape: tuple[int, int, int],
    threshold: np.ndarray,
    flip: np.ndarray,
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: str = "SAME",
    pe: int = 1,
    module: str = "edgesdk_xnor_conv",
    model: str = "model",
    layer: str = "layer",
) -> XnorConvRTL:
    """Verilog of an XNOR conv: ``weights`` uint32 words (O, KH, KW, words(C)), ``in_shape`` (H, W, C)."""
    h, wd, c = (int(v) for v in in_shape)
    kh, kw = (int(v) for v in kernel)
    sh, sw = (int(v) for v in stride)
    w = np.asarray(weights).astype(np.int64) & 0xFFFFFFFF
    wi = words_for(c)
    mh = int(w.shape[0])
    if w.shape != (mh, kh, kw, wi):
        raise EdgeSDKError(f"layer {layer}: weights {w.shape} are not (O, {kh}, {kw}, {wi}) packed words")
    if mh % pe:
        raise EdgeSDKError(f"layer {layer}: PE={pe} must divide {mh} output channels")
    check_module(module)
    oh, pt, _ = conv_pads(h, kh, sh, padding.upper())
    ow, pl, _ = conv_pads(wd, kw, sw, padding.upper())
    nf, sf = mh // pe, kh * kw * wi
    k = kh * kw * c
    mw = sf * WORD
    accw = (mw + 1).bit_length() + 1
    bounds = popcount_bounds(k, threshold, flip, mw)
    rows = w.reshape(mh, sf)
    nfw, sfw = _bits(nf), _bits(sf)
    pes = pe_roms(pe, nf, sf, lambda r, s: int(rows[r, s]), 8, bounds, WORD, accw)
    pad_words = []
    for j in range(wi):
        valid = min(WORD, c - j * WORD)
        pad_words.append(f"{(1 << valid) - 1:08x}")
    words, pixels = h * wd * wi, oh * ow
    text = render(
        "xnor_conv.v.j2",
        model=model,
        layer=layer,
        module=module,
        h=h,
        w=wd,
        wi=wi,
        kh=kh,
        kw=kw,
        sh=sh,
        sw=sw,
        pt=pt,
        pl=pl,
        ow=ow,
        mh=mh,
        pe=pe,
        nf=nf,
        sf=sf,
        nfw=nfw,
        sfw=sfw,
        kyw=_bits(kh),
        kxw=_bits(kw),
        wdw=_bits(wi),
        yw=_bits(oh),
        xw=_bits(ow),
        cw=max(_bits(words), _bits(oh * sh + kh), _bits(ow * sw + kw)) + 1,
        aw=_bits(words),
        pw=_bits(pixels),
        words=words,
        pixels=pixels,
        accw=accw,
        cycles=nf * sf + 4,
        pes=pes,
        pad_words=pad_words,
    )
    return XnorConvRTL(module, text, h, wd, c, oh, ow, mh, words, pe, nf * sf + 4)


def simulate_conv(rtl: XnorConvRTL, maps: np.ndarray, work: Path) -> tuple[np.ndarray, list[int]]:
    """Run the conv on feature maps ``maps`` (uint32 words, (N, H, W, words(C))) in Icarus Verilog.

    Returns the output bits packed as the reference packs them, uint32 (N, OH, OW, words(O)), and the cycles
    each map took from start to done.
    """
    work.mkdir(parents=True, exist_ok=True)
    v = np.asarray(maps).astype(np.int64) & 0xFFFFFFFF
    n = len(v)
    flat = v.reshape(n, -1)
    if flat.shape[1] != rtl.words:
        raise EdgeSDKError(f"{rtl.module}: a map has {flat.shape[1]} words, the unit takes {rtl.words}")
    (work / "maps.hex").write_text("\n".join(f"{int(x):08x}" for x in flat.ravel()) + "\n", encoding="utf-8")
    pixels = rtl.oh * rtl.ow
    geometry = {
        "aw": _bits(rtl.words),
        "pw": _bits(pixels),
        "mh": rtl.mh,
        "words": rtl.words,
        "pixels": pixels,
    }
    lines = simulate_unit(
        work, rtl.module, rtl.verilog, "xnor_conv_tb.v.j2", count=n, vectors="maps.hex", **geometry
    )
    if len(lines) != n * (pixels + 1):
        raise BuildError(f"the simulation wrote {len(lines)} lines for {n} maps of {pixels} pixels")
    wo = words_for(rtl.mh)
    outs = np.zeros((n, pixels, wo), dtype=np.uint32)
    cycles: list[int] = []
    for i in range(n):
        block = lines[i * (pixels + 1) : (i + 1) * (pixels + 1)]
        for p, row in enumerate(block[:-1]):
            if re.search(r"[xXzZ]", row):
                raise BuildError(f"the simulation output {i}, pixel {p} has undefined bits: {row}")
            outs[i, p] = split_words(int(row, 16), wo)
        cycles.append(int(block[-1].split()[1]))
    return outs.reshape(n, rtl.oh, rtl.ow, wo), cycles


__all__ = ["XnorConvRTL", "simulate_conv", "xnor_conv_verilog"]
