"""``int8``: the calibrated full-int8 conversion by the real TFLite converter (always the last step).

The conversion itself happens in :func:`edgesdk.compress.compress` after every other method, because every
int8-expressible method ends there; registering ``int8`` lets ``--method int8`` alone mean "post-training
quantization, nothing else", and fixes its place (order 100) in the pipeline.
"""

from __future__ import annotations

from typing import Any

from edgesdk.compress.base import CompressContext, register_check, register_method
from edgesdk.errors import CompressError


@register_method("int8", order=100, help="calibrated full-int8 conversion (per-channel weights), always last")
def apply_int8(model: Any, arg: str | None, ctx: CompressContext) -> Any:
    check_int8(model, arg, ctx)
    return model


@register_check("int8")
def check_int8(model: Any, arg: str | None, ctx: CompressContext) -> None:
    if arg:
        raise CompressError(f"method int8 takes no argument (got int8={arg})")
