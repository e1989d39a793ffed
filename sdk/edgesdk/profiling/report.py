"""Reports and result files: ``report.md`` / ``report.html`` from one JSON-able dict, atomic JSON, JSON Lines.

Results gathered before a fault must never be lost: :func:`write_json` writes a temporary file in the same folder,
fsyncs it and renames it over the target (``os.replace`` is atomic on POSIX and Windows), so a crash leaves the old
file or the new one, never half of one; :func:`append_result` appends one complete JSON line per result as it comes
in (the record is serialised before the file is touched, so a record that cannot be written leaves no trace), and
:func:`read_results` skips a torn last line.

The report dict has these optional sections (missing ones are left out of the report):

``model`` (name, path, sha256, ...), ``board`` (``Board.to_dict()``), ``memory`` (flash_used, flash_total,
ram_used (with the stack reservation), ram_total, arena_bytes, arena_lower_bound, stack_reserved, stack_estimate,
stack_chain, stack_measured, kernel_code, source), ``layers`` (list of dicts: name, op, input_shape, output_shape,
macs, weight_bytes, count, us; a convolution fused into its ADD is one row ``conv + add`` with ``layers``), ``latency`` (``LatencySummary.to_dict()``), ``layer_sum``
(``LayerSumCheck.to_dict()``), ``arena`` (``Plan.to_dict()``), ``accuracy`` (any flat dict), ``energy``
(``EnergyReport.to_dict()``), ``unit`` (what a count counts).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgesdk.util.escape import md_text

log = logging.getLogger(__name__)


# --- result files ---------------------------------------------------------------------------------------------------
def _json_default(obj: Any) -> Any:
    """numpy scalars/arrays, paths and dataclasses with ``to_dict`` become JSON values."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(data: Any, indent: int | None = 2) -> str:
    """JSON text with sorted keys (stable output), NaN refused."""
    return json.dumps(data, indent=indent, sort_keys=True, default=_json_default, allow_nan=False)


