"""Boards as data: every board is one TOML file in ``boards/``. No board name appears in code elsewhere.

``get_board(name)`` accepts a board's name, one of its aliases (``stm32`` -> ``nucleo-f446re``) or the path of a
board file of the user's own (``my-board.toml``); the default board is the emulated STM32 used when no board is
named. Every board file is checked field by field (:func:`parse_board`): it is data, never commands.

A board file with ``kind = "fpga"`` describes an FPGA board (part, clock, resources) for ``edgesdk synth``:
``fpga_boards()`` / ``get_fpga_board(name)`` read those; ``all_boards()`` / ``get_board()`` keep to the
microcontroller boards (``kind = "mcu"``, the default) and name the right command for an FPGA board.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from edgesdk.compiler import kernels as kernel_table
from edgesdk.errors import BoardError
from edgesdk.util.resources import boards_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

DEFAULT_BOARD = "netduinoplus2"
FAMILIES = (
    "stm32f4",
    "stm32l4",
    "stm32h7",
    "stm32u5",
    "mps2",
    "nrf5",
    "rp2040",
    "riscv-virt",
    "esp32c3",
    "host",
)
UART_DRIVERS = (
    "stm32_usart_v1", "stm32_usart_v2", "cmsdk_uart", "nrf_uart", "pl011", "ns16550", "esp32_uart", "stdio",
)  # fmt: skip
FLASH_METHODS = (
    "qemu", "process", "pyocd", "openocd", "st-flash", "stm32loader", "mass-storage", "uf2", "esptool",
)  # fmt: skip


#: Core -> folder of ``firmware/kernels/`` that overrides the portable kernels, and core -> kernels not chosen on
#: it unless forced: reads of the kernel table (:data:`edgesdk.compiler.kernels.CORE_TARGETS`, the rows' ``slower_on``).
#: A kernel a folder lacks comes from the folder it extends (``KERNEL_TARGET_BASE``: Helium over the DSP
#: kernels), else it is the portable one (:func:`kernel_target_chain`).
CORE_KERNEL_TARGETS: dict[str, str] = kernel_table.CORE_TARGETS
CORE_SLOWER_KERNELS: dict[str, frozenset[str]] = kernel_table.slower_kernels()
KERNEL_TARGET_BASE: dict[str, str] = kernel_table.TARGET_BASE
kernel_target_chain = kernel_table.kernel_target_chain


@dataclass(frozen=True)
class Memory:
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    ccm_origin: int = 0  # core-coupled RAM (STM32F4: 64 KiB at 0x10000000, data only, no DMA); 0 bytes = none
    ccm_bytes: int = 0
    #: The boot ROM loads every section of the image to its run address (ESP32-C3): constants and .data then live
    #: in RAM, reached over the data bus, and nothing is copied from flash at reset.
    load_in_place: bool = False


@dataclass(frozen=True)
class Build:
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]


@dataclass(frozen=True)
class Uart:
    driver: str
    base: int
    baud: int
    extra: dict[str, int] = field(default_factory=dict)  # clock enables, pins, alternate function


@dataclass(frozen=True)
class Flash:
    methods: tuple[str, ...]
    pyocd_target: str = ""
    openocd_config: str = ""
    mass_storage_label: str = ""
    uf2_family: int = 0  # the UF2 family ID the board's USB drive accepts (RP2040: 0xE48BFF56); 0 = none
    esptool_chip: str = (
        ""  # esptool's --chip (esp32c3): the image format elf2image writes and the chip it flashes
    )
    image_offset: int = (
        0  # where in the chip's SPI flash esptool writes the image (0: the boot ROM's first image)
    )


@dataclass(frozen=True)
class Emulator:
    machine: str
    icount_shift: int = 0
    qemu: str = "qemu-system-arm"  # the QEMU program (qemu-system-riscv32 for RISC-V machines)
    bios: str = ""  # QEMU's -bios ("none": the firmware image itself is the first code the machine runs)


@dataclass(frozen=True)
class Power:
    """A board's ``[power]``: the active (run-mode) power the energy estimate uses, at a clock, with its source;
    and the published MLPerf Tiny figure it is checked against (median energy per inference x throughput, averaged
    over the benchmarks, for the same board and clock: ``benchmarks/energy_check.py``)."""

    active_mw: float
    clock_hz: int
    source: str
    mlperf_mw: float = 0.0  # 0: no published measurement for this board
    mlperf_clock_hz: int = 0
    mlperf_source: str = ""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    family: str
    mcu: str
    core: str
    fpu: str
    float_abi: str
    clock_hz: int
    emulated: bool
    stack_bytes: int
    memory: Memory
    build: Build
    uart: Uart
    flash: Flash
    emulator: Emulator | None
    aliases: tuple[str, ...]
    path: Path
    power: Power | None = None

    @property
    def is_host(self) -> bool:
        return self.family == "host"

    @property
    def is_arm(self) -> bool:
        """Whether the board's core is an Arm Cortex-M (shared startup, SysTick, ``firmware/targets/cortexm``)."""
        return self.core not in NON_ARM_CORES

    def tool(self, name: str) -> str:
        """A binutils program of the board's toolchain (``objcopy``, ``size``): the compiler's name with its
        trailing ``gcc``/``cc`` replaced (``riscv64-unknown-elf-gcc`` -> ``riscv64-unknown-elf-objcopy``)."""
        if self.is_host:
            return name
        return re.sub(r"(?:gcc|clang|cc)(?:-[0-9][0-9.]*)?$", name, self.build.cc)

    @property
    def kernel_target(self) -> str | None:
        """The folder under ``firmware/kernels/`` whose kernels override the portable ones on this board's core
        (None: the portable C99 kernels). Chosen by the core's instruction set, never by the board's name."""
        return CORE_KERNEL_TARGETS.get(self.core)

    @property
    def timer_unit(self) -> str:
        """What the board's counter counts: emulated boards count executed instructions, not cycles."""
        return "instructions" if self.emulated else "cycles"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "family": self.family,
            "mcu": self.mcu,
            "core": self.core,
            "fpu": self.fpu,
            "clock_hz": self.clock_hz,
            "emulated": self.emulated,
            "flash_bytes": self.memory.flash_bytes,
            "ram_bytes": self.memory.ram_bytes,
            **({"ccm_bytes": self.memory.ccm_bytes} if self.memory.ccm_bytes else {}),
            "flash_methods": list(self.flash.methods),
            **({"emulator": self.emulator.qemu} if self.emulator else {}),
            "aliases": list(self.aliases),
        }


