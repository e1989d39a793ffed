#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite: unit tests, bit-exact checks against TFLite and
# TFLM's golden vectors, generated C under ASan/UBSan, cross-builds, and the emulated board over its serial port.
# The current python3 is used when it accepts pip installs (as in CI); Debian's own Python gets .venv
# (see scripts/pyenv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGESDK_VENV="${EDGESDK_VENV:-0}"
source scripts/pyenv.sh
bash scripts/setup.sh
"$PY" -m ruff check sdk tests benchmarks
"$PY" -m ruff format --check -q sdk tests benchmarks
exec "$PY" -m pytest -q "$@"
