#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite: unit tests, bit-exact checks against TFLite and
# TFLM's golden vectors, generated C under ASan/UBSan, cross-builds, and the emulated board over its serial port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m ruff check sdk tests benchmarks
python3 -m ruff format --check -q sdk tests benchmarks
exec python3 -m pytest -q "$@"
