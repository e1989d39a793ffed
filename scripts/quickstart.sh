#!/usr/bin/env bash
# Sets up edgesdk (scripts/setup.sh) and takes the MLPerf Tiny image-classification model (ResNet-8, int8)
# through the whole flow on the default board, an emulated STM32F405 (QEMU netduinoplus2):
# export -> cross-build -> emulate -> validate bit-exactly against the host reference -> profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MODEL="${1:-../shared/models/mlperf_tiny/pretrainedResnet_quant.tflite}"
OUT="${OUT:-out/quickstart}"
mkdir -p "$OUT"
edgesdk inspect "$MODEL"
edgesdk export "$MODEL" -o "$OUT/project" --build
edgesdk validate "$MODEL" --count 10 -o "$OUT/validate"
edgesdk profile "$MODEL" --runs 3 -o "$OUT/profile"
echo "quickstart: reports in $OUT/project/report.md, $OUT/validate and $OUT/profile/report.md" >&2
