"""The board files' active-power figures checked against the published MLPerf Tiny energy results.

MLPerf Tiny's energy mode runs each benchmark on a board powered by the EEMBC energy monitor and publishes, per
benchmark, the median energy per inference (uJ) and the median throughput (inferences/s) of the same windows, so
energy x throughput = energy / latency is the average power the MCU drew while it inferred. :data:`PUBLISHED`
holds those figures for ST's closed-division submissions of MLPerf Tiny v1.0 (X-CUBE-AI 7.3.0) on the boards
edgesdk has files for, or their closest part: NUCLEO-L4R5ZI (120 MHz, 1.8 V), NUCLEO-H7A3ZI-Q (280 MHz, 3.3 V
SMPS) and NUCLEO-U575ZI-Q (160 MHz, 1.8 V SMPS; the STM32U585 of ``b-u585i-iot02a`` is the U575 with crypto).

For each board: the derived power per benchmark, their mean (what the board file records as ``mlperf_mw``), and
the board file's ``active_mw`` scaled linearly to the published clock (as the energy estimate scales it), with the
difference; the check holds when that difference stays within :data:`TOLERANCE`.
``tests/test_energy.py`` runs the same check on every board file.

Where a board file's figure is itself v1.0's (H7A3, U585: no datasheet run-mode figure was found that matches a
whole board's draw), that check is circular, so :data:`SECOND` adds an independent one: ST's MLPerf Tiny v1.1
submissions (X-CUBE-AI 8.1.0), a separate measurement of the same boards at the same clocks, against the same
board-file figure.

Writes ``benchmarks/results/energy_check.md`` (with the commit it was computed at); no hardware, no network.

    python benchmarks/energy_check.py
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TOLERANCE = 0.15
SOURCE = "github.com/mlcommons/tiny_results_v1.0 (commit abb8e49), closed/STMicroelectronics/results"
log = logging.getLogger("energy_check")


@dataclass(frozen=True)
class Published:
    """One benchmark's MLPerf Tiny energy-mode result: median energy per inference and median throughput."""

    benchmark: str
    energy_uj: float
    throughput_ips: float

    @property
    def latency_ms(self) -> float:
        return 1000.0 / self.throughput_ips

    @property
    def power_mw(self) -> float:
        return self.energy_uj * self.throughput_ips / 1000.0


BENCHMARKS = ("ic", "kws", "vww", "ad")
#: edgesdk board -> (published system, its clock in Hz, its supply, (median energy uJ/inf., median throughput
#: inf./s) for IC, KWS, VWW and AD), read from ``<system>/<benchmark>/energy/results.txt`` of :data:`SOURCE`.
PUBLISHED: dict[str, tuple[str, int, str, tuple[tuple[float, float], ...]]] = {
    "nucleo-l4r5zi": ("NUCLEO-L4R5ZI", 120_000_000, "1.8 V",
                      ((10681.623, 4.409), (3371.738, 13.314), (10066.628, 4.427), (322.977, 132.077))),
    "nucleo-h7a3zi": ("NUCLEO-H7A3ZI-Q", 280_000_000, "3.3 V, SMPS",
                      ((8707.284, 18.443), (2721.781, 59.782), (7978.465, 19.749), (266.486, 548.697))),
    "b-u585i-iot02a": ("NUCLEO-U575ZI-Q", 160_000_000, "1.8 V, SMPS",
                       ((3641.998, 7.200), (1138.534, 22.689), (3364.456, 7.525), (119.113, 207.366))),
}  # fmt: skip


SECOND_SOURCE = "github.com/mlcommons/tiny_results_v1.1 (commit c32ef94), closed/STMicroelectronics/results"
#: The same, from :data:`SECOND_SOURCE` (the benchmarks whose energy results.txt that repository holds).
SECOND: dict[str, tuple[str, int, str, dict[str, tuple[float, float]]]] = {
    "nucleo-l4r5zi": ("NUCLEO-L4R5ZI", 120_000_000, "1.8 V",
                      {"kws": (2833.138, 15.884), "vww": (5618.279, 8.413)}),
    "nucleo-h7a3zi": ("NUCLEO-H7A3ZI-Q", 280_000_000, "3.0 V, SMPS",
                      {"vww": (3699.351, 33.864), "ad": (221.217, 551.471)}),
    "b-u585i-iot02a": ("NUCLEO-U575ZI-Q", 160_000_000, "1.8 V, SMPS",
                       {"ic": (3383.822, 7.858), "kws": (1004.221, 26.112), "vww": (1920.636, 14.073)}),
}  # fmt: skip


