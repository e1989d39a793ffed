"""A device on a local socket that speaks edgesdk's binary protocol, honestly or with one chosen lie.

The host reaches it as a real board's serial port, ``socket://127.0.0.1:PORT`` through pyserial's
``serial_for_url`` (what ``validate --port`` and ``profile --port`` accept). Honest, it answers every command as
the firmware harness does (``firmware/harness/edgesdk_harness.c``), with outputs computed by the host reference,
so ``validate`` passes bit for bit; each lie changes one thing, so a test sees the client catch exactly that.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgesdk.ir import Graph
from edgesdk.reference import Reference
from edgesdk.transport import protocol as p


@dataclass
class Lie:
    """What the device gets wrong (the defaults: nothing)."""

    info: dict[str, Any] = field(default_factory=dict)  # INFO fields to replace (see ``_info_fields``)
    version: int = p.VERSION  # version byte of every reply
    silent: frozenset[int] = frozenset()  # commands never answered
    run_reply: bytes | None = None  # the payload after the status byte of every RUN reply
    output_bytes: int | None = None  # bytes each READ_OUTPUT reply carries, whatever was asked
    flood: bytes = b""  # sent over and over instead of answering (garbage, stale frames...)
    truncate_info: int = 0  # bytes cut from the end of the INFO record


def _info_fields(graph: Graph) -> dict[str, Any]:
    t_in, t_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    return {
        "version": p.VERSION,
        "unit": 1,
        "flags": 0,
        "clock_hz": 25_000_000,
        "input_size": t_in.size,
        "output_size": t_out.size,
        "input_scale": t_in.quant.s if t_in.quant else 1.0,
        "input_zp": t_in.quant.zp if t_in.quant else 0,
        "output_scale": t_out.quant.s if t_out.quant else 1.0,
        "output_zp": t_out.quant.zp if t_out.quant else 0,
        "arena": 0,
        "num_layers": len(graph.nodes),
        "max_payload": p.MAX_PAYLOAD,
        "max_run": 100,
        "max_input": t_in.size,
        "max_output": t_out.size,
        "strings": [graph.name, graph.sha256, "fake-board", "fake-1.0", "none", ""],
    }


def _info_record(f: dict[str, Any]) -> bytes:
    rec = struct.pack(
        "<BBBBIIIfifiIIHHII",
        f["version"], f["unit"], f["flags"], 0, f["clock_hz"], f["input_size"], f["output_size"],
        f["input_scale"], f["input_zp"], f["output_scale"], f["output_zp"], f["arena"], f["num_layers"],
        f["max_payload"], f["max_run"], f["max_input"], f["max_output"],
    )  # fmt: skip
    for s in f["strings"]:
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        rec += bytes([len(b)]) + b
    return rec


class FakeDevice:
    """Serves one connection at a time on 127.0.0.1; ``url`` is what the host opens."""

    def __init__(self, graph: Graph, lie: Lie | None = None) -> None:
        self.graph = graph
        self.lie = lie or Lie()
        self.reference = Reference(graph)
        self.info = {**_info_fields(graph), **self.lie.info}
        t_in = graph.tensors[graph.inputs[0]]
        self.input = np.zeros(t_in.size, np.int8)
        self.output = b""
        self.commands: list[int] = []
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self._server.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self._server.getsockname()[1]}"

    def start(self) -> FakeDevice:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    # --- serving ------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(0.05)
                try:
                    self._talk(conn)
                except OSError:
                    pass  # the host closed the link

    def _talk(self, conn: socket.socket) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            if self.lie.flood:
                conn.sendall(self.lie.flood)
            try:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            except TimeoutError:
                continue
            while True:
                frame = self._take_frame(buf)
                if frame is None:
                    break
                if not self.lie.flood:
                    self._answer(conn, *frame)

    @staticmethod
    def _take_frame(buf: bytearray) -> tuple[int, int, bytes] | None:
        """The next well-formed request in ``buf`` (consumed), or None until one is complete."""
        while True:
            i = buf.find(p.SYNC)
            if i < 0:
                del buf[: max(len(buf) - 1, 0)]
                return None
            del buf[:i]
            if len(buf) < 2 + 5:
                return None
            _ver, cmd, seq, length = struct.unpack_from("<BBBH", buf, 2)
            if length > p.MAX_PAYLOAD:
                del buf[:2]
                continue
            if len(buf) < 7 + length + 2:
                return None
            body, (crc,) = bytes(buf[2 : 7 + length]), struct.unpack_from("<H", buf, 7 + length)
            del buf[: 7 + length + 2]
            if p.crc16(body) == crc:
                return cmd, seq, body[5:]

    def _reply(self, conn: socket.socket, cmd: int, seq: int, payload: bytes) -> None:
        conn.sendall(p.encode_frame(cmd | p.CMD_REPLY, seq, payload, version=self.lie.version))

    def _answer(self, conn: socket.socket, cmd: int, seq: int, data: bytes) -> None:
        self.commands.append(cmd)
        if cmd in self.lie.silent:
            return
        ok = bytes([p.ST_OK])
        if cmd == p.CMD_INFO:
            rec = _info_record(self.info)
            self._reply(conn, cmd, seq, ok + rec[: len(rec) - self.lie.truncate_info])
        elif cmd == p.CMD_LOAD_INPUT:
            (off,) = struct.unpack_from("<I", data)
            chunk = np.frombuffer(data[4:], np.int8)
            self.input[off : off + len(chunk)] = chunk
            self._reply(conn, cmd, seq, ok)
        elif cmd == p.CMD_RUN:
            (k,) = struct.unpack_from("<H", data)
            t_in = self.graph.tensors[self.graph.inputs[0]]
            x = self.input.reshape(1, *t_in.shape[1:])
            self.output = self.reference.run_batch(x).astype(np.int8).tobytes()
            body = struct.pack("<H", k) + struct.pack(f"<{k}Q", *([1000] * k))
            self._reply(conn, cmd, seq, ok + (body if self.lie.run_reply is None else self.lie.run_reply))
        elif cmd == p.CMD_READ_OUTPUT:
            off, n = struct.unpack_from("<IH", data)
            n = n if self.lie.output_bytes is None else self.lie.output_bytes
            self._reply(conn, cmd, seq, ok + self.output[off : off + n])
        elif cmd == p.CMD_LAYER_COUNTS:
            first, k = struct.unpack_from("<HH", data)
            self._reply(conn, cmd, seq, ok + struct.pack(f"<H{k}Q", k, *range(first + 1, first + k + 1)))
        else:
            self._reply(conn, cmd, seq, bytes([3]))


@contextmanager
def fake_device(graph: Graph, lie: Lie | None = None) -> Iterator[FakeDevice]:
    dev = FakeDevice(graph, lie).start()
    try:
        yield dev
    finally:
        dev.stop()