_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
#: A plain word (MCU, debugger target, drive label, QEMU machine, FPGA part): it reaches command lines and paths.
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: A relative or absolute file path of plain words (an OpenOCD config such as ``board/st_nucleo_f4.cfg``).
_PATH_RE = re.compile(r"/?[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*")
#: The compiler: a program named ...gcc, ...clang or cc (a version suffix allowed), optionally with its path.
_CC_RE = re.compile(r"/?(?:[A-Za-z0-9_.+-]+/)*[A-Za-z0-9_.+-]*(?:gcc|clang|cc)(?:-[0-9][0-9.]*)?")
#: A compiler or linker flag is one word that starts with '-': nothing a shell, Make or CMake reads specially.
_FLAG_RE = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9_=+,.:/-]*")
_FLAG_CHARS = "letters, digits and _ = + , . : / -"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Flags that make the compiler or linker run, or load, a program the board file names: refused.
_PROGRAM_FLAGS = (
    ("-B", "sets the directory the compiler takes its own programs from"),
    ("-wrapper", "runs the compiler's programs through another program"),
    ("-fplugin", "loads a compiler plugin"),
    ("-Xlinker", "passes an unchecked argument to the linker (use -Wl,...)"),
    ("-Xassembler", "passes an unchecked argument to the assembler (use -Wa,...)"),
    ("-Xpreprocessor", "passes an unchecked argument to the preprocessor (use -Wp,...)"),
    ("-o", "sets the output file, which the build chooses"),
)
_LINKER_PLUGIN = re.compile(r"^-{1,2}plugin")
_LINKERS = ("bfd", "gold", "lld", "mold")

