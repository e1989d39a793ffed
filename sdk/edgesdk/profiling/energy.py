"""Energy estimates for one inference, from two simple models (no meter needed).

(a) **Board active power x time.** ``E = P_active x t``, with ``P_active = V_DD x I_DD(run)`` taken from the
    MCU's datasheet (typical run-mode supply current, code running from flash with the ART/cache on, all
    peripherals off, at the board's clock). This is what the whole chip draws while it computes, so it is the
    better guess of what a meter on the board's supply would show. Datasheet currents scale almost linearly
    with the clock in one voltage range, so a board clocked differently from the table's clock is scaled by
    ``f_board / f_table``.

(b) **Per operation (Horowitz).** Every multiply-accumulate and every memory access is given the energy of
    Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, for a **45 nm** process at
    0.9 V. This counts only the arithmetic and the data movement of the network itself; it leaves out the
    instruction fetch and decode, the pipeline and control, address arithmetic, the clock tree, leakage and the
    rest of the chip (regulators, oscillators, flash sense amplifiers, peripherals). Microcontrollers are built in
    older processes (STM32F4: 90 nm; L4+/H7: 40 nm) and spend most of their energy on exactly those overheads,
    so model (b) is far below (a): use it to compare layers and models with each other, never as a prediction
    of what a meter shows.

Public functions take plain numbers so they are easy to test: :func:`estimate_energy` is the entry point.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from edgesdk.errors import EdgeSDKError

log = logging.getLogger(__name__)

PJ = 1e-12
UJ = 1e-6

# --- Horowitz, ISSCC 2014, 45 nm, 0.9 V (energy per operation, pJ) ---------------------------------------------
# Integer arithmetic.
HOROWITZ_PJ: dict[str, float] = {
    "add_int8": 0.03,
    "add_int32": 0.1,
    "mult_int8": 0.2,
    "mult_int32": 3.1,
    # Floating point.
    "add_fp16": 0.4,
    "add_fp32": 0.9,
    "mult_fp16": 1.1,
    "mult_fp32": 3.7,
    # Memory, per 32-bit word: register file, an 8 KB SRAM, off-chip DRAM.
    "regfile_32": 1.0,
    "sram_8kb_read_32": 5.0,
    "dram_read_32": 640.0,
}


@dataclass(frozen=True)
class OpEnergyModel:
    """Energy per operation used by model (b). Defaults: Horowitz, ISSCC 2014, 45 nm.

    - ``mac_pj``: one int8 multiply-accumulate = one 8-bit multiply (0.2 pJ) + one 32-bit add into the int32
      accumulator (0.1 pJ).
    - ``act_pj_per_byte``: activations live in on-chip SRAM; one 32-bit SRAM read (8 KB array) is 5 pJ, so
      1.25 pJ per byte read or written (writes are costed as reads; Horowitz gives no separate write figure).
    - ``weight_pj_per_byte``: weights are ``const`` and sit in the MCU's flash. Horowitz has no flash figure; the
      SRAM figure is used, which is a lower bound (an embedded-flash read costs several times an SRAM read).
      Pass a larger value (e.g. DRAM's 160 pJ/byte for weights off-chip) to explore other memories.
    """

    mac_pj: float = HOROWITZ_PJ["mult_int8"] + HOROWITZ_PJ["add_int32"]
    act_pj_per_byte: float = HOROWITZ_PJ["sram_8kb_read_32"] / 4
    weight_pj_per_byte: float = HOROWITZ_PJ["sram_8kb_read_32"] / 4
    source: str = "Horowitz, Computing's energy problem, ISSCC 2014 (45 nm, 0.9 V)"


# --- Typical active (run-mode) supply current from the datasheets -------------------------------------------------
@dataclass(frozen=True)
class ActivePower:
    """A datasheet point: typical run-mode current ``current_ma`` at ``clock_hz`` and ``voltage_v``."""

    mcu: str
    current_ma: float
    clock_hz: int
    voltage_v: float
    source: str

    @property
    def power_mw(self) -> float:
        return self.current_ma * self.voltage_v

    def power_mw_at(self, clock_hz: int | None) -> float:
        """Power at another clock, scaled linearly with frequency (dynamic current dominates in run mode)."""
        if not clock_hz:
            return self.power_mw
        return self.power_mw * clock_hz / self.clock_hz


# Figures are typical I_DD (T_A = 25 C) in run mode, code and data processing from flash with the accelerator
# (ART / caches) on and all peripherals disabled, the condition closest to "the core runs a network". They are
# rounded, and real parts differ by +-20 % or more with code, temperature and silicon: this is an estimate.
# Keys are prefixes of the board file's ``mcu`` field (STM32F405RG -> STM32F405).
ACTIVE_POWER: dict[str, ActivePower] = {
    "STM32F405": ActivePower(
        "STM32F405/407",
        40.0,
        168_000_000,
        3.3,
        "ST DS8626 (STM32F405xx/F407xx), 'Typical and maximum current consumption in Run mode, code with data "
        "processing running from Flash memory (ART accelerator enabled)', f_HCLK = 168 MHz, peripherals disabled",
    ),
    "STM32F407": ActivePower(
        "STM32F405/407",
        40.0,
        168_000_000,
        3.3,
        "ST DS8626 (STM32F405xx/F407xx), Run mode from Flash, ART on, 168 MHz, peripherals disabled",
    ),
    "STM32F446": ActivePower(
        "STM32F446",
        38.0,
        180_000_000,
        3.3,
        "ST DS10693 (STM32F446xC/E), 'Typical and maximum current consumption in Run mode, code with data "
        "processing running from Flash memory (ART accelerator enabled)', f_HCLK = 180 MHz, peripherals disabled",
    ),
    "STM32L4R5": ActivePower(
        "STM32L4R5",
        15.0,
        120_000_000,
        3.3,
        "ST DS12023 (STM32L4R5xx/L4R7xx/L4R9xx), 'Current consumption in Run mode, code with data processing "
        "running from Flash', voltage range 1 boost, f_HCLK = 120 MHz, LDO, peripherals disabled "
        "(about 110-125 uA/MHz)",
    ),
    "STM32H743": ActivePower(
        "STM32H743",
        135.0,
        480_000_000,
        3.3,
        "ST DS12110 (STM32H743xI), 'Typical and maximum current consumption in Run mode, code with data "
        "processing running from Flash memory, cache ON', VOS0, f_rcc_c_ck = 480 MHz, peripherals disabled",
    ),
}


class EnergyModelError(EdgeSDKError):
    """No active-power figure is known for an MCU (and none was given)."""


def active_power(mcu: Any) -> ActivePower:
    """The active-power point for ``mcu``: a board whose file has a ``[power]`` section gives that figure (its source
    says whether a datasheet or a published measurement); otherwise, or for an MCU name (a board file's ``mcu``
    field, e.g. ``STM32F446RE``), the datasheet table :data:`ACTIVE_POWER`."""
    power = getattr(mcu, "power", None)
    if power is not None:  # a figure in mW: kept as "current" in mA at 1 V
        return ActivePower(mcu.mcu, power.active_mw, power.clock_hz, 1.0, power.source)
    mcu = str(getattr(mcu, "mcu", mcu))
    key = mcu.strip().upper()
    for prefix, entry in ACTIVE_POWER.items():
        if key.startswith(prefix):
            return entry
    raise EnergyModelError(
        f"no active-power figure is known for MCU {mcu!r} (known: {', '.join(sorted(ACTIVE_POWER))}); "
        "give one with power_mw"
    )


@dataclass(frozen=True)
class LayerStats:
    """What the models need to know about one layer. Plain numbers, so tests can write them by hand.

    ``count`` is the layer's measured timer count per inference (cycles on a real board, instructions on the
    emulator) or None when not measured.
    """

    name: str
    op: str = ""
    macs: int = 0
    weight_bytes: int = 0
    act_read_bytes: int = 0
    act_write_bytes: int = 0
    count: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LayerStats:
        """Build from a layer record of the report (extra keys are ignored)."""
        return cls(
            name=str(d["name"]),
            op=str(d.get("op", "")),
            macs=int(d.get("macs", 0) or 0),
            weight_bytes=int(d.get("weight_bytes", 0) or 0),
            act_read_bytes=int(d.get("act_read_bytes", 0) or 0),
            act_write_bytes=int(d.get("act_write_bytes", 0) or 0),
            count=d.get("count"),
        )


@dataclass
class LayerEnergy:
    name: str
    op: str
    mac_uj: float
    weight_uj: float
    act_uj: float
    ops_model_uj: float  # model (b): mac + weight + activation traffic
    board_model_uj: float | None  # model (a), when the layer's time is known


@dataclass
class EnergyReport:
    """Energy of one inference by both models, in microjoules."""

    latency_s: float
    board_model_uj: float | None  # (a) P_active x latency
    ops_model_uj: float  # (b) Horowitz per-operation total
    power_mw: float | None
    power_source: str
    ops_source: str
    layers: list[LayerEnergy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def op_energy(layer: LayerStats, model: OpEnergyModel | None = None) -> tuple[float, float, float]:
    """Model (b) for one layer: (MAC, weight-read, activation-traffic) energy in microjoules."""
    m = model or OpEnergyModel()
    mac = layer.macs * m.mac_pj * PJ / UJ
    weight = layer.weight_bytes * m.weight_pj_per_byte * PJ / UJ
    act = (layer.act_read_bytes + layer.act_write_bytes) * m.act_pj_per_byte * PJ / UJ
    return mac, weight, act


def estimate_energy(
    layers: Iterable[LayerStats | Mapping[str, Any]],
    latency_s: float,
    board: Any = None,
    *,
    power_mw: float | None = None,
    clock_hz: int | None = None,
    model: OpEnergyModel | None = None,
) -> EnergyReport:
    """Estimate the energy of one inference with both models.

    ``board`` is an :class:`edgesdk.boards.Board` (its ``mcu`` and ``clock_hz`` are used), an MCU name, or None.
    ``power_mw`` overrides the datasheet figure. A layer's time for model (a) is ``count / clock_hz``; on an
    emulated board the count is instructions, so that time assumes one instruction per cycle (said in the notes).
    """
    if latency_s < 0:
        raise ValueError(f"latency must not be negative, got {latency_s}")
    stats = [x if isinstance(x, LayerStats) else LayerStats.from_dict(x) for x in layers]
    m = model or OpEnergyModel()
    notes: list[str] = [
        "ops model: 45 nm figures (Horowitz, ISSCC 2014) for MACs and data movement only; it leaves out "
        "instruction fetch, control, clocking, leakage and the rest of the chip, so it is far below a measurement",
        "weights are costed as SRAM reads (Horowitz has no flash figure): a lower bound",
    ]
    mcu = getattr(board, "mcu", board) if board is not None else None
    clock = clock_hz or getattr(board, "clock_hz", None)
    source = ""
    if power_mw is None and mcu:
        try:
            point = active_power(board if getattr(board, "power", None) else str(mcu))
        except EnergyModelError as exc:
            notes.append(f"board model skipped: {exc}")
        else:
            power_mw = point.power_mw_at(clock)
            source = point.source
            if clock and clock != point.clock_hz:
                notes.append(
                    f"datasheet current at {point.clock_hz / 1e6:g} MHz scaled linearly to {clock / 1e6:g} MHz"
                )
    elif power_mw is not None:
        source = "given by the user"
    if getattr(board, "emulated", False):
        notes.append(
            "emulated board: the latency counts instructions, so its time (and model (a)) assumes 1 instruction "
            "per cycle at the board clock"
        )

    out: list[LayerEnergy] = []
    for s in stats:
        mac, weight, act = op_energy(s, m)
        board_uj = None
        if power_mw is not None and s.count is not None and clock:
            board_uj = power_mw * 1e-3 * (s.count / clock) / UJ
        out.append(LayerEnergy(s.name, s.op, mac, weight, act, mac + weight + act, board_uj))
    total_ops = sum(x.ops_model_uj for x in out)
    total_board = power_mw * 1e-3 * latency_s / UJ if power_mw is not None else None
    log.debug("energy: board %s uJ, ops %s uJ", total_board, total_ops)
    return EnergyReport(
        latency_s=latency_s,
        board_model_uj=total_board,
        ops_model_uj=total_ops,
        power_mw=power_mw,
        power_source=source,
        ops_source=m.source,
        layers=out,
        notes=notes,
    )