def second(board: str) -> list[Published]:
    """The board's results of the second, independent measurement (:data:`SECOND`)."""
    return [Published(b, e, t) for b, (e, t) in SECOND[board][3].items()]


def published(board: str) -> list[Published]:
    """The board's published results, one per benchmark."""
    return [Published(b, e, t) for b, (e, t) in zip(BENCHMARKS, PUBLISHED[board][3], strict=True)]


def published_mw(board: str) -> float:
    """The mean derived power (mW) over the board's published benchmarks."""
    rows = published(board)
    return sum(r.power_mw for r in rows) / len(rows)


def board_mw_at(board_name: str, clock_hz: int) -> tuple[float, str]:
    """The board file's active power scaled linearly to ``clock_hz`` (as the energy estimate scales it), and its
    source."""
    from edgesdk.boards import get_board
    from edgesdk.profiling.energy import active_power

    point = active_power(get_board(board_name))
    return point.power_mw_at(clock_hz), point.source


def delta(ours_mw: float, published: float) -> float:
    """Relative difference of our figure from the published one."""
    return (ours_mw - published) / published


def markdown(commit: str) -> str:
    lines = [
        "# Board active power against MLPerf Tiny energy / latency",
        "",
        f"Computed by `benchmarks/energy_check.py` at commit {commit} ({time.strftime('%Y-%m-%d')}) from {SOURCE}: "
        "per benchmark, the published median energy per inference and median throughput of the energy-mode run "
        "(latency = 1 / throughput), their product the average power drawn while inferring. *Ours* is the board "
        f"file's `[power] active_mw` scaled to the published clock; the check is |delta| <= {TOLERANCE:.0%} against "
        "the mean over the four benchmarks (the board file's `mlperf_mw`).",
        "",
        "| board | published system (clock, supply) | benchmark | energy (uJ) | latency (ms) | derived power (mW) "
        "| ours (mW) | delta |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for board, (system, clock, supply, _rows) in PUBLISHED.items():
        ours, _source = board_mw_at(board, clock)
        where = f"{system} ({clock / 1e6:g} MHz, {supply})"
        for r in published(board):
            lines.append(
                f"| {board} | {where} | {r.benchmark} | {r.energy_uj:,.1f} | {r.latency_ms:.2f} | {r.power_mw:.1f} "
                f"| {ours:.1f} | {delta(ours, r.power_mw):+.1%} |"
            )
        mean = published_mw(board)
        verdict = "within" if abs(delta(ours, mean)) <= TOLERANCE else "OUTSIDE"
        lines.append(
            f"| {board} | {where} | **mean** | | | **{mean:.1f}** | **{ours:.1f}** | **{delta(ours, mean):+.1%}** "
            f"({verdict} {TOLERANCE:.0%}) |"
        )
    lines += [
        "",
        f"## Against a second measurement: {SECOND_SOURCE} (X-CUBE-AI 8.1.0)",
        "",
        "The same boards and clocks measured again a year later; for the boards whose figure came from v1.0 "
        "this is the independent check.",
        "",
        "| board | published system (clock, supply) | benchmark | derived power (mW) | ours (mW) | delta |",
        "|---|---|---|---:|---:|---:|",
    ]
    for board, (system, clock, supply, _rows) in SECOND.items():
        ours, _source = board_mw_at(board, clock)
        where = f"{system} ({clock / 1e6:g} MHz, {supply})"
        rows = second(board)
        for r in rows:
            lines.append(
                f"| {board} | {where} | {r.benchmark} | {r.power_mw:.1f} | {ours:.1f} | {delta(ours, r.power_mw):+.1%} |"
            )
        mean = sum(r.power_mw for r in rows) / len(rows)
        verdict = "within" if abs(delta(ours, mean)) <= TOLERANCE else "OUTSIDE"
        lines.append(
            f"| {board} | {where} | **mean** | **{mean:.1f}** | **{ours:.1f}** | **{delta(ours, mean):+.1%}** "
            f"({verdict} {TOLERANCE:.0%}) |"
        )
    lines += [
        "",
        "Sources of *ours*:",
        "",
    ]
    for board, (_system, clock, *_rest) in PUBLISHED.items():
        lines.append(f"- {board}: {board_mw_at(board, clock)[1]}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    git = ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "energy_check.md"
    out.write_text(markdown(commit or "unknown"), encoding="utf-8")
    log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