#: Known cores: the -mcpu names of Arm's Cortex-M line, and ``host`` for the host board.
CORES = (
    "cortex-m0", "cortex-m0plus", "cortex-m1", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m23",
    "cortex-m33", "cortex-m35p", "cortex-m52", "cortex-m55", "cortex-m85", "rv32imc", "host",
)  # fmt: skip
#: Cores that are not Arm Cortex-M: no Cortex-M startup, vector table or SysTick (their family brings its own).
NON_ARM_CORES = ("rv32imc", "host")
#: The QEMU programs an emulated board may name in ``[emulator] qemu``.
QEMU_PROGRAMS = ("qemu-system-arm", "qemu-system-riscv32")
FPUS = ("", "auto", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")
FLOAT_ABIS = ("", "soft", "softfp", "hard")
#: Optional [uart] fields (clock enables, pins, alternate function) and their ranges.
UART_EXTRA = {
    "rcc_apb_enr": (0, (1 << 32) - 1),
    "rcc_apb_bit": (0, 31),
    "rcc_gpio_enr": (0, (1 << 32) - 1),
    "rcc_gpio_bit": (0, 31),
    "gpio_base": (0, (1 << 32) - 1),
    "tx_pin": (0, 47),  # STM32: 0..15 of a port; nRF: P0.00..P1.15
    "rx_pin": (0, 47),
    "af": (0, 15),
    "irq": (0, 495),  # the NVIC line of the UART's receive (or combined) interrupt, for sleeping in WFI
}
ADDRESS_SPACE = 1 << 32
MIN_CLOCK_HZ = 1_000  # below 1 kHz no UART runs
MAX_CLOCK_HZ = (1 << 32) - 1  # the firmware's EDGESDK_CLOCK_HZ is a 32-bit unsigned constant
MIN_MEMORY = 1024  # flash and RAM of a microcontroller board, bytes
BAUD_RANGE = (300, 12_000_000)
_MISSING = object()
_ADDRESS_KEYS = (
    "flash_origin",
    "ram_origin",
    "ccm_origin",
    "base",
    "rcc_apb_enr",
    "rcc_gpio_enr",
    "gpio_base",
)


def _show(value: Any) -> str:
    """A board-file value as it appears in an error sentence: quoted strings (control characters as escapes)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value[:8]) + (", ..." if len(value) > 8 else "") + "]"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


class _Fields:
    """One table of a board file, read field by field; every error is one sentence naming the file, the field
    (``memory.ram_origin``, ``build.cflags[1]``) and the value."""

    def __init__(self, data: dict[str, Any], where: str, prefix: str = "") -> None:
        self.data = data
        self.where = where
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, value: Any, why: str) -> BoardError:
        address = (
            key in _ADDRESS_KEYS and isinstance(value, int) and not isinstance(value, bool) and value >= 0
        )
        shown = f"0x{value:X}" if address else _show(value)
        return BoardError(f"board file {self.where}: {self.name(key)} = {shown} {why}")

    def get(self, key: str, typ: type | tuple[type, ...], default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise BoardError(f"board file {self.where}: the field {self.name(key)} is missing")
            return default
        value = self.data[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            want = {
                int: "an integer",
                str: "a string",
                bool: "true or false",
                list: "a list",
                dict: "a table",
            }
            need = (
                want.get(typ, typ.__name__) if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            )
            raise self.error(key, value, f"has the wrong type ({type(value).__name__}; it must be {need})")
        return value

    def int(self, key: str, lo: int, hi: int, default: Any = _MISSING, *, multiple: int = 1) -> int:
        value = self.get(key, int, default)
        if not lo <= value <= hi:
            raise self.error(key, value, f"is outside {lo:,}..{hi:,}")
        if value % multiple:
            raise self.error(key, value, f"is not a multiple of {multiple}")
        return value

    def text(self, key: str, pattern: re.Pattern[str] | None, what: str, default: Any = _MISSING) -> str:
        value = self.get(key, str, default)
        if _CONTROL.search(value) or len(value) > 200:
            raise self.error(key, value, "holds a control character or is longer than 200 characters")
        if pattern is not None and value and not pattern.fullmatch(value):
            raise self.error(key, value, f"is not {what}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, value, f"is not one of {', '.join(repr(c) for c in choices)}")
        return value

    def words(
        self, key: str, pattern: re.Pattern[str], what: str, default: Any = _MISSING
    ) -> tuple[str, ...]:
        items = self.get(key, list, default)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not pattern.fullmatch(item) or len(item) > 200:
                raise self.error(f"{key}[{i}]", item, f"is not {what}")
        return tuple(items)

    def flags(self, key: str) -> tuple[str, ...]:
        """Compiler or linker flags: each one word of safe characters, none that runs or loads a program."""
        items = self.words(key, _FLAG_RE, f"a compiler flag (one word starting with '-', of {_FLAG_CHARS})")
        for i, flag in enumerate(items):
            why = next((w for p, w in _PROGRAM_FLAGS if flag.startswith(p)), None)
            opt, _, value = flag.partition("=")
            if why is None and opt in ("-specs", "--specs") and "/" in value:
                why = "names a specs file by path (only the toolchain's own, e.g. nano.specs, are allowed)"
            if why is None and opt == "-fuse-ld" and value not in _LINKERS:
                why = f"is not one of the linkers {', '.join(_LINKERS)}"
            if why is None and flag.startswith(("-Wl,", "-Wa,", "-Wp,")):
                if any(_LINKER_PLUGIN.match(part) for part in flag.split(",")[1:]):
                    why = "loads a linker plugin"
            if why is not None:
                raise self.error(
                    f"{key}[{i}]", flag, f"{why}; a board file may not make the compiler run other programs"
                )
        return items

    def section(self, key: str, required: bool = True) -> _Fields | None:
        value = self.get(key, dict, _MISSING if required else None)
        return None if value is None else _Fields(value, self.where, f"{self.name(key)}.")

    def only(self, known: Iterable[str]) -> None:
        """Refuse a field this table does not have (a typo would otherwise be silently ignored)."""
        known = set(known)
        for key in self.data:
            if key not in known:
                raise BoardError(
                    f"board file {self.where}: {self.name(key)} is not a board field "
                    f"(known here: {', '.join(sorted(known))})"
                )


def _region(
    f: _Fields, origin_key: str, size_key: str, what: str, *, host: bool, minimum: int
) -> tuple[int, int]:
    """An address range that fits the 32-bit address space: (origin, bytes)."""
    origin = f.int(origin_key, 0, ADDRESS_SPACE - 1, 0 if host else _MISSING, multiple=4)
    size = f.int(size_key, 0 if host else minimum, ADDRESS_SPACE, 0 if host else _MISSING, multiple=4)
    if origin + size > ADDRESS_SPACE:
        raise f.error(
            origin_key, origin,
            f"does not leave room for {size_key} = {size:,}: the {what} would end at 0x{origin + size:X}, "
            "beyond the 32-bit address space",
        )  # fmt: skip
    return origin, size


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[1] > 0 and b[1] > 0 and a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


_TOP_KEYS = (
    "kind", "name", "description", "family", "mcu", "core", "fpu", "float_abi", "clock_hz", "emulated",
    "stack_bytes", "aliases", "memory", "build", "uart", "flash", "emulator", "power",
)  # fmt: skip
MAX_POWER_MW = 100_000.0  # a microcontroller draws far less than 100 W


def _parse_memory(top: _Fields, host: bool) -> tuple[Memory, int]:
    """The ``[memory]`` section: flash, RAM and core-coupled RAM regions that do not overlap; and the room the
    stack may take (the larger of RAM and CCM)."""
    mem = top.section("memory")
    assert mem is not None
    mem.only(
        ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes", "ccm_origin", "ccm_bytes", "load_in_place")
    )
    flash_region = _region(mem, "flash_origin", "flash_bytes", "flash", host=host, minimum=MIN_MEMORY)
    ram_region = _region(mem, "ram_origin", "ram_bytes", "RAM", host=host, minimum=MIN_MEMORY)
    ccm_region = _region(mem, "ccm_origin", "ccm_bytes", "core-coupled RAM", host=True, minimum=0)
    if _overlap(flash_region, ram_region):
        raise mem.error("ram_origin", ram_region[0], "puts RAM inside the flash region")
    for other, what in ((flash_region, "flash"), (ram_region, "RAM")):
        if _overlap(ccm_region, other):
            raise mem.error(
                "ccm_origin", ccm_region[0], f"puts the core-coupled RAM inside the {what} region"
            )
    memory = Memory(
        flash_origin=flash_region[0],
        flash_bytes=flash_region[1],
        ram_origin=ram_region[0],
        ram_bytes=ram_region[1],
        ccm_origin=ccm_region[0],
        ccm_bytes=ccm_region[1],
        load_in_place=mem.get("load_in_place", bool, False),
    )
    return memory, max(ram_region[1], ccm_region[1])


def _parse_build(top: _Fields, core: str) -> Build:
    """The ``[build]`` section: a compiler and flags of one word each, ``-mcpu=`` agreeing with the core."""
    build = top.section("build")
    assert build is not None
    build.only(("cc", "cflags", "ldflags"))
    cc = build.text(
        "cc", _CC_RE, "a C compiler (a program named ...gcc, ...clang or cc, optionally with its path)"
    )
    cflags = build.flags("cflags")
    ldflags = build.flags("ldflags")
    for i, flag in enumerate(cflags):
        if flag.startswith("-mcpu=") and flag != f"-mcpu={core}":
            raise build.error(f"cflags[{i}]", flag, f"disagrees with core = {core!r}")
    return Build(cc=cc, cflags=cflags, ldflags=ldflags)


def _parse_uart(top: _Fields, host: bool, family: str) -> Uart:
    """The ``[uart]`` section: a known driver (``stdio`` only on the host), base address, baud, pins."""
    uart = top.section("uart")
    assert uart is not None
    uart.only(("driver", "base", "baud", *UART_EXTRA))
    driver = uart.choice("driver", UART_DRIVERS)
    if (driver == "stdio") != host:
        raise uart.error(
            "driver", driver, f"does not suit family {family!r} (only the host board uses 'stdio')"
        )
    base = uart.int("base", 0 if host else 1, ADDRESS_SPACE - 4, multiple=4)
    baud = uart.int("baud", 0, 0, 0) if host else uart.int("baud", *BAUD_RANGE)
    extra = {k: uart.int(k, *UART_EXTRA[k]) for k in UART_EXTRA if k in uart.data}
    return Uart(driver=driver, base=base, baud=baud, extra=extra)


def _parse_flash_methods(top: _Fields, emulated: bool) -> tuple[_Fields, tuple[str, ...]]:
    """The ``[flash]`` section and its methods (known ones; ``uf2`` with its family and drive label; ``qemu``
    exactly when the board is emulated). Its other fields are read where the board is built."""
    flash = top.section("flash")
    assert flash is not None
    flash.only(
        (
            "methods",
            "pyocd_target",
            "openocd_config",
            "mass_storage_label",
            "uf2_family",
            "esptool_chip",
            "image_offset",
        )
    )
    methods = flash.words(
        "methods",
        re.compile("|".join(re.escape(m) for m in FLASH_METHODS)),
        f"one of {', '.join(FLASH_METHODS)}",
    )
    if not methods:
        raise flash.error("methods", [], "names no way to flash the board")
    if "uf2" in methods and not (flash.data.get("uf2_family") and flash.data.get("mass_storage_label")):
        raise flash.error("methods", list(methods), "has 'uf2' but no uf2_family and mass_storage_label")
    if "esptool" in methods and not flash.data.get("esptool_chip"):
        raise flash.error("methods", list(methods), "has 'esptool' but no esptool_chip (e.g. 'esp32c3')")
    if emulated != ("qemu" in methods):
        raise flash.error(
            "methods",
            list(methods),
            f"{'lacks' if emulated else 'has'} 'qemu' but emulated = {str(emulated).lower()}",
        )
    return flash, methods


def _parse_emulator(top: _Fields, emulated: bool, where: str) -> Emulator | None:
    """The ``[emulator]`` section (required on an emulated board)."""
    emu = top.section("emulator", required=False)
    if emulated and emu is None:
        raise BoardError(f"board file {where}: emulated = true needs an [emulator] section")
    if emu is None:
        return None
    emu.only(("machine", "icount_shift", "qemu", "bios"))
    return Emulator(
        machine=emu.text("machine", _WORD_RE, "a QEMU machine name (letters, digits, '.', '_', '-')"),
        icount_shift=emu.int("icount_shift", 0, 10, 0),
        qemu=emu.choice("qemu", QEMU_PROGRAMS, "qemu-system-arm"),
        bios=emu.choice("bios", ("", "none"), ""),
    )


def _parse_power(top: _Fields) -> Power | None:
    """The optional ``[power]`` section: active power (mW, above 0) at a clock with its source, and the MLPerf Tiny
    figure it is checked against (both or neither of ``mlperf_mw`` and ``mlperf_clock_hz``)."""
    power = top.section("power", required=False)
    if power is None:
        return None
    power.only(("active_mw", "clock_hz", "source", "mlperf_mw", "mlperf_clock_hz", "mlperf_source"))

    def milliwatts(key: str, default: Any = _MISSING) -> float:
        value = power.get(key, (int, float), default)
        if isinstance(value, bool) or not 0 <= value <= MAX_POWER_MW or (default is _MISSING and value == 0):
            raise power.error(key, value, f"is not a power in mW above 0 and at most {MAX_POWER_MW:,.0f}")
        return float(value)

    mlperf_mw = milliwatts("mlperf_mw", 0.0)
    mlperf_clock = power.int("mlperf_clock_hz", 0, MAX_CLOCK_HZ, 0)
    if bool(mlperf_mw) != bool(mlperf_clock):
        raise power.error(
            "mlperf_mw", mlperf_mw, "needs mlperf_clock_hz, the clock it was measured at (and back)"
        )
    return Power(
        active_mw=milliwatts("active_mw"),
        clock_hz=power.int("clock_hz", MIN_CLOCK_HZ, MAX_CLOCK_HZ),
        source=power.text("source", None, "a source"),
        mlperf_mw=mlperf_mw,
        mlperf_clock_hz=mlperf_clock,
        mlperf_source=power.text("mlperf_source", None, "a source", ""),
    )


def parse_board(path: Path) -> Board:
    """Read and check one microcontroller board file, field by field.

    A board file is data: its strings reach a Makefile, a CMakeLists.txt, linker scripts, C and the command
    lines of the compiler, QEMU and flash tools. So every field has a type and a range or a pattern (names and
    words of plain characters, compiler flags one word each with nothing a shell, Make or CMake reads
    specially, and none that makes the compiler run another program), the memory regions fit the 32-bit
    address space without overlapping, and a field the loader does not know is refused rather than ignored.
    Any problem is one sentence naming the file, the field and the value (:class:`BoardError`, exit 5).
    """
    where = _terminal_path(path)
    data = _read_toml(path, where)
    top = _Fields(data, where)
    top.only(_TOP_KEYS)
    name = top.text("name", _NAME_RE, "a board name (lower-case letters, digits, '.', '_' or '-')")
    family = top.choice("family", FAMILIES)
    host = family == "host"
    core = top.choice("core", CORES)
    if (core == "host") != host:
        raise top.error("core", core, f"does not suit family {family!r} (the host family has core 'host')")
    emulated = top.get("emulated", bool, False)
    clock_hz = top.int("clock_hz", MIN_CLOCK_HZ, MAX_CLOCK_HZ)

    memory, stack_room = _parse_memory(top, host)
    stack_bytes = top.int("stack_bytes", 0 if host else 256, stack_room if not host else 1 << 30, multiple=8)
    build = _parse_build(top, core)
    uart = _parse_uart(top, host, family)
    flash, methods = _parse_flash_methods(top, emulated)
    emulator = _parse_emulator(top, emulated, where)
    aliases = top.words("aliases", _NAME_RE, "an alias (lower-case letters, digits, '.', '_' or '-')", [])
    return Board(
        name=name,
        description=top.text("description", None, "a description"),
        family=family,
        mcu=top.text("mcu", _WORD_RE, "an MCU name (letters, digits, '.', '_', '-')"),
        core=core,
        fpu=top.choice("fpu", FPUS),
        float_abi=top.choice("float_abi", FLOAT_ABIS),
        clock_hz=clock_hz,
        emulated=emulated,
        stack_bytes=stack_bytes,
        memory=memory,
        build=build,
        uart=uart,
        flash=Flash(
            methods=methods,
            pyocd_target=flash.text("pyocd_target", _WORD_RE, "a pyOCD target name", ""),
            openocd_config=flash.text(
                "openocd_config", _PATH_RE, "an OpenOCD config path of plain words", ""
            ),
            mass_storage_label=flash.text(
                "mass_storage_label", _WORD_RE, "a drive label (letters, digits, '.', '_', '-')", ""
            ),
            uf2_family=flash.int("uf2_family", 0, (1 << 32) - 1, 0),
            esptool_chip=flash.text("esptool_chip", _WORD_RE, "an esptool chip name (esp32c3)", ""),
            image_offset=flash.int("image_offset", 0, (1 << 28) - 1, 0, multiple=4096),
        ),
        emulator=emulator,
        aliases=aliases,
        path=path,
        power=_parse_power(top),
    )


def _terminal_path(path: Path) -> str:
    """A path as it appears in an error sentence: control characters (newlines, escape sequences) as '?'."""
    return _CONTROL.sub("?", str(path))


def _read_toml(path: Path, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardError(f"board file {where} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardError(f"board file {where} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(f"board file {where} is not valid TOML: {exc}") from None


#: the ``[resources]`` of an FPGA board file (datasheet counts) that ``synth`` sets its designs against: LUTs,
#: flip-flops, DSP blocks, 18 Kib block RAMs (Xilinx), 4 Kib EBR and 256 Kib SPRAM blocks (iCE40), UltraRAMs
FPGA_RESOURCES = ("lut", "ff", "dsp", "bram_18k", "bram_4k", "spram_256k", "uram")


@dataclass(frozen=True)
class FpgaBoard:
    """An FPGA board: the part the HLS project targets, the clock, and the resources a design may use."""

    name: str
    description: str
    vendor: str
    part: str
    clock_hz: int
    hls_backend: str  # hls4ml backend for the vendor flow ("Vitis", "Vivado"), "" for open-source-only parts
    resources: dict[str, int]
    aliases: tuple[str, ...]
    path: Path

    @property
    def clock_period_ns(self) -> float:
        return 1e9 / self.clock_hz

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": "fpga",
            "description": self.description,
            "vendor": self.vendor,
            "part": self.part,
            "clock_hz": self.clock_hz,
            "hls_backend": self.hls_backend,
            "resources": dict(self.resources),
            "aliases": list(self.aliases),
        }


KINDS = ("mcu", "fpga")


def _kind(path: Path) -> str:
    where = _terminal_path(path)
    data = _read_toml(path, where)
    kind = data.get("kind", "mcu")
    if kind not in KINDS:
        raise BoardError(f"board file {where}: kind = {_show(kind)} is not one of {', '.join(KINDS)}")
    return kind


def parse_fpga_board(path: Path) -> FpgaBoard:
    """Read and check one FPGA board file (``kind = "fpga"``), field by field as :func:`parse_board` does (the
    part and backend reach hls4ml's Tcl scripts and the vendor tools' command lines)."""
    where = _terminal_path(path)
    if _kind(path) != "fpga":
        raise BoardError(f'board file {where} is not an FPGA board (kind = "fpga")')
    top = _Fields(_read_toml(path, where), where)
    top.only(
        (
            "kind",
            "name",
            "description",
            "vendor",
            "part",
            "clock_hz",
            "hls_backend",
            "resources",
            "aliases",
            "power",
        )
    )
    res = top.section("resources")
    assert res is not None
    res.only(FPGA_RESOURCES)
    resources = {key: res.int(key, 0, 1 << 31) for key in res.data}
    return FpgaBoard(
        name=top.text("name", _NAME_RE, "a board name (lower-case letters, digits, '.', '_' or '-')"),
        description=top.text("description", None, "a description"),
        vendor=top.text("vendor", _WORD_RE, "a vendor name (letters, digits, '.', '_', '-')"),
        part=top.text("part", _WORD_RE, "an FPGA part name (letters, digits, '.', '_', '-')"),
        clock_hz=top.int("clock_hz", MIN_CLOCK_HZ, MAX_CLOCK_HZ),
        hls_backend=top.choice("hls_backend", ("", "Vitis", "Vivado"), ""),
        resources=resources,
        aliases=top.words("aliases", _NAME_RE, "an alias (lower-case letters, digits, '.', '_' or '-')", []),
        path=path,
    )


def is_board_path(name: str) -> bool:
    """Whether ``--board`` names a board file of the user's own (``my-board.toml``, ``boards/x.toml``)."""
    return name.strip().lower().endswith(".toml") or "/" in name or "\\" in name


@cache
def fpga_boards() -> dict[str, FpgaBoard]:
    """Every FPGA board file in ``boards/``, by name."""
    boards: dict[str, FpgaBoard] = {}
    for path in sorted(boards_dir().glob("*.toml")):
        try:
            kind = _kind(path)
        except BoardError:
            continue  # an unreadable file is reported by the microcontroller loader (broken_boards)
        if kind != "fpga":
            continue
        try:
            board = parse_fpga_board(path)
        except BoardError as exc:
            log.warning("%s", exc)  # a broken FPGA board file breaks only itself
            continue
        if board.name in boards:
            raise BoardError(f"board file {path}: board {board.name!r} is defined twice")
        boards[board.name] = board
    return boards


def get_fpga_board(name: str) -> FpgaBoard:
    """The FPGA board called ``name`` (or one whose alias it is), or the one in the board file ``name``."""
    if is_board_path(name):
        path = Path(name)
        if _kind(path) != "fpga":
            raise BoardError(
                f"board file {_terminal_path(path)} is a microcontroller board: use edgesdk export/validate for it"
            )
        return parse_fpga_board(path)
    boards = fpga_boards()
    key = name.strip().lower()
    if key in boards:
        return boards[key]
    for board in boards.values():
        if key in board.aliases:
            return board
    if key in all_boards():
        raise BoardError(f"board {name!r} is a microcontroller board: use edgesdk export/validate for it")
    raise BoardError(f"FPGA board {name!r} is unknown; known FPGA boards: {', '.join(sorted(boards))}")


@cache
def _load_all() -> tuple[dict[str, Board], dict[str, BoardError]]:
    """Every microcontroller board file in ``boards/``: the good ones by name, the broken ones' errors by file
    stem (FPGA boards, ``kind = "fpga"``, are :func:`fpga_boards`).

    One broken file must not break every command: it is reported when it is used or listed.
    """
    boards: dict[str, Board] = {}
    broken: dict[str, BoardError] = {}
    for path in sorted(boards_dir().glob("*.toml")):
        try:
            if _kind(path) != "mcu":
                continue
            board = parse_board(path)
            if board.name in boards:
                raise BoardError(f"board file {path}: board {board.name!r} is defined twice")
        except BoardError as exc:
            broken[path.stem] = exc
            continue
        boards[board.name] = board
    return boards, broken


def all_boards() -> dict[str, Board]:
    """Every board file in ``boards/`` that parses, by name (see :func:`broken_boards` for the others)."""
    return dict(_load_all()[0])


def broken_boards() -> dict[str, BoardError]:
    """The board files that do not parse: file stem -> the error naming the file and the field."""
    return dict(_load_all()[1])


def resolve_alias(name: str | None) -> Board | None:
    """The board an alias means (``stm32`` -> nucleo-f446re), or None if ``name`` is no alias."""
    if name is None or is_board_path(name):
        return None
    key = name.strip().lower()
    boards = _load_all()[0]
    if key in boards:
        return None
    return next((b for b in boards.values() if key in b.aliases), None)


def get_board(name: str | None = None) -> Board:
    """The board called ``name`` (or one whose alias it is), or the one in the board file ``name`` (a path
    ending in ``.toml``: a user's own board); the default emulated board for None."""
    if name is not None and is_board_path(name):
        path = Path(name)
        if _kind(path) == "fpga":
            raise BoardError(f"board file {_terminal_path(path)} is an FPGA board: use edgesdk synth for it")
        return parse_board(path)
    boards, broken = _load_all()
    key = DEFAULT_BOARD if name is None else name.strip().lower()
    if key in boards:
        return boards[key]
    for board in boards.values():
        if key in board.aliases:
            log.info("board %r means %s (%s)", name, board.name, board.description)
            return board
    fpga = fpga_boards()
    if key in fpga or any(key in b.aliases for b in fpga.values()):
        raise BoardError(f"board {name!r} is an FPGA board: use edgesdk synth for it")
    if key in broken:
        raise broken[key]
    note = f" (board files that do not load: {', '.join(sorted(broken))})" if broken else ""
    raise BoardError(f"board {name!r} is unknown; known boards: {', '.join(sorted(boards))}{note}")
