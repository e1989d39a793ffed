"""``edgesdk sweep``: a grid of compression settings -> the rate-distortion table and its Pareto front.

For every point of the grid: ``compress`` (fine-tune, int8 conversion, accuracy of the written file on the
validation data), then the edgesdk C export of the result, built for the board and profiled on it (by default
the emulated Cortex-M4 ``mps2-an386``: executed instructions per inference, deterministic). One row per point:

- **Cr** (compression ratio) = float32 weight bytes of the original model / weight bytes the C backend stores
  for the compressed one (``CompressResult.weight_bytes_size_export``, the ``--optimize size`` export's);
- **Sr** (speed-up) = instructions per inference of the plain ``int8`` model / those of the point (an
  ``int8`` point is added to a grid that has none);
- **accuracy** of the compressed model on the validation data, and its drop from the float model.

Grid syntax (``--grid``): axes separated by ``;``, each ``KEY=V1|V2|...``; the points are all combinations.
Keys: ``method`` (a ``--method`` spec of ``compress``, commas combine methods: ``prune=0.9,share=4bit``),
``epochs`` (integers), ``distill`` (``on``/``off``), ``temperature`` (numbers), ``keep_int8`` (as
``--keep-int8``). Example: ``method=int8|ternary|lowrank=8|lowrank=0.9e;distill=off|on``. An unknown key, an
unknown method or an empty value list is refused before anything runs.

Points run in local worker processes (``concurrent.futures``, at most 2, spawned so that each has its own
TensorFlow) or, with ``ray="auto"`` or a cluster address, as Ray tasks. Each finished point is appended to
``sweep.jsonl`` at once; a sweep started again on the same output folder skips the points that finished there
(a point is identified by a hash of its settings) and runs the missing and the failed ones again, so an
interrupted sweep resumes where it stopped. At the end
``report.html`` (table + ``pareto.png``), ``table.md`` and ``table.csv`` are written. Paths (data, output folder,
a board file) are made absolute before any point is dispatched. A sweep whose every point failed raises
CompressError (exit 9) after writing the table; one where only some failed returns them in
:attr:`SweepResult.failed` (the CLI names them and exits 0).
"""

from __future__ import annotations

import csv
import html
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import CompressError, EdgeSDKError
from edgesdk.runtime.jobs import (
    MAX_LOCAL_WORKERS,
    absolute,
    append_record,
    model_path,
    pareto_front,
    plot_front,
    point_id,
    read_done,
    run_jobs,
)

log = logging.getLogger(__name__)

GRID_KEYS = ("method", "epochs", "distill", "temperature", "keep_int8")
BASELINE = {"method": "int8"}
DEFAULT_BOARD = "mps2-an386"
RESULTS = "sweep.jsonl"
#: The columns of a sweep's table.csv (and of the benchmarks' summaries of sweeps), in order.
TABLE_KEYS = (
    "label",
    "status",
    "accuracy_float",
    "accuracy",
    "weight_bytes_float",
    "weight_bytes",
    "cr",
    "instructions",
    "sr",
    "pareto",
    "error",
)


# --- the grid -------------------------------------------------------------------------------------------------
def _parse_bool(text: str, where: str) -> bool:
    t = text.strip().lower()
    if t in ("on", "true", "yes", "1"):
        return True
    if t in ("off", "false", "no", "0"):
        return False
    raise CompressError(f"sweep grid: {where} takes on or off, not {text!r}")


