"""Every core edgesdk emulates: Cortex-M0 (microbit), M3 (mps2-an385), M33 (mps2-an505), M55 (mps3-an547) and
RV32IMC (QEMU virt). Each exports, builds with its own toolchain, runs on its QEMU machine over the serial port
and is bit-exact with the reference; the RISC-V instret counter gives the same count every run; the Cortex-M0
refuses a model larger than its 16 KB of RAM with one sentence."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgesdk.boards import CORE_KERNEL_TARGETS, get_board
from edgesdk.commands.device import profile, validate
from edgesdk.commands.export import export
from edgesdk.errors import BoardError


def _tools(board_name: str) -> bool:
    board = get_board(board_name)
    assert board.emulator is not None
    return bool(shutil.which(board.emulator.qemu) and shutil.which(board.build.cc))


AD_BOARDS = ["mps2-an385", "mps2-an505", "mps3-an547", "qemu-riscv32"]


def test_cores_choose_their_kernels_by_instruction_set() -> None:
    """DSP kernels where the core has the DSP extension (M33), Helium over them on the M55, the scalar ones where it
    has no SIMD."""
    expect = {"microbit": "scalar", "mps2-an385": "scalar", "qemu-riscv32": "scalar"}
    expect |= {"mps2-an505": "cortex-m-dsp", "mps3-an547": "helium"}
    for name, target in expect.items():
        board = get_board(name)
        assert board.kernel_target == target == CORE_KERNEL_TARGETS.get(board.core)
    assert get_board("qemu-riscv32").tool("objcopy") == "riscv64-unknown-elf-objcopy"
    assert not get_board("qemu-riscv32").is_arm and get_board("microbit").is_arm


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", AD_BOARDS)
def test_ad_model_bit_exact_on_each_core(board_name: str, ad_graph, tmp_path: Path) -> None:
    if not _tools(board_name):
        pytest.skip(f"QEMU or the compiler for {board_name} is not installed")
    s = validate(ad_graph, board_name, count=2, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (2, 2)


@pytest.mark.emulator
def test_helium_fc_tails_on_the_emulated_cortex_m55(tmp_path: Path) -> None:
    """The DSP FULLY_CONNECTED kernel's Helium steps (16 inputs, gathers, VMLADAVA) on the M55 with the inputs
    the vector steps leave over: 33 -> 64 (one tail input), 31 -> 17 (12 in 4-input steps, 3 tail inputs, one
    row after the 4-row blocks); int16-weight layers between them, and the Helium ADD (17 elements: four
    vectors and one predicated lane)."""
    if not _tools("mps3-an547"):
        pytest.skip("QEMU or arm-none-eabi-gcc is not installed")
    from test_dsp_kernels import fc_add_chain

    s = validate(fc_add_chain("fc_add_chain"), "mps3-an547", count=6, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (6, 6)


@pytest.mark.emulator
def test_helium_convolutions_on_the_emulated_cortex_m55(tmp_path: Path) -> None:
    """The Helium convolution and depthwise kernels with the real MVE instructions on the M55: 3, 17, 16, 33, 4
    and 64 channels (four-pixel groups and tail-predicated columns), 1x1, stride 2, dilation, SAME/VALID, and
    depthwise on 17 channels (a 16-channel block and one predicated channel), 16 and a depth multiplier of 2."""
    if not _tools("mps3-an547"):
        pytest.skip("QEMU or arm-none-eabi-gcc is not installed")
    from test_dsp_kernels import conv_chain

    s = validate(conv_chain("conv_chain"), "mps3-an547", count=4, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (4, 4)


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", ["mps2-an385", "qemu-riscv32", "microbit"])
def test_scalar_convolutions_on_the_emulated_cores_without_simd(board_name: str, tmp_path: Path) -> None:
    """The scalar conv and depthwise kernels compiled for the core (Thumb-2 on the M3, Thumb-1 on the M0, RV32IMC)
    on its QEMU machine: 3 to 64 channels (blocks of 4 or 8 and the channels left over), odd rows (pixel pairs and
    triples with a short last group), 1x1 layers as one run, stride 2, dilation, SAME/VALID, depthwise from the row
    buffer with dilation 2, stride 2 and a depth multiplier of 2."""
    if not _tools(board_name):
        pytest.skip(f"QEMU or the compiler for {board_name} is not installed")
    from test_dsp_kernels import conv_chain

    s = validate(conv_chain("conv_chain"), board_name, count=3, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (3, 3)


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", ["mps2-an385", "qemu-riscv32", "microbit"])
def test_scalar_fc_on_the_emulated_cores_without_simd(board_name: str, tmp_path: Path) -> None:
    """The scalar FC compiled for the core (passes of 8 rows on the M3, 4 on the M0, 16 on RV32): 37 -> 33 -> 29
    -> 12 -> 7 -> 3 through every block of its weight layout, with ReLUs whose zero-point outputs the next layer
    skips, on random inputs and on inputs half at the zero point."""
    if not _tools(board_name):
        pytest.skip(f"QEMU or the compiler for {board_name} is not installed")
    from test_scalar_kernels import fc_relu_chain, zero_point_inputs

    graph = fc_relu_chain("fc_relu_chain")
    x = np.random.default_rng(5).integers(-128, 128, (4, 37), dtype=np.int8)
    x = np.concatenate([x[:2], zero_point_inputs(graph, x[2:], 5)])
    s = validate(graph, board_name, inputs=x, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (4, 4)


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", ["qemu-riscv32", "mps2-an385"])
def test_scalar_conv_cost_model_matches_the_emulated_count(board_name: str, tmp_path: Path) -> None:
    """The scalar kernels' cost model (``SCALAR_COST``, what the compressed-kernel passes compare with on these
    cores) against the count of a 3x3 and a 1x1 convolution on the emulated core: within 15 %."""
    if not _tools(board_name):
        pytest.skip(f"QEMU or the compiler for {board_name} is not installed")
    from edgesdk.passes import PassContext
    from edgesdk.passes._select import dense_conv_candidate, weight
    from test_c_kernels import conv

    ctx = PassContext(core=get_board(board_name).core)
    assert ctx.scalar and not PassContext(core="cortex-m4").scalar
    assert ctx.scalar_packed == (board_name == "mps2-an385")  # Thumb-2's SMLAL; RV32IMC has no 64-bit MAC
    for case, build in {
        "conv_16x16_c16_c32_k3": conv(16, 16, 16, 32, 3, 1, "SAME"),
        "conv_16x16_c32_c32_k1": conv(16, 16, 32, 32, 1, 1, "VALID"),
    }.items():
        graph = build(case)
        rep = profile(graph, board_name, runs=1, out_dir=tmp_path / case)
        (node,) = graph.nodes
        est = dense_conv_candidate(graph, node, weight(graph, node), scalar=True, packed=ctx.scalar_packed)[
            "instructions"
        ]
        measured = rep["layers"][0]["count"]
        assert 0.85 <= est / measured <= 1.15, (case, est, measured)


@pytest.mark.emulator
@pytest.mark.parametrize("board_name", ["qemu-riscv32", "mps2-an385"])
def test_scalar_fc_cost_model_matches_the_emulated_count(board_name: str, tmp_path: Path) -> None:
    """The scalar FC's cost model (``SCALAR_COST``: one figure for RV32's three instructions per MAC and the M3's
    two) against the count of a 256 -> 96 layer on the emulated core: within 20 %."""
    if not _tools(board_name):
        pytest.skip(f"QEMU or the compiler for {board_name} is not installed")
    from edgesdk.passes._select import dense_fc_candidate, weight
    from test_c_kernels import fc

    graph = fc(256, 96)("fc_256_96")
    rep = profile(graph, board_name, runs=1, out_dir=tmp_path / "p")
    (node,) = graph.nodes
    est = dense_fc_candidate(weight(graph, node), 1, scalar=True)["instructions"]
    measured = rep["layers"][0]["count"]
    assert 0.8 <= est / measured <= 1.2, (est, measured)


@pytest.mark.emulator
def test_riscv_instret_counts_are_exact_and_per_layer(ad_graph, tmp_path: Path) -> None:
    if not _tools("qemu-riscv32"):
        pytest.skip("qemu-system-riscv32 or riscv64-unknown-elf-gcc is not installed")
    rep = profile(ad_graph, "qemu-riscv32", runs=2, out_dir=tmp_path / "p")
    lat = rep["latency"]
    assert rep["unit"] == "instructions (emulated)" and lat["deterministic"]
    assert lat["min"] == lat["max"] > 100_000  # instret counts retired instructions: no jitter at all
    layers = [layer["count"] for layer in rep["layers"]]
    assert all(c > 0 for c in layers) and sum(layers) <= lat["min"]


@pytest.mark.emulator
def test_cortex_m33_counts_equal_the_m4s_instruction_for_instruction(ad_graph, tmp_path: Path) -> None:
    """The M33 runs the M4's DSP kernels: with SysTick read finer than one instruction (the board's -icount shift)
    and the same memcpy/memset on both cores, every layer's count and the whole inference's are equal, and they
    are exact counts, not multiples of a SysTick period (40 instructions on the AN386, 50 on the AN505)."""
    if not (_tools("mps2-an505") and _tools("mps2-an386")):
        pytest.skip("QEMU or arm-none-eabi-gcc is not installed")
    reps = {b: profile(ad_graph, b, runs=2, out_dir=tmp_path / b) for b in ("mps2-an386", "mps2-an505")}
    counts = {b: [layer["count"] for layer in r["layers"]] for b, r in reps.items()}
    assert counts["mps2-an386"] == counts["mps2-an505"]
    assert reps["mps2-an386"]["latency"]["min"] == reps["mps2-an505"]["latency"]["min"]
    assert all(r["latency"]["deterministic"] for r in reps.values())
    assert any(c % 40 for c in counts["mps2-an386"]) and any(c % 50 for c in counts["mps2-an505"])


@pytest.mark.emulator
def test_cortex_m0_runs_a_small_model_and_refuses_a_large_one(digits_mlp, ad_graph, tmp_path: Path) -> None:
    if not _tools("microbit"):
        pytest.skip("QEMU or arm-none-eabi-gcc is not installed")
    from edgesdk.compiler.model import load_model

    path, (x, _y), _val = digits_mlp
    graph = load_model(path, calib=np.asarray(x[:64], dtype=np.float32))
    s = validate(graph, "microbit", count=3, out_dir=tmp_path / "v")
    assert (s.count, s.exact) == (3, 3)
    with pytest.raises(
        BoardError, match=r"^model ad01_int8 does not fit board microbit: it needs [\d,]+ bytes of"
    ):
        export(ad_graph, "microbit", tmp_path / "big")
    assert not (tmp_path / "big").exists()


REAL_BOARDS = ["rpi-pico", "nrf52840dk", "b-u585i-iot02a", "nucleo-h7a3zi", "esp32-c3-devkitm-1"]


@pytest.mark.parametrize("board_name", REAL_BOARDS)
def test_real_board_exports_and_cross_builds(board_name: str, digits_mlp, tmp_path: Path) -> None:
    """No hardware here: the project exports, cross-builds with the board's toolchain and fits the board."""
    board = get_board(board_name)
    if not shutil.which(board.build.cc):
        pytest.skip(f"{board.build.cc} is not installed")
    from edgesdk.compiler.model import load_model

    path, (x, _y), _val = digits_mlp
    graph = load_model(path, calib=np.asarray(x[:64], dtype=np.float32))
    res = export(graph, board, tmp_path / "p", build=True)
    assert res.elf is not None and res.elf.with_suffix(".bin").is_file()
    assert res.size is not None and res.size.flash <= board.memory.flash_bytes
    assert res.size.ram <= board.memory.ram_bytes
    if board.memory.load_in_place:  # the weights are measured in RAM (constants loaded there by the boot ROM)
        assert res.size.ram >= res.estimate.detail["weights"] + board.stack_bytes
    assert not board.emulated and board.flash.methods


