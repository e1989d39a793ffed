"""Boards as data: every board file parses, aliases resolve, bad names and bad files give one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesdk.boards import DEFAULT_BOARD, all_boards, get_board, parse_board
from edgesdk.cli import main
from edgesdk.errors import BoardError

REQUIRED = {
    "nucleo-f446re",
    "nucleo-l4r5zi",
    "nucleo-h743zi",
    "netduinoplus2",
    "mps2-an386",
    "mps2-an500",
    "host",
}


def test_every_required_board_is_there_and_consistent() -> None:
    boards = all_boards()
    assert REQUIRED <= set(boards)
    for b in boards.values():
        assert b.path.stem == b.name
        if b.is_host:
            continue
        assert b.build.cc == "arm-none-eabi-gcc"
        assert f"-mcpu={b.core}" in b.build.cflags
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
    with pytest.raises(BoardError, match="board 'esp32' is unknown; known boards: host, "):
        get_board("esp32")


def test_bad_board_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(BoardError, match="is not valid TOML"):
        parse_board(bad)
    text = get_board("mps2-an386").path.read_text(encoding="utf-8")
    bad.write_text(text.replace('driver = "cmsdk_uart"', 'driver = "usb"'), encoding="utf-8")
    with pytest.raises(BoardError, match="uart driver 'usb' is not one of"):
        parse_board(bad)
    bad.write_text(text.replace("clock_hz = 25000000", 'clock_hz = "fast"'), encoding="utf-8")
    with pytest.raises(BoardError, match="key 'clock_hz' has the wrong type"):
        parse_board(bad)


def test_boards_command_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for name in REQUIRED:
        assert name in out
    assert main(["boards", "--json"]) == 0
    assert '"nucleo-l4r5zi"' in capsys.readouterr().out
