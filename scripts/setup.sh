#!/usr/bin/env bash
# Installs everything edgesdk needs on a fresh Debian 12 machine: the Arm and RISC-V cross-compilers, newlib,
# picolibc, QEMU (Arm and RISC-V), the open-source FPGA tools (Icarus Verilog, Verilator, yosys, nextpnr-ice40,
# icestorm; nextpnr-ecp5 from PyPI), and edgesdk
# itself (with its test, hls4ml, bench, onnx and torch extras) into the Python scripts/pyenv.sh chooses (a virtual
# environment .venv in the checkout unless one is
# active, CI provides the interpreter, or EDGESDK_VENV=0 and the current Python accepts pip installs).
# Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pyenv.sh
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/newlib/thumb/v7e-m+fp/hard/libc_nano.a ] || need+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
command -v qemu-system-riscv32 >/dev/null || need+=(qemu-system-misc)  # the RV32 virt board
command -v riscv64-unknown-elf-gcc >/dev/null || need+=(gcc-riscv64-unknown-elf)
[ -e /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || need+=(picolibc-riscv64-unknown-elf)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)  # hls4ml's C-simulation
command -v iverilog >/dev/null || need+=(iverilog)  # XNOR unit RTL simulation
command -v yosys >/dev/null || need+=(yosys)  # XNOR unit synthesis for iCE40
command -v nextpnr-ice40 >/dev/null || need+=(nextpnr-ice40)
command -v icepack >/dev/null || need+=(fpga-icestorm)  # the iCE40 bitstream of a whole-network design
command -v verilator >/dev/null || need+=(verilator)  # whole-network RTL simulation (~40x Icarus)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# onnx/torch extras: the ONNX and PyTorch frontends and their tests (torch is large: ~1 min, ~5 GB with its CUDA
# libraries from PyPI).
# fpga extra: nextpnr-ecp5 and ecppack for the ECP5 boards (Debian 12 has no nextpnr-ecp5), yosys as a fallback.
"$PY" -m pip install -q --disable-pip-version-check -e ".[test,hls,bench,onnx,torch,fpga,esp]"
# QKeras for Keras 3 (tests of models trained with its ternary/binary layers). Without --no-deps it would pull in
# full tensorflow, tf-keras and tfmot beside tensorflow-cpu; what it imports is in the test extra (networkx).
"$PY" -m pip install -q --disable-pip-version-check --no-deps "qkeras-v3==1.2.1"
echo "setup: edgesdk $("$PY" -c 'import edgesdk; print(edgesdk.__version__)') ready in $("$PY" -c 'import sys; print(sys.prefix)')" >&2