def write_json(path: Path | str, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (tmp file + fsync + rename)."""
    path = Path(path)
    text = dumps(data) + "\n"  # serialise first: a bad value must not leave a temporary file behind
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def append_result(path: Path | str, record: Mapping[str, Any]) -> Path:
    """Append ``record`` as one line of JSON (JSON Lines) to ``path``, flushed and fsynced at once."""
    path = Path(path)
    line = dumps(record, indent=None) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return path


def read_results(path: Path | str) -> list[dict[str, Any]]:
    """Every complete record of a JSON Lines file; a torn last line (a crash mid-write) is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                log.warning("%s: last line is incomplete and was skipped", path)
            else:
                raise
    return out


# --- formatting -----------------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, int) for x in v):
            return "×".join(str(x) for x in v)
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _bytes(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return _fmt(n)
    return f"{n:,.0f} B ({n / 1024:,.1f} KiB)"


class _Doc:
    """Builds the same report as Markdown and as HTML."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.md += ["#" * level + " " + md_text(text), ""]
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str) -> None:
        self.md += [md_text(text), ""]
        self.html.append(f"<p>{html.escape(text)}</p>")

    def bullets(self, items: Sequence[str]) -> None:
        self.md += [f"- {md_text(x)}" for x in items] + [""]
        self.html.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in items) + "</ul>")

    def table(
        self, header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None
    ) -> None:
        right = right or [False] * len(header)
        cells = [[_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
        esc = [[md_text(c) for c in r] for r in cells]
        self.md.append("| " + " | ".join(md_text(h) for h in header) + " |")
        self.md.append("|" + "|".join("---:" if r else "---" for r in right) + "|")
        self.md += ["| " + " | ".join(r) + " |" for r in esc]
        self.md.append("")
        align = ['style="text-align:right"' if r else "" for r in right]
        h = "".join(f"<th {a}>{html.escape(x)}</th>" for x, a in zip(header, align, strict=True))
        body = "".join(
            "<tr>"
            + "".join(f"<td {a}>{html.escape(c)}</td>" for c, a in zip(r, align, strict=True))
            + "</tr>"
            for r in cells
        )
        self.html.append(f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>")

    def kv(self, d: Mapping[str, Any]) -> None:
        self.table(["", ""], [[str(k), _fmt(v)] for k, v in d.items() if not isinstance(v, (dict, list))])

    def image(self, path: Path, out_dir: Path, alt: str) -> None:
        try:
            rel = path.resolve().relative_to(out_dir.resolve()).as_posix()
        except ValueError:
            rel = path.resolve().as_posix()
        self.md += [f"![{md_text(alt)}]({rel})", ""]
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        self.html.append(
            f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(alt)}</figcaption></figure>"
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:0.5rem 0 1rem}td,th{border:1px solid #ccc;padding:2px 8px;"
    "font-size:0.9rem}th{background:#f2f2f2}img{max-width:100%}figure{margin:1rem 0}"
    "figcaption{color:#666;font-size:0.85rem}"
)

_LAYER_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("name", "layer", False),
    ("op", "op", False),
    ("input_shape", "input", False),
    ("output_shape", "output", False),
    ("macs", "MACs", True),
    ("weight_bytes", "weight bytes", True),
    ("count", "latency", True),
    ("us", "µs", True),
    ("share", "share", True),
)


def _section_memory(doc: _Doc, mem: Mapping[str, Any]) -> None:
    rows = []
    for what in ("flash", "ram"):
        used, total = mem.get(f"{what}_used"), mem.get(f"{what}_total")
        if used is None and total is None:
            continue
        share = f"{100 * used / total:.1f}%" if isinstance(used, (int, float)) and total else "–"
        if not total:  # a board without a limit (the host): nothing to exceed
            fits = "yes (no limit)"
        else:
            fits = "yes" if used is not None and used <= total else "NO"
        rows.append(["flash" if what == "flash" else "RAM", _bytes(used), _bytes(total), share, fits])
    if rows:
        doc.table(["memory", "used", "board", "share", "fits"], rows, [False, True, True, True, False])
    extra = {k: v for k, v in mem.items() if not k.startswith(("flash_", "ram_"))}
    if extra:
        doc.kv(extra)


def _section_layers(
    doc: _Doc, layers: Sequence[Mapping[str, Any]], unit: str, clock_hz: float | None = None
) -> None:
    if clock_hz and any(x.get("count") is not None for x in layers) and not any("us" in x for x in layers):
        layers = [
            {**x, "us": float(x["count"]) * 1e6 / clock_hz if x.get("count") is not None else None}
            for x in layers
        ]
    cols = [c for c in _LAYER_COLUMNS if any(c[0] in layer for layer in layers) or c[0] == "share"]
    counts = [float(x.get("count") or 0) for x in layers]
    total = sum(counts)
    if total == 0:
        cols = [c for c in cols if c[0] != "share"]
    header = [f"{label}, {unit}" if key == "count" else label for key, label, _ in cols]
    rows = []
    for layer, c in zip(layers, counts, strict=True):
        row = []
        for key, _, _ in cols:
            if key == "share":
                row.append(f"{100 * c / total:.1f}%")
            else:
                row.append(layer.get(key))
        rows.append(row)
    totals = {"name": "total", "macs": sum(int(x.get("macs") or 0) for x in layers)}
    if any("weight_bytes" in x for x in layers):
        totals["weight_bytes"] = sum(int(x.get("weight_bytes") or 0) for x in layers)
    if total:
        totals["count"] = total
        totals["share"] = "100%"
    if any(x.get("us") is not None for x in layers):
        totals["us"] = sum(float(x.get("us") or 0) for x in layers)
    rows.append([totals.get(key, "") if key in totals else "" for key, _, _ in cols])
    doc.table(header, rows, [r for _, _, r in cols])


def _section_kernels(doc: _Doc, kernels: Sequence[Mapping[str, Any]]) -> None:
    """The kernel each layer runs, its candidates (bytes / estimated instructions) and why: the one shape
    every kernel pass reports (:mod:`edgesdk.passes._report`)."""

    def cands(k: Mapping[str, Any]) -> str:
        return "; ".join(
            f"{name}{' (chosen)' if name == k.get('kernel') else ''} {_fmt(c.get('bytes'))} B "
            f"~{_fmt(c.get('instructions'))} instr"
            for name, c in (k.get("candidates") or {}).items()
        )

    doc.table(
        ["layer", "op", "kernel", "candidates: bytes, estimated instructions", "why"],
        [
            [k.get("layer", ""), k.get("op", ""), k.get("kernel", ""), cands(k), k.get("why", "")]
            for k in kernels
        ],
    )


def _section_energy(doc: _Doc, e: Mapping[str, Any]) -> None:
    rows = []
    if e.get("board_model_uj") is not None:
        rows.append(
            [
                "board active power × time",
                f"{e['board_model_uj']:.3f}",
                f"{_fmt(e.get('power_mw'))} mW; {e.get('power_source', '')}",
            ]
        )
    rows.append(["per operation (45 nm)", f"{e.get('ops_model_uj', 0):.4f}", e.get("ops_source", "")])
    doc.table(["model", "µJ per inference", "basis"], rows, [False, True, False])
    layers = e.get("layers") or []
    if layers:
        doc.table(
            ["layer", "op", "MACs µJ", "weights µJ", "activations µJ", "ops model µJ", "board model µJ"],
            [
                [
                    x["name"],
                    x.get("op", ""),
                    f"{x['mac_uj']:.4f}",
                    f"{x['weight_uj']:.4f}",
                    f"{x['act_uj']:.4f}",
                    f"{x['ops_model_uj']:.4f}",
                    "–" if x.get("board_model_uj") is None else f"{x['board_model_uj']:.3f}",
                ]
                for x in layers
            ],
            [False, False, True, True, True, True, True],
        )
    if e.get("notes"):
        doc.bullets([str(n) for n in e["notes"]])


def _section_latency(doc: _Doc, data: Mapping[str, Any], unit: str) -> None:
    """Latency: min, median, max, mean (and µs), how many runs, and the per-layer sum against the total."""
    doc.heading("Latency")
    lat = data["latency"]
    u = lat.get("unit", unit)
    rows = [
        [k, lat.get(k), lat.get(f"{k}_us")]
        for k in ("min", "median", "max", "mean")
        if lat.get(k) is not None
    ]
    doc.table(["", u, "µs"], rows, [False, True, True])
    doc.para(
        f"{lat.get('runs', '?')} runs at {(lat.get('clock_hz') or 0) / 1e6:g} MHz; "
        + (
            "every run gave the same count."
            if lat.get("deterministic")
            else f"stdev {_fmt(lat.get('stdev'))}."
        )
    )
    if data.get("layer_sum"):
        ls = data["layer_sum"]
        doc.para(
            f"Per-layer sum {_fmt(ls['layer_sum'])} vs total {_fmt(ls['total'])}: gap {ls['gap']:+,.0f} "
            f"({100 * ls['gap_fraction']:.2f}%), {'within' if ls['ok'] else 'OUTSIDE'} the "
            f"{100 * ls['tolerance']:.2f}% tolerance."
        )


def _section_weights(doc: _Doc, weights: list[dict[str, Any]], kernels: list[dict[str, Any]]) -> None:
    """Weights: per layer its format, weight and flash bytes, MACs or bit-ops and kernel."""
    doc.heading("Weights")
    kernel = {k.get("layer"): k.get("kernel", "") for k in kernels}
    doc.table(
        ["layer", "op", "format", "weight bytes", "flash bytes", "MACs or bit-ops", "kernel"],
        [
            [
                w["name"],
                w["op"],
                w["format"],
                w["weight_bytes"],
                w.get("flash_bytes", "–"),
                w.get("macs", w.get("bitops")),
                kernel.get(w["name"], ""),
            ]
            for w in weights
        ],
        [False, False, False, True, True, True, False],
    )


def write_report(
    out_dir: Path | str, data: Mapping[str, Any], plots: Mapping[str, Path] | None = None
) -> Path:
    """Write ``report.md`` and ``report.html`` (PNGs embedded) into ``out_dir``; returns the Markdown path.

    ``plots`` maps a section to a PNG: ``latency``, ``arena``, ``memory`` are placed in their sections, any other
    key at the end.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = {k: Path(v) if Path(v).is_absolute() else out / v for k, v in (plots or {}).items()}
    used: set[str] = set()
    doc = _Doc()
    model = data.get("model") or {}
    board = data.get("board") or {}
    unit = str(data.get("unit") or (data.get("latency") or {}).get("unit") or "cycles")
    title = f"edgesdk report: {model.get('name', 'model')}" + (
        f" on {board['name']}" if board.get("name") else ""
    )
    doc.heading(title, 1)

    def place(key: str, alt: str) -> None:
        if key in plots and plots[key].exists():
            doc.image(plots[key], out, alt)
            used.add(key)

    if model:
        doc.heading("Model")
        doc.kv(model)
    if board:
        doc.heading("Board")
        doc.kv(board)
        if board.get("emulated"):
            doc.para(
                "This board is emulated: its timer counts executed instructions, not cycles, and the µs figures "
                "assume one instruction per cycle at the board clock."
            )
    if data.get("memory"):
        doc.heading("Memory")
        _section_memory(doc, data["memory"])
        place("memory", "flash and RAM use against the board")
    if data.get("latency"):
        _section_latency(doc, data, unit)
    if data.get("layers"):
        doc.heading("Layers")
        _section_layers(doc, data["layers"], unit, board.get("clock_hz"))
        place("latency", f"latency per layer ({unit})")
    if data.get("weights"):
        _section_weights(doc, data["weights"], data.get("kernels") or [])
    if data.get("kernels"):
        doc.heading("Kernels")
        _section_kernels(doc, data["kernels"])
    if data.get("arena") or "arena" in plots:
        doc.heading("Arena")
        arena = data.get("arena") or {}
        if arena:
            a, lb = arena.get("arena_bytes"), arena.get("lower_bound")
            ratio = f", {a / lb:.3f} × the lower bound" if a and lb else ""
            doc.para(
                f"Arena {_bytes(a)}; lower bound (most bytes live at one step) {_bytes(lb)}{ratio}; "
                f"{len(arena.get('buffers', []))} buffers."
            )
        place("arena", "arena map: execution step against byte offset, one rectangle per buffer")
    if data.get("accuracy"):
        doc.heading("Accuracy and exactness")
        acc = data["accuracy"]
        if isinstance(acc, Mapping):
            doc.kv(acc)
        else:
            doc.para(str(acc))
    if data.get("energy"):
        doc.heading("Energy (estimates)")
        _section_energy(doc, data["energy"])
    if data.get("meter"):
        doc.heading("Energy (measured)")
        doc.kv(data["meter"])
    rest = [k for k in plots if k not in used]
    if rest:
        doc.heading("Other plots")
        for k in rest:
            place(k, k)

    md_path = out / "report.md"
    md_path.write_text("\n".join(doc.md).rstrip() + "\n", encoding="utf-8")
    page = (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(doc.html) + "\n</body></html>\n"
    )
    (out / "report.html").write_text(page, encoding="utf-8")
    log.info("wrote %s and report.html", md_path)
    return md_path