def parse_grid(spec: str) -> list[dict[str, Any]]:
    """``"method=int8|lowrank=8;epochs=2"`` -> the list of points (dicts), in grid order."""
    from edgesdk.compress import parse_methods

    axes: dict[str, list[Any]] = {}
    for part in [p.strip() for p in spec.split(";") if p.strip()]:
        key, eq, values = part.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not eq:
            raise CompressError(f"sweep grid: {part!r} is not KEY=V1|V2 (keys: {', '.join(GRID_KEYS)})")
        if key not in GRID_KEYS:
            raise CompressError(
                f"sweep grid: unknown key {key!r} in {part!r}; known keys: {', '.join(GRID_KEYS)}"
            )
        if key in axes:
            raise CompressError(f"sweep grid: key {key!r} is given twice")
        vals = [v.strip() for v in values.split("|")]
        if not vals or any(not v for v in vals):
            raise CompressError(f"sweep grid: {key} has an empty value in {part!r}")
        conv: list[Any] = []
        for v in vals:
            if key == "method":
                parse_methods(v)  # raises on an unknown method or a bad combination
                conv.append(v)
            elif key == "epochs":
                try:
                    conv.append(int(v))
                except ValueError:
                    raise CompressError(f"sweep grid: epochs takes integers, not {v!r}") from None
            elif key == "temperature":
                try:
                    conv.append(float(v))
                except ValueError:
                    raise CompressError(f"sweep grid: temperature takes numbers, not {v!r}") from None
            elif key == "distill":
                conv.append(_parse_bool(v, "distill"))
            else:
                conv.append(v)
        axes[key] = conv
    if "method" not in axes:
        raise CompressError("sweep grid: give at least one method, e.g. method=int8|ternary|lowrank=8")
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in keys))]


def _label(settings: dict[str, Any]) -> str:
    extra = [f"{k}={v}" for k, v in sorted(settings.items()) if k != "method"]
    return settings["method"] + (f" ({', '.join(extra)})" if extra else "")


# --- one point ------------------------------------------------------------------------------------------------
def run_point(
    model: str, data: Any, val: Any, settings: dict[str, Any], out_dir: str, board: str, seed: int = 0
) -> dict[str, Any]:
    """Compress, export, build and profile one point; a record for ``sweep.jsonl`` (errors are recorded)."""
    from edgesdk.commands.device import profile
    from edgesdk.compiler.model import load_model
    from edgesdk.compress import ARCHIVE_METHODS, compress, parse_methods

    pid = point_id(settings)
    where = Path(out_dir) / "points" / pid
    where.mkdir(parents=True, exist_ok=True)
    rec: dict[str, Any] = {"id": pid, "settings": settings, "label": _label(settings)}
    start = time.monotonic()
    try:
        # Methods int8 cannot hold write an edgesdk graph archive of their own suffix.
        suffix = next(
            (
                ARCHIVE_METHODS[m.name][0]
                for m, _ in parse_methods(settings["method"])
                if m.name in ARCHIVE_METHODS
            ),
            ".tflite",
        )
        model_file = where / f"model{suffix}"
        kw: dict[str, Any] = {
            "epochs": settings.get("epochs"),
            "distill": bool(settings["distill"])
            if "distill" in settings
            else None,  # None: compress's default
            "seed": seed,
            "progress": False,
            "out": model_file,
            "board": board,
        }
        if "temperature" in settings:
            kw["temperature"] = float(settings["temperature"])
        if "keep_int8" in settings:
            kw["keep_int8"] = settings["keep_int8"]
        res = compress(model, settings["method"], data, val, **kw)
        graph = load_model(model_file)
        graph.name = "model"
        prof = profile(graph, board, runs=1, out_dir=where / "profile")
        rec.update(
            status="ok",
            accuracy_float=res.accuracy_float,
            accuracy=res.accuracy_compressed,
            weight_bytes_float=res.weight_bytes_float,
            weight_bytes=res.weight_bytes_size_export,
            instructions=int(prof["latency"]["median"])
            if "median" in prof["latency"]
            else int(prof["runs"][-1]),
            unit=prof["unit"],
            flash_bytes=int(
                (prof.get("memory") or {}).get("flash_used", 0) or 0
            ),  # the built image's text + data
            board=board,
        )
    except EdgeSDKError as exc:
        rec.update(status="error", error=str(exc))
    except Exception as exc:  # one broken point must not end a long sweep: record it and go on
        log.exception("sweep point %s failed", rec["label"])
        rec.update(status="error", error=f"internal error: {type(exc).__name__}: {exc}")
    rec["seconds"] = round(time.monotonic() - start, 1)
    return rec