def test_uf2_blocks_carry_address_family_and_payload(tmp_path: Path) -> None:
    import struct

    from edgesdk.runtime.uf2 import to_uf2, write_uf2

    image = bytes(range(256)) * 2 + b"\x01\x02\x03"  # 515 bytes: three blocks, the last one short
    data = to_uf2(image, 0x20000000, 0xE48BFF56)
    assert len(data) == 3 * 512
    for n in range(3):
        block = data[n * 512 : (n + 1) * 512]
        m0, m1, flags, addr, size, seq, total, family = struct.unpack("<8I", block[:32])
        assert (m0, m1, block[-4:]) == (0x0A324655, 0x9E5D5157, struct.pack("<I", 0x0AB16F30))
        assert (flags, addr, size, seq, total, family) == (
            0x2000,
            0x20000000 + 256 * n,
            256,
            n,
            3,
            0xE48BFF56,
        )
        assert block[32 : 32 + 256] == image[256 * n : 256 * (n + 1)].ljust(256, b"\x00")
    binary = tmp_path / "firmware.bin"
    binary.write_bytes(image)
    assert write_uf2(binary, 0x20000000, 0xE48BFF56, tmp_path / "firmware.uf2").read_bytes() == data
    with pytest.raises(ValueError, match="empty image"):
        to_uf2(b"", 0, 0)


