"""The parameter names edgesdk's hls4ml units share: the converter writes them into each layer's attributes and
the extensions into each unit's C++ config struct, so both read them from here."""

from __future__ import annotations

# The input and output sizes of a conv-like unit, and its kernel window and stride (config fields).
CONV_SHAPE_KEYS = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c")
WINDOW_KEYS = ("filter_h", "filter_w", "stride_h", "stride_w")


def conv_config(shape: tuple[int, ...], window: tuple[int, ...]) -> dict[str, int]:
    """The config fields of a conv-like unit: ``shape`` (in_h, in_w, in_c, out_h, out_w, out_c) and ``window``
    (filter_h, filter_w, stride_h, stride_w)."""
    return {**dict(zip(CONV_SHAPE_KEYS, shape, strict=True)), **dict(zip(WINDOW_KEYS, window, strict=True))}


# The ADD unit's requantization parameters, as the reference's ADD parameters name them (also its config fields).
ADD_REQUANT_KEYS = (
    "left_shift",
    "input1_offset",
    "input2_offset",
    "output_offset",
    "input1_multiplier",
    "input1_shift",
    "input2_multiplier",
    "input2_shift",
    "output_multiplier",
    "output_shift",
)


def conv_geometry(shape: tuple[int, ...], window: tuple[int, ...], pad: tuple[int, int]) -> dict[str, int]:
    """The geometry fields every windowed unit (convolution, depthwise, Winograd, pooling, XNOR convolution)
    takes: :func:`conv_config` and the top/left padding ``pad`` (pad_h, pad_w)."""
    return {**conv_config(shape, window), "pad_h": int(pad[0]), "pad_w": int(pad[1])}
