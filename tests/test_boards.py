"""Boards as data: every board file parses, aliases resolve, bad names and bad files give one sentence."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgesdk.boards import DEFAULT_BOARD, all_boards, get_board, parse_board
from edgesdk.commands.cli import main
from edgesdk.errors import BoardError

REQUIRED = {
    "nucleo-f446re",
    "nucleo-l4r5zi",
    "nucleo-h743zi",
    "netduinoplus2",
    "mps2-an386",
    "mps2-an500",
    "mps2-an385",
    "mps2-an505",
    "mps3-an547",
    "microbit",
    "qemu-riscv32",
    "esp32-c3-devkitm-1",
    "host",
}


def test_every_required_board_is_there_and_consistent() -> None:
    boards = all_boards()
    assert REQUIRED <= set(boards)
    for b in boards.values():
        assert b.path.stem == b.name
        if b.is_host:
            continue
        if b.is_arm:
            assert b.build.cc == "arm-none-eabi-gcc"
            assert f"-mcpu={b.core}" in b.build.cflags
        else:
            assert b.build.cc == "riscv64-unknown-elf-gcc" and f"-march={b.core}" in b.build.cflags
        assert b.memory.flash_bytes > 0 and b.memory.ram_bytes > 0
        assert b.emulated == ("qemu" in b.flash.methods)
        assert b.timer_unit == ("instructions" if b.emulated else "cycles")


def test_stm32_alias_resolves_and_says_which_once_without_a_warning(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level("WARNING"):
        board = get_board("stm32")
    assert board.name == "nucleo-f446re"
    assert not caplog.records  # an alias is not a problem
    # the CLI says it once, in its normal output
    assert main(["boards"]) == 0 and "board 'stm32'" not in capsys.readouterr().out
    assert main(["export", "/nonexistent.tflite", "--board", "stm32"]) == 2
    out = capsys.readouterr()
    assert out.out.count("board 'stm32' is nucleo-f446re") == 1 and "WARNING" not in out.err


def test_default_board_is_the_emulated_stm32() -> None:
    board = get_board(None)
    assert board.name == DEFAULT_BOARD == "netduinoplus2"
    assert board.emulated and board.family == "stm32f4"


def test_unknown_board_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(
        BoardError, match="board 'esp32' is unknown; known boards: b-u585i-iot02a, esp32-c3-devkitm-1, host, "
    ):
        get_board("esp32")


def test_bad_board_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(BoardError, match="is not valid TOML"):
        parse_board(bad)
    text = get_board("mps2-an386").path.read_text(encoding="utf-8")
    bad.write_text(text.replace('driver = "cmsdk_uart"', 'driver = "usb"'), encoding="utf-8")
    with pytest.raises(BoardError, match="uart.driver = 'usb' is not one of"):
        parse_board(bad)
    bad.write_text(text.replace("clock_hz = 25000000", 'clock_hz = "fast"'), encoding="utf-8")
    with pytest.raises(BoardError, match="clock_hz = 'fast' has the wrong type"):
        parse_board(bad)


def test_boards_command_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for name in REQUIRED:
        assert name in out
    esp = next(line for line in out.splitlines() if line.startswith("esp32-c3-devkitm-1 "))
    assert esp.split()[1:3] == ["rv32imc", "esptool"]  # its core and what it flashes with
    assert main(["boards", "--json"]) == 0
    assert '"nucleo-l4r5zi"' in capsys.readouterr().out


# --- board files are data: checked field by field, passed to make and the compiler as quoted words ----------------
HOSTILE_FLAG = "-DA=1 ;touch PWNED;true"


def _board_file(tmp_path: Path, base: str, *edits: tuple[str, str], name: str = "mine.toml") -> Path:
    """A copy of board ``base``'s file with textual edits (each must apply)."""
    text = get_board(base).path.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_hostile_board_file_is_refused_and_runs_nothing(
    ad_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _board_file(tmp_path, "host", ('cflags = ["-O2"]', f'cflags = ["-O2", "{HOSTILE_FLAG}"]'))
    out = tmp_path / "proj"
    assert main(["export", str(ad_model), "--board", str(path), "-o", str(out), "--build"]) == 5
    err = capsys.readouterr().err
    assert err == (
        f"edgesdk export: error: board file {path}: build.cflags[1] = '{HOSTILE_FLAG}' is not a compiler flag "
        "(one word starting with '-', of letters, digits and _ = + , . : / -)\n"
    )
    assert not out.exists() and not list(tmp_path.rglob("PWNED*"))


def test_flags_reach_the_compiler_as_data_even_unchecked(ad_graph, tmp_path: Path, monkeypatch) -> None:
    """Were a hostile flag to get past the board check, the Makefile still hands it to gcc as one argument."""
    import dataclasses

    from edgesdk.commands.export import export

    monkeypatch.chdir(tmp_path)
    host = get_board("host")
    flags = ("-O2", HOSTILE_FLAG, "-DB=$(shell touch PWNED2)", "-DC=`touch PWNED3`|x>y", "-DD='q' #c")
    board = dataclasses.replace(host, build=dataclasses.replace(host.build, cflags=flags))
    res = export(ad_graph, board, tmp_path / "proj", build=True)
    assert res.elf is not None and res.elf.is_file()
    assert not list(tmp_path.rglob("PWNED*"))
    # make echoes the command it gave /bin/sh: every flag is one single-quoted word
    log = (tmp_path / "proj" / "build.log").read_text(encoding="utf-8")
    assert (
        "'-DA=1 ;touch PWNED;true' '-DB=$(shell touch PWNED2)' '-DC=`touch PWNED3`|x>y' '-DD='\\''q'\\'' #c'"
        in log
    )
    if shutil.which("cmake"):  # the CMake project hands them to the compiler as quoted arguments too
        for cmd in (["cmake", "-S", "proj", "-B", "cm"], ["cmake", "--build", "cm"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        assert (tmp_path / "cm" / "firmware.elf").is_file()
        assert not list(tmp_path.rglob("PWNED*"))


BAD_FIELDS = [
    # (base board, (old, new) edit, the sentence's tail after "board file PATH: ")
    ("mps2-an386", ("ram_origin = 0x20000000", "ram_origin = 0xFFFFFFF0"),
     "memory.ram_origin = 0xFFFFFFF0 does not leave room for ram_bytes = 4,194,304: the RAM would end at "
     "0x1003FFFF0, beyond the 32-bit address space"),
    ("mps2-an386", ("ram_origin = 0x20000000", "ram_origin = 0x00001000"),
     "memory.ram_origin = 0x1000 puts RAM inside the flash region"),
    ("mps2-an386", ("flash_bytes = 4194304", "flash_bytes = 0"), "memory.flash_bytes = 0 is outside 1,024.."),
    ("mps2-an386", ("ram_bytes = 4194304", "ram_bytes = -5"), "memory.ram_bytes = -5 is outside 1,024.."),
    ("mps2-an386", ("clock_hz = 25000000", "clock_hz = 0"), "clock_hz = 0 is outside 1,000..4,294,967,295"),
    ("mps2-an386", ("clock_hz = 25000000", 'clock_hz = "fast"'),
     "clock_hz = 'fast' has the wrong type (str; it must be an integer)"),
    ("mps2-an386", ('core = "cortex-m4"', 'core = "cortex-m99"'), "core = 'cortex-m99' is not one of 'cortex-m0'"),
    ("mps2-an386", ("baud = 115200", "baud = 0"), "uart.baud = 0 is outside 300..12,000,000"),
    ("mps2-an386", ("base = 0x40004000", "base = 0x40004001"), "uart.base = 0x40004001 is not a multiple of 4"),
    ("mps2-an386", ('driver = "cmsdk_uart"', 'driver = "usb"'), "uart.driver = 'usb' is not one of"),
    ("mps2-an386", ('driver = "cmsdk_uart"', 'driver = "stdio"'), "uart.driver = 'stdio' does not suit family"),
    ("mps2-an386", ("stack_bytes = 16384", "stack_bytes = 16385"), "stack_bytes = 16385 is not a multiple of 8"),
    ("mps2-an386", ('cflags = ["-mcpu=cortex-m4"', 'cflags = ["-B/tmp/evil", "-mcpu=cortex-m4"'),
     "build.cflags[0] = '-B/tmp/evil' sets the directory the compiler takes its own programs from; a board "
     "file may not make the compiler run other programs"),
    ("mps2-an386", ('"-Wl,--gc-sections"]', '"-Wl,--gc-sections,--plugin,/tmp/x.so"]'),
     "build.ldflags[2] = '-Wl,--gc-sections,--plugin,/tmp/x.so' loads a linker plugin"),
    ("mps2-an386", ('"--specs=nano.specs"', '"--specs=/tmp/evil.specs"'),
     "build.ldflags[0] = '--specs=/tmp/evil.specs' names a specs file by path"),
    ("mps2-an386", ('"-O2"', '"-O2 -DX"'), "build.cflags[4] = '-O2 -DX' is not a compiler flag"),
    ("mps2-an386", ('"-O2"', '"$(shell id)"'), "build.cflags[4] = '$(shell id)' is not a compiler flag"),
    ("mps2-an386", ('"-mcpu=cortex-m4"', '"-mcpu=cortex-m7"'),
     "build.cflags[0] = '-mcpu=cortex-m7' disagrees with core = 'cortex-m4'"),
    ("mps2-an386", ('cc = "arm-none-eabi-gcc"', 'cc = "sh -c id"'), "build.cc = 'sh -c id' is not a C compiler"),
    ("mps2-an386", ('machine = "mps2-an386"', 'machine = "mps2;id"'), "emulator.machine = 'mps2;id' is not a QEMU"),
    ("mps2-an386", ('mcu = "AN386"', 'mcu = "AN\\u001b[2J"'), "mcu = 'AN\\x1b[2J' holds a control character"),
    ("mps2-an386", ("stack_bytes = 16384", "stack_byte = 16384"), "stack_byte is not a board field (known here: aliases, build,"),
    ("mps2-an386", ("icount_shift = 7", "icount_shift = 7\nspeed = 3"), "emulator.speed is not a board field"),
    ("mps2-an386", ('methods = ["qemu"]', 'methods = ["dd"]'), "flash.methods[0] = 'dd' is not one of qemu"),
    ("nucleo-f446re", ('mass_storage_label = "NODE_F446RE"', 'mass_storage_label = "*"'),
     "flash.mass_storage_label = '*' is not a drive label"),
    ("nucleo-f446re", ("tx_pin = 2", "tx_pin = 99"), "uart.tx_pin = 99 is outside 0..47"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("base", "edit", "tail"), BAD_FIELDS, ids=[t.split(" ")[0] for _, _, t in BAD_FIELDS]
)
def test_each_bad_field_is_one_sentence_naming_file_field_and_value(
    base: str, edit: tuple[str, str], tail: str, tmp_path: Path
) -> None:
    path = _board_file(tmp_path, base, edit)
    with pytest.raises(BoardError) as err:
        get_board(str(path))
    msg = str(err.value)
    assert msg.startswith(f"board file {path}: {tail}"), msg
    assert "\n" not in msg and "\x1b" not in msg


def test_a_board_past_the_address_space_is_exit_5_before_anything_is_built(
    ad_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _board_file(tmp_path, "mps2-an386", ("ram_origin = 0x20000000", "ram_origin = 0xFFFFFFF0"))
    out = tmp_path / "proj"
    assert main(["export", str(ad_model), "--board", str(path), "-o", str(out), "--build"]) == 5
    assert "memory.ram_origin = 0xFFFFFFF0 does not leave room" in capsys.readouterr().err
    assert not out.exists()


def test_a_users_own_board_file_by_path(ad_graph, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgesdk.boards import get_fpga_board
    from edgesdk.commands.export import export

    path = _board_file(tmp_path, "mps2-an386", ('name = "mps2-an386"', 'name = "my-an386"'), name="my.toml")
    board = get_board(str(path))
    assert (board.name, board.path, board.memory.ram_bytes) == ("my-an386", path, 4194304)
    res = export(ad_graph, str(path), tmp_path / "proj")
    assert "my-an386" in (tmp_path / "proj" / "Makefile").read_text() and res.board.name == "my-an386"
    fpga = tmp_path / "fpga.toml"
    fpga.write_text(get_board_path_text("pynq-z2").replace('name = "pynq-z2"', 'name = "my-pynq"'))
    assert get_fpga_board(str(fpga)).name == "my-pynq"
    with pytest.raises(BoardError, match=r"fpga.toml is an FPGA board: use edgesdk synth for it$"):
        get_board(str(fpga))
    with pytest.raises(BoardError, match=r"my.toml is a microcontroller board: use edgesdk export/validate"):
        get_fpga_board(str(path))
    with pytest.raises(BoardError, match=r"^board file .*nothere.toml does not exist$"):
        get_board(str(tmp_path / "nothere.toml"))
    bad = tmp_path / "bad-part.toml"
    bad.write_text(fpga.read_text().replace('part = "xc7z020clg400-1"', 'part = "x[exec touch PWNED]"'))
    with pytest.raises(BoardError, match=r"part = 'x\[exec touch PWNED\]' is not an FPGA part name"):
        get_fpga_board(str(bad))
    assert main(["boards"]) == 0 and capsys.readouterr().err == ""


def get_board_path_text(name: str) -> str:
    from edgesdk.boards import get_fpga_board

    return get_fpga_board(name).path.read_text(encoding="utf-8")