def test_a_uf2_board_needs_its_family_and_drive(tmp_path: Path) -> None:
    text = get_board("rpi-pico").path.read_text(encoding="utf-8").replace("uf2_family = 0xE48BFF56\n", "")
    bad = tmp_path / "pico.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(BoardError, match=r"flash.methods = \['uf2'\] has 'uf2' but no uf2_family"):
        from edgesdk.boards import parse_board

        parse_board(bad)


def test_an_esptool_board_needs_its_chip_and_a_flash_sector_offset(tmp_path: Path) -> None:
    from edgesdk.boards import parse_board

    text = get_board("esp32c3").path.read_text(encoding="utf-8")
    bad = tmp_path / "esp.toml"
    bad.write_text(text.replace('esptool_chip = "esp32c3"\n', ""), encoding="utf-8")
    with pytest.raises(BoardError, match=r"flash.methods = \['esptool'\] has 'esptool' but no esptool_chip"):
        parse_board(bad)
    bad.write_text(text.replace("image_offset = 0\n", "image_offset = 0x100\n"), encoding="utf-8")
    with pytest.raises(BoardError, match=r"flash.image_offset = 256 is not a multiple of 4096"):
        parse_board(bad)
    bad.write_text(
        text.replace('esptool_chip = "esp32c3"', 'esptool_chip = "esp32c3;reboot"'), encoding="utf-8"
    )
    with pytest.raises(
        BoardError, match=r"flash.esptool_chip = 'esp32c3;reboot' is not an esptool chip name"
    ):
        parse_board(bad)
    board = get_board("esp32-c3-devkitm-1")
    assert board.memory.load_in_place and board.timer_unit == "cycles" and not board.is_arm


