"""The harness built for the ``host`` target, run as a child process and spoken to over its stdin/stdout.

It is the same harness and protocol code as on a board, so the protocols, the host client and the fault
handling are tested (and the parser fuzzed) without hardware or an emulator.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgesdk.errors import TransportError
from edgesdk.transport.base import Transport
from edgesdk.util.procutil import child_popen_kwargs

log = logging.getLogger(__name__)


class ProcessTransport(Transport):
    """Runs ``argv`` and links to its stdin/stdout. Closing ends stdin (the harness exits) and reaps it."""

    def __init__(self, argv: Sequence[str | os.PathLike[str]], cwd: Path | None = None) -> None:
        self.argv = [str(a) for a in argv]
        super().__init__(f"harness process {Path(self.argv[0]).name}")
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None

    def _open(self) -> None:
        self._stderr = tempfile.NamedTemporaryFile(prefix="edgesdk-harness-", suffix=".stderr")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=self.cwd,
                **child_popen_kwargs(),
            )
        except OSError as exc:
            self._stderr.close()
            raise TransportError(f"cannot start the harness process {self.argv[0]}: {exc}") from exc
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stderr_text(self) -> str:
        """What the process wrote on stderr so far (sanitizer reports land here)."""
        if self._stderr is None:
            return ""
        with open(self._stderr.name, "rb") as fh:
            return fh.read().decode(errors="replace")

    def _gone(self, doing: str) -> TransportError:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        tail = self.stderr_text().strip().splitlines()[-3:]
        detail = f" (stderr: {' / '.join(tail)})" if tail else ""
        return TransportError(
            f"the {self.name} (pid {self.proc.pid}) exited with code {code} while {doing}{detail}"
        )

    def _close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
        if proc.stdout:
            proc.stdout.close()
        if self._selector:
            self._selector.close()
        if self._stderr:
            self._stderr.close()

    def _read_some(self, max_bytes: int, timeout: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None and self._selector is not None
        if not self._selector.select(max(timeout, 0.0)):
            return b""
        try:
            data = os.read(self.proc.stdout.fileno(), max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise TransportError(f"reading from the {self.name} failed: {exc}") from exc
        if not data:
            raise self._gone("reading")
        return data

    def _write(self, data: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise self._gone("writing") from exc
