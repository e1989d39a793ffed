"""Winograd F(2x2,3x3) convolution unit for the HLS backend (to be completed)."""

from __future__ import annotations

from typing import Any

from edgesdk.errors import UnsupportedOpError


def winograd_layer(node: Any, w: Any, p: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    raise UnsupportedOpError(f"layer {node.name}: the Winograd HLS unit is not available")


def estimate(node: Any, p: dict[str, Any]) -> dict[str, Any]:
    return {}
