#!/usr/bin/env bash
# Sets up edgesdk (scripts/setup.sh, into the virtual environment .venv unless one is active) and takes a
# model through the whole flow on the default board, an emulated STM32F405 (QEMU netduinoplus2):
# train -> export with calibration -> cross-build -> emulate -> validate bit-exactly against the host
# reference, with top-1 accuracy on the device -> profile.
#
# With no argument the model comes from the repository alone: a small CNN trained in seconds (fixed seed) on
# scikit-learn's bundled handwritten digits (scripts/digits_model.py). With an int8 .tflite as argument, that
# model is used instead (random inputs, no labels).
#   bash scripts/quickstart.sh [MODEL.tflite]        OUT=out/quickstart by default
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pyenv.sh
bash scripts/setup.sh
OUT="${OUT:-out/quickstart}"
mkdir -p "$OUT"
if [ $# -ge 1 ]; then
  MODEL="$1"
  DATA=()
  INPUTS=()
else
  "$PY" scripts/digits_model.py "$OUT"
  MODEL="$OUT/digits.keras"
  DATA=(--calib "$OUT/digits_calib.npy")
  INPUTS=(--inputs "$OUT/digits_test.npz" --count 100)
fi
edgesdk inspect "$MODEL" "${DATA[@]}"
edgesdk export "$MODEL" "${DATA[@]}" -o "$OUT/project" --build
edgesdk validate "$MODEL" "${DATA[@]}" "${INPUTS[@]}" -o "$OUT/validate"
edgesdk profile "$MODEL" "${DATA[@]}" --runs 3 -o "$OUT/profile"
echo "quickstart: reports in $OUT/project/report.md, $OUT/validate/validate.json and $OUT/profile/report.md" >&2
if [ "$EDGESDK_IN_VENV" = "1" ]; then
  echo "quickstart: edgesdk is installed in $(pwd)/.venv; to use the edgesdk command, run: source .venv/bin/activate" >&2
fi
