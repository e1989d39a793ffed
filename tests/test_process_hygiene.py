"""Process hygiene of the CLI (issue 7, item 4): SIGTERM and SIGHUP end ``validate``/``export`` the way Ctrl-C
does, QEMU dies with its parent (even a SIGKILLed one), and an interrupted export leaves no hidden folder.
Every check runs the real ``edgesdk`` command as a subprocess and looks at real PIDs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgesdk.profiling.report import read_results

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(
        not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
        reason="QEMU and arm-none-eabi-gcc are needed (scripts/setup.sh installs them)",
    ),
]


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "sdk"))
    return subprocess.Popen(
        [sys.executable, "-m", "edgesdk.commands.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _children(pid: int, name: str) -> list[int]:
    """PIDs of the live children of ``pid`` whose command name starts with ``name``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and comm.startswith(name) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signal_to_validate_leaves_no_qemu_and_keeps_results(ad_model: Path, tmp_path: Path, sig) -> None:
    out = tmp_path / "v"
    proc = _cli("validate", str(ad_model), "-n", "500", "-o", str(out), cwd=tmp_path)
    try:
        _wait_for(lambda: _lines(out / "results.jsonl") >= 3, 120, "the first results")
        qemu = _children(proc.pid, "qemu-system")
        assert len(qemu) == 1
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
        assert "stopped by SIGTERM" in proc.stderr.read()
    _wait_for(lambda: not _alive(qemu[0]), 10, f"QEMU (pid {qemu[0]}) to end")
    records = read_results(out / "results.jsonl")
    assert len(records) >= 3
    assert [r["input"] for r in records] == list(range(len(records)))
    assert all(r["exact"] for r in records)


def test_sigterm_during_export_leaves_no_hidden_folder(ic_model: Path, tmp_path: Path) -> None:
    proc = _cli("export", str(ic_model), "-o", str(tmp_path / "proj"), "--build", cwd=tmp_path)
    try:
        _wait_for(lambda: any(tmp_path.glob(".proj.*/model/*.c")), 120, "the export to start writing")
        _wait_for(lambda: _children(proc.pid, "make") or proc.poll() is not None, 60, "the build")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sighup_to_flash_stops_its_emulator(tmp_path: Path, ad_model: Path) -> None:
    from edgesdk.commands.export import export
    from edgesdk.frontends.tflite import read_tflite

    built = export(read_tflite(ad_model), None, tmp_path / "p", build=True)
    proc = _cli("flash", str(built.elf), cwd=tmp_path)
    try:
        assert proc.stdout is not None
        assert "socket://127.0.0.1:" in proc.stdout.readline()
        qemu = _children(proc.pid, "qemu-system")
        assert len(qemu) == 1
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _wait_for(lambda: not _alive(qemu[0]), 10, f"QEMU (pid {qemu[0]}) to end")


def test_second_validate_on_the_same_output_folder_is_refused(ad_model: Path, tmp_path: Path) -> None:
    """Issue 7, item 5: two concurrent runs with one -o; the second gets one sentence, the first's results
    stay whole (one line per input, in order)."""
    out = tmp_path / "v"
    first = _cli("validate", str(ad_model), "-n", "12", "-o", str(out), cwd=tmp_path)
    try:
        _wait_for(
            lambda: (out / ".edgesdk.lock").is_file() and _lines(out / ".edgesdk.lock") == 1, 60, "lock"
        )
        second = _cli("validate", str(ad_model), "-n", "12", "-o", str(out), cwd=tmp_path)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert err.strip().splitlines() == [
            f"edgesdk validate: error: output folder {out} is in use by another edgesdk run "
            f"(edgesdk validate, pid {first.pid}); wait for it to finish or choose another -o"
        ]
        first.wait(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, first.stderr.read()
    records = read_results(out / "results.jsonl")
    assert [r["input"] for r in records] == list(range(12)) and all(r["exact"] for r in records)
