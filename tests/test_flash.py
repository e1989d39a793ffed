"""edgesdk flash: one clear sentence when an image or a flashing tool is missing; emulated boards serve the image."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesdk.boards import get_board
from edgesdk.commands.cli import main
from edgesdk.commands.device import flash_real_board
from edgesdk.errors import BoardError


def test_missing_image_is_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["flash", "--board", "netduinoplus2", str(tmp_path / "nothing.elf")])
    err = capsys.readouterr().err
    assert code == BoardError.exit_code
    assert "nothing.elf does not exist" in err and "Traceback" not in err


def test_real_board_without_any_flash_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pyocd, openocd, st-flash or stm32loader on PATH
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(BoardError, match="no way to flash board nucleo-f446re: none of pyocd, openocd"):
        flash_real_board(get_board("nucleo-f446re"), elf)


@pytest.mark.emulator
@pytest.mark.skipif(not shutil.which("qemu-system-arm"), reason="QEMU is needed")
def test_flash_on_emulated_board_serves_the_image_until_interrupted(ad_model: Path, tmp_path: Path) -> None:
    from edgesdk.commands.export import export
    from edgesdk.frontends.tflite import read_tflite
    from edgesdk.transport import DeviceClient, SerialTransport

    built = export(read_tflite(ad_model), "netduinoplus2", tmp_path / "p", build=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgesdk", "flash", "--board", "netduinoplus2", str(built.elf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "socket://127.0.0.1:" in line, line
        url = line.split()[line.split().index("on") + 1].rstrip(";")
        with SerialTransport(url) as link:
            info = DeviceClient(link).info()
        assert info.model_name == built.c_name and info.board_name == "netduinoplus2"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode == 0
    time.sleep(0.1)