# --- running ----------------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """The sweep's rows (with Cr, Sr) and the files written."""

    rows: list[dict[str, Any]]
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of points that failed (their ``error`` says why)."""
        return [r for r in self.rows if r.get("status") != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "out_dir": str(self.out_dir),
            "files": {k: str(v) for k, v in self.files.items()},
        }


def _crashed(job: tuple[Any, ...], error: str) -> dict[str, Any]:
    """The record of a sweep point whose worker died."""
    point = job[3]
    return {
        "id": point_id(point),
        "settings": point,
        "label": _label(point),
        "status": "error",
        "error": error,
    }


def sweep(
    model: Any,
    grid: str | list[dict[str, Any]],
    data: Any,
    val: Any = None,
    *,
    out: str | Path = "sweep",
    board: str = DEFAULT_BOARD,
    workers: int = MAX_LOCAL_WORKERS,
    ray: str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> SweepResult:
    """Run the grid (plus the ``int8`` baseline) and write the table, the Pareto plot and the HTML report."""
    from edgesdk.boards import get_board, is_board_path
    from edgesdk.util.progress import progress as bar

    points = parse_grid(grid) if isinstance(grid, str) else [dict(p) for p in grid]
    get_board(board)  # an unknown board is refused before any work
    if is_board_path(board):
        board = absolute(board)
    if workers < 1:
        raise CompressError(f"sweep needs at least 1 worker, not {workers}")
    workers = min(workers, MAX_LOCAL_WORKERS)
    for what, value in (("training data", data), ("validation data", val)):
        if isinstance(value, (str, Path)) and not Path(value).exists():
            raise CompressError(f"sweep: {what} {value} does not exist")
    data, val = absolute(data), absolute(val)
    out_dir = Path(absolute(out))
    out_dir.mkdir(parents=True, exist_ok=True)
    model_file = model_path(model, out_dir)
    if not any(p["method"] == BASELINE["method"] for p in points):
        points.insert(0, dict(BASELINE))
    results = out_dir / RESULTS
    done = read_done(results)
    # Finished points are skipped; failed ones run again (a timeout may not repeat, a bad setting fails fast).
    todo = [p for p in points if done.get(point_id(p), {}).get("status") != "ok"]
    if done:
        log.info(
            "resuming sweep in %s: %d of %d points already done",
            out_dir,
            len(points) - len(todo),
            len(points),
        )
    jobs = [(str(model_file), data, val, p, str(out_dir), board, seed) for p in todo]
    it = iter(bar(range(len(jobs)), total=len(jobs), desc="sweep", force=progress if progress else None))

    def on_done(rec: dict[str, Any]) -> None:
        append_record(results, rec)
        done[rec["id"]] = rec
        next(it, None)
        log.info("sweep point %s: %s", rec["label"], rec.get("status"))

    run_jobs(run_point, jobs, on_done, workers=workers, ray=ray, on_crash=_crashed)
    for _ in it:  # let the progress bar finish
        pass
    rows = table_rows([done[point_id(p)] for p in points])
    res = SweepResult(rows=rows, out_dir=out_dir)
    res.files = write_report(rows, out_dir)
    if rows and len(res.failed) == len(rows):  # nothing measured: not a result, whatever the table says
        first = res.failed[0]
        raise CompressError(
            f"every one of the {len(rows)} sweep points failed (first, {first['label']}: "
            f"{first.get('error', 'no error recorded')}); the table is in {res.files['table_md']}"
        )
    return res


# --- table, Pareto front, report ------------------------------------------------------------------------------
def table_rows(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records -> rows with Cr, Sr and the Pareto flag (over accuracy, Cr and Sr)."""
    records = list(records)
    base = next(
        (r for r in records if r["settings"]["method"] == BASELINE["method"] and r.get("status") == "ok"),
        None,
    )
    rows = []
    for r in records:
        row = dict(r)
        if r.get("status") == "ok":
            row["cr"] = r["weight_bytes_float"] / max(1, r["weight_bytes"])
            row["sr"] = (
                (base["instructions"] / r["instructions"]) if base and r["instructions"] else float("nan")
            )
            row["accuracy_drop"] = r["accuracy_float"] - r["accuracy"]
        rows.append(row)
    ok = [r for r in rows if r.get("status") == "ok"]
    for r in ok:
        r["pareto"] = not any(_dominates(o, r) for o in ok if o is not r)
    return rows


def _dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ka = (a["accuracy"], a["cr"], a["sr"])
    kb = (b["accuracy"], b["cr"], b["sr"])
    return all(x >= y for x, y in zip(ka, kb, strict=True)) and any(
        x > y for x, y in zip(ka, kb, strict=True)
    )


