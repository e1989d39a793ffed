"""A device that lies: each lie ends ``validate`` (or the client) in exit 7 with one clean sentence, in seconds.

The device is :mod:`fakedevice` on a local socket, reached as ``--port socket://127.0.0.1:PORT`` on the emulated
default board (so nothing is built or started). The honest device passes ``validate`` bit for bit, so each failing
test fails for its one lie. Timeouts are shortened through the documented environment variables; the defaults
are in the README ("Timeouts").
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from edgesdk.commands.cli import main
from edgesdk.commands.device import link_settings
from edgesdk.errors import EdgeSDKError, TransportError, TransportTimeout
from edgesdk.transport import DeviceClient, SerialTransport
from edgesdk.transport import protocol as p
from fakedevice import Lie, fake_device

ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31m\r\nedgesdk validate: all outputs bit-exact\u202e\x9b0m"


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGESDK_DEVICE_TIMEOUT", "0.3")
    monkeypatch.setenv("EDGESDK_DEVICE_RETRIES", "1")
    monkeypatch.setenv("EDGESDK_RUN_TIMEOUT", "0.2")


def _validate(
    ad_model: Path, url: str, out: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = main(["validate", str(ad_model), "--port", url, "-n", "2", "-o", str(out)])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_the_honest_fake_device_validates_bit_exactly(
    ad_graph, ad_model: Path, tmp_path: Path, capsys
) -> None:
    with fake_device(ad_graph) as dev:
        code, out, err = _validate(ad_model, dev.url, tmp_path, capsys)
    assert (code, err) == (0, "")
    assert "2/2 outputs bit-exact" in out
    assert p.CMD_RUN in dev.commands and p.CMD_READ_OUTPUT in dev.commands


def _fake_hash() -> str:
    return "ab" * 32


LIES = {
    "max_run=0": (Lie(info={"max_run": 0}), "reports max_run = 0, outside 1..127"),
    "max_payload=4": (
        Lie(info={"max_payload": 4}),
        "reports max_payload = 4, outside the protocol's 16..1024",
    ),
    "empty_hash": (
        Lie(info={"strings": ["ad01_int8", "", "b", "f", "none", ""]}),
        "reports a model hash = nothing, not the 64 hex digits of a SHA-256",
    ),
    "short_hash": (
        Lie(info={"strings": ["ad01_int8", "abc", "b", "f", "none", ""]}),
        "reports a model hash = 'abc', not the 64 hex digits",
    ),
    "wrong_output_size": (
        Lie(info={"output_size": 10}),
        "reports 640 input and 10 output bytes for model ad01_int8, which has 640 and 640",
    ),
    "short_output": (Lie(output_bytes=3), "READ_OUTPUT returned 3 bytes, asked 640"),
    "empty_run_reply": (Lie(run_reply=b""), "RUN answered 0 bytes for 1 inferences (expected 10 bytes)"),
    "wrong_run_count": (
        Lie(run_reply=struct.pack("<HQQ", 2, 1, 2)),
        "RUN answered 18 bytes and 2 counts for 1 inferences",
    ),
    "zero_clock": (Lie(info={"clock_hz": 0}), "reports clock_hz = 0"),
    "other_version": (Lie(version=2), "answered INFO in protocol version 2; the host speaks version 1"),
    "truncated_info": (Lie(truncate_info=3), "its INFO record is truncated in string 5 of 6"),
    "escapes_in_problem": (
        Lie(info={"strings": [ESCAPES, _fake_hash(), ESCAPES, ESCAPES, "none", ESCAPES]}),
        "cannot run model ad01_int8: ?]0;owned??[2J?[31m??edgesdk validate: all outputs bit-exact??0m",
    ),
    "buffer_too_small": (  # the device's own problem is the sentence, not the sizes it implies
        Lie(
            info={"max_input": 64, "strings": ["ad01_int8", _fake_hash(), "b", "f", "none", "input too big"]}
        ),
        "board netduinoplus2 cannot run model ad01_int8: input too big",
    ),
    "silent": (Lie(silent=frozenset({p.CMD_INFO})), "no answer to INFO after 2 attempts of 0.30 s"),
    "slow_run": (Lie(silent=frozenset({p.CMD_RUN})), "no answer to RUN after 2 attempts of 0.50 s"),
    "garbage_flood": (Lie(flood=b"\xa5" * 512), "no answer to INFO after 2 attempts of 0.30 s"),
    "stale_flood": (
        Lie(flood=p.encode_frame(p.CMD_INFO | p.CMD_REPLY, 200, b"\x00")),
        "no answer to INFO after 2 attempts of 0.30 s",
    ),
}


@pytest.mark.parametrize("mode", list(LIES))
def test_each_lie_is_exit_7_and_one_clean_sentence(
    mode: str, ad_graph, ad_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lie, words = LIES[mode]
    with fake_device(ad_graph, lie) as dev:
        code, _out, err = _validate(ad_model, dev.url, tmp_path, capsys)
    assert code == TransportError.exit_code == 7, err
    assert err.startswith("edgesdk validate: error: ") and words in err, err
    assert err.count("\n") == 1 and err.endswith("\n")  # one line
    assert not any(c in err for c in "\x1b\x07\r\x9b\u202e") and "Traceback" not in err


def test_a_flooding_device_cannot_hold_the_client(ad_graph) -> None:
    """Bytes that never form a frame arrive faster than they are read: each attempt still ends at its deadline."""
    with fake_device(ad_graph, Lie(flood=bytes(range(256)) * 8)) as dev:
        with SerialTransport(dev.url) as link:
            client = DeviceClient(link, timeout=0.2, retries=2)
            with pytest.raises(TransportTimeout, match="no answer to INFO after 3 attempts of 0.20 s"):
                client.info()
    assert client.stats.timeouts == 3


def test_device_strings_are_cleaned_when_decoded(ad_graph) -> None:
    """Every string of the INFO record (model, board, firmware, problem) and each layer name is printable text."""
    with fake_device(
        ad_graph, Lie(info={"strings": [ESCAPES, _fake_hash(), ESCAPES, "f\n", "none", ""]})
    ) as dev:
        with SerialTransport(dev.url) as link:
            info = DeviceClient(link, timeout=1.0).info()
    for s in (info.model_name, info.board_name, info.firmware_version):
        assert s.isprintable(), repr(s)
    assert info.problem is None


def test_timeouts_come_from_the_environment_and_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGESDK_DEVICE_TIMEOUT")
    monkeypatch.delenv("EDGESDK_DEVICE_RETRIES")
    monkeypatch.delenv("EDGESDK_RUN_TIMEOUT")
    assert link_settings() == {"timeout": 5.0, "retries": 4, "run_timeout": 10.0}  # the README's defaults
    assert (p.COMMAND_TIMEOUT_S, p.RETRIES, p.RUN_TIMEOUT_PER_INFERENCE_S) == (5.0, 4, 10.0)
    monkeypatch.setenv("EDGESDK_DEVICE_TIMEOUT", "-1")
    with pytest.raises(EdgeSDKError, match=r"^EDGESDK_DEVICE_TIMEOUT='-1' is not a float in 0.05..3600$"):
        link_settings()
    monkeypatch.setenv("EDGESDK_DEVICE_TIMEOUT", "2")
    monkeypatch.setenv("EDGESDK_DEVICE_RETRIES", "x")
    with pytest.raises(EdgeSDKError, match="EDGESDK_DEVICE_RETRIES='x' is not a int"):
        link_settings()


def test_profile_believes_no_layer_count_it_cannot_place(
    ad_graph, ad_model: Path, tmp_path: Path, capsys
) -> None:
    """Per-layer counts: the honest device's are placed on the model's layers; a device that reports another
    number of layers than the model runs is one sentence."""
    n = len(ad_graph.nodes)
    with fake_device(ad_graph, Lie(info={"flags": 1})) as dev:
        assert (
            main(["profile", str(ad_model), "--port", dev.url, "--runs", "2", "-o", str(tmp_path / "a")]) == 0
        )
    assert "median 1,000 instructions" in capsys.readouterr().out
    with fake_device(ad_graph, Lie(info={"flags": 1, "num_layers": n - 1})) as dev:
        assert (
            main(["profile", str(ad_model), "--port", dev.url, "--runs", "1", "-o", str(tmp_path / "b")]) == 7
        )
    err = capsys.readouterr().err
    assert err == (
        f"edgesdk profile: error: board netduinoplus2 reports {n - 1} layer counts for model ad01_int8, "
        f"which runs {n} layers\n"
    )