def test_esp32c3_counts_constants_in_ram(ad_graph, tmp_path: Path) -> None:
    """On a board whose boot ROM loads the constants into RAM, the weights count against RAM, not flash: the AD
    model's 270,880 bytes of weights fit the ESP32-C3's 128 KiB of IRAM by the usual count but not its DRAM."""
    with pytest.raises(
        BoardError,
        match=r"does not fit board esp32-c3-devkitm-1: it needs [\d,]+ bytes of RAM "
        r"\(arena [\d,]+ \+ stack 8,192 \+ harness [\d,]+ \+ weights 27\d,\d{3}\)",
    ):
        export(ad_graph, "esp32c3", tmp_path / "ad")
    assert not (tmp_path / "ad").exists()


def test_winograd_is_left_out_where_it_measured_slower(ic_graph, tmp_path: Path) -> None:
    """Winograd's cost model is the Cortex-M4's: on RV32IMC and the Cortex-M0 the direct kernel measured faster
    (CORE_SLOWER_KERNELS), on the M3 Winograd still pays where the packed direct kernel cannot take the window (IC's
    64-channel layers: 576 taps); a layer forced to Winograd still gets it."""
    from edgesdk.passes import PassContext

    def winograd_layers(board: str, out: str, ctx: PassContext | None = None) -> int:
        res = export(ic_graph, board, tmp_path / out, pass_ctx=ctx)
        return sum(n.attrs.get("kernel") == "winograd" for n in res.graph.nodes)

    assert winograd_layers("qemu-riscv32", "rv") == 0
    assert winograd_layers("mps2-an385", "m3") == 1  # conv2d_7, 64 -> 64 channels
    forced = PassContext(force={"conv2d_1": "winograd"})
    assert winograd_layers("qemu-riscv32", "rv-forced", forced) >= 1


@pytest.mark.skipif(not shutil.which("esptool"), reason="esptool is not installed (pip install esptool)")
def test_esp32c3_image_and_write_command(digits_mlp, tmp_path: Path) -> None:
    """The ESP32-C3 flash path without a board: esptool's elf2image makes an image that esptool's image_info reads
    back with the ELF's entry point and one segment per loaded section (code in IRAM, constants and data in DRAM);
    the write command names the chip, port and offset, and esptool itself runs it up to the missing port."""
    import subprocess

    from edgesdk.commands.device import _flash_commands, esp_image, flash_real_board
    from edgesdk.compiler.model import load_model

    board = get_board("esp32c3")
    if not shutil.which(board.build.cc):
        pytest.skip(f"{board.build.cc} is not installed")
    path, (x, _y), _val = digits_mlp
    graph = load_model(path, calib=np.asarray(x[:64], dtype=np.float32))
    elf = export(graph, board, tmp_path / "p", build=True).elf
    assert elf is not None
    image = esp_image(board, elf)
    assert image.read_bytes()[0] == 0xE9  # the ESP image magic
    info = subprocess.run(
        ["esptool", "--chip", "esp32c3", "image-info", str(image)],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    entry = int.from_bytes(elf.read_bytes()[24:28], "little")
    assert f"Entry point: 0x{entry:08x}" in info
    assert "Checksum: " in info and "(valid)" in info
    segments = [ln for ln in info.splitlines() if "IRAM" in ln or "DRAM" in ln]
    assert any("IRAM" in ln for ln in segments) and any("DRAM" in ln for ln in segments)

    port = str(tmp_path / "no-such-port")
    (method, cmd), *_ = _flash_commands(board, elf, port)
    assert method == "esptool" and cmd == [
        "esptool", "--chip", "esp32c3", "--port", port, "--baud", "460800", "write-flash", "0x0", str(image),
    ]  # fmt: skip
    with pytest.raises(
        BoardError, match=r"^flashing board esp32-c3-devkitm-1 with esptool failed: .*no-such-port"
    ):
        flash_real_board(board, elf, port)