def _short_labels(rows: list[dict[str, Any]]) -> list[str]:
    """Point labels without the settings every point shares (e.g. the same epochs)."""
    common = {
        k: v
        for k, v in (rows[0]["settings"].items() if rows else [])
        if k != "method" and all(r["settings"].get(k) == v for r in rows)
    }
    return [_label({k: v for k, v in r["settings"].items() if k not in common}) for r in rows]


def plot_pareto(rows: list[dict[str, Any]], path: Path) -> Path:
    """Two panels: accuracy against Cr and against Sr, each with its Pareto front."""
    from matplotlib.figure import Figure

    from edgesdk.profiling.plots import save_figure

    ok = [r for r in rows if r.get("status") == "ok"]
    fig = Figure(figsize=(10, 4.2))
    for ax, key, title in (
        (fig.add_subplot(1, 2, 1), "cr", "compression ratio Cr (float32 weight bytes / stored bytes)"),
        (fig.add_subplot(1, 2, 2), "sr", "speed-up Sr (int8 instructions / instructions)"),
    ):
        xs = [float(r[key]) for r in ok]
        ys = [100.0 * float(r["accuracy"]) for r in ok]
        ax.scatter(xs, ys, color="#4C72B0", zorder=3)
        for label, x, y in zip(_short_labels(ok), xs, ys, strict=True):
            ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = pareto_front([(x, y) for x, y in zip(xs, ys, strict=True) if np.isfinite(x)])
        plot_front(ax, front, "#C44E52", "steps-pre")
        if front:
            ax.legend(fontsize=8, loc="best")
        if ok and ok[0].get("accuracy_float") is not None:
            ax.axhline(100.0 * ok[0]["accuracy_float"], color="#8C8C8C", ls="--", lw=1)
        ax.set_xlabel(title, fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("rate-distortion sweep (dashed: float model)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


_COLUMNS = (
    ("label", "setting"),
    ("accuracy", "accuracy %"),
    ("accuracy_drop", "drop (pt)"),
    ("weight_bytes", "weight bytes"),
    ("cr", "Cr"),
    ("instructions", "instructions"),
    ("sr", "Sr"),
    ("pareto", "Pareto"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    if row.get("status") != "ok" and key not in ("label",):
        return row.get("error", "") if key == "accuracy" else ""
    v = row.get(key)
    if key in ("accuracy", "accuracy_drop"):
        return f"{100 * v:.2f}"
    if key in ("cr", "sr"):
        return f"{v:.2f}×"
    if key in ("weight_bytes", "instructions"):
        return f"{int(v):,}"
    if key == "pareto":
        return "yes" if v else ""
    return str(v)


def write_report(rows: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """``table.md``, ``table.csv``, ``pareto.png`` and ``report.html`` in ``out_dir``."""
    files: dict[str, Path] = {}
    md = ["| " + " | ".join(h for _, h in _COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    md += ["| " + " | ".join(_cell(r, k) for k, _ in _COLUMNS) + " |" for r in rows]
    files["table_md"] = out_dir / "table.md"
    files["table_md"].write_text("\n".join(md) + "\n", encoding="utf-8")
    files["table_csv"] = out_dir / "table.csv"
    keys = list(TABLE_KEYS)
    with open(files["table_csv"], "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})
    files["pareto"] = plot_pareto(rows, out_dir / "pareto.png")
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in _COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r, k))}</td>" for k, _ in _COLUMNS) + "</tr>" for r in rows
    )
    board = next((r.get("board") for r in rows if r.get("board")), "")
    unit = next((r.get("unit") for r in rows if r.get("unit")), "")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgesdk sweep</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>Rate-distortion sweep</h1>
<p>Cr = float32 weight bytes / weight bytes stored by the C backend; Sr = instructions per inference of the int8
model / of the point ({html.escape(str(unit))} on {html.escape(str(board))}); accuracy on the validation data.
Pareto: no other point is at least as good in accuracy, Cr and Sr and better in one.</p>
<img src="pareto.png" alt="Pareto front: accuracy against Cr and Sr">
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""
    files["html"] = out_dir / "report.html"
    files["html"].write_text(page, encoding="utf-8")
    return files


__all__ = [
    "GRID_KEYS",
    "SweepResult",
    "pareto_front",
    "parse_grid",
    "point_id",
    "run_jobs",
    "run_point",
    "sweep",
    "table_rows",
]
