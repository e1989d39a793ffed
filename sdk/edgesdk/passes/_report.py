"""One shape for every kernel decision: what a kernel-selection pass stores in ``attrs["kernel_report"]``.

Every kernel pass (packed ternary/binary weights, sparse, codebook, pattern, shift, adder) builds its report
with :func:`kernel_report`, so the export report (``report.json["kernels"]``, the per-layer kernel table of
``report.md``) and :mod:`edgesdk.numerics.weights` read one vocabulary:

- ``candidates``: kernel name -> ``{"bytes": ..., "instructions": ...}`` (and optionally ``"other_bytes"``),
  the bytes of constants the layer stores with that kernel and the estimated instructions per inference.
  The plain int8 kernel every layer can fall back to is always called :data:`BASELINE` (``"dense"``), which
  is also the name a user forces it by (``--kernel fc1=dense``).
- ``why``: one sentence, the reason for the choice.
- ``format``, ``weight_bytes``, ``other_bytes``: the storage of the weights with the chosen kernel, as
  :func:`edgesdk.numerics.weights.layer_weights` lists it (``format`` is ``"int8"`` for the baseline).
- any further facts a pass wants to show (``density``, ``code_bits``, ``taps``, ``macs`` ...).
"""

from __future__ import annotations

from typing import Any

#: The name of the plain int8 kernel among the candidates (and the kernel a user forces to get it back).
BASELINE = "dense"


def candidate(nbytes: int, instructions: int, other_bytes: int | None = None) -> dict[str, int]:
    """One candidate kernel: bytes of its weight storage, estimated instructions, extra constant bytes."""
    c = {"bytes": int(nbytes), "instructions": int(instructions)}
    if other_bytes:
        c["other_bytes"] = int(other_bytes)
    return c


def kernel_report(
    candidates: dict[str, dict[str, Any]],
    chosen: str,
    why: str,
    *,
    weight_bytes: int | None = None,
    **info: Any,
) -> dict[str, Any]:
    """The ``kernel_report`` of a layer whose kernel is ``chosen`` (one of ``candidates``).

    ``weight_bytes`` overrides the chosen candidate's ``bytes`` as the layer's weight storage (for a pass
    whose candidate bytes count more than the weight tensor); ``info`` adds facts of the pass to the report."""
    if chosen not in candidates:
        raise ValueError(f"kernel {chosen!r} is not among the candidates {sorted(candidates)}")
    c = candidates[chosen]
    report = dict(info)
    report.update(
        candidates=candidates,
        why=why,
        format="int8" if chosen == BASELINE else chosen,
        weight_bytes=int(c["bytes"] if weight_bytes is None else weight_bytes),
        other_bytes=int(c.get("other_bytes", 0)),
    )
    return report
