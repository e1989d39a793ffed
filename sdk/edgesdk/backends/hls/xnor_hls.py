"""XNOR-popcount unit for the HLS backend (to be completed)."""

from __future__ import annotations

from typing import Any

from edgesdk.errors import UnsupportedOpError


def xnor_dense_layer(graph: Any, node: Any, name: str, src: str) -> dict[str, Any]:
    raise UnsupportedOpError(f"layer {node.name}: the XNOR HLS unit is not available")


def estimate(layer: dict[str, Any]) -> dict[str, Any]:
    return {}
