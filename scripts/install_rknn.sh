#!/usr/bin/env bash
# Make the RKNN environment that `pt2caffe check --backend rknn` runs in: rknn-toolkit2 2.5.0 (Rockchip's
# PC simulator) in its own virtualenv, never the main Python. Its pins (numpy <= 1.26.4, protobuf <= 4.25.4,
# onnx <= 1.18.0, torch <= 2.4.0) clash with pt2caffe's; torch is only imported by rknn (for load_pytorch,
# unused here), so the project's CPU wheel of torch 2.13.0 stands in for the CUDA-sized torch <= 2.4 of PyPI.
#
#   bash scripts/install_rknn.sh [VENV]      (default: ~/.cache/pt2caffe/rknn-2.5.0)
#
# Prints the venv's python; `pt2caffe check --backend rknn` finds it there (or in $PT2CAFFE_RKNN_PYTHON).
# Measured: about a minute, 1.4 GB.
set -euo pipefail
VENV="${1:-${PT2CAFFE_RKNN_VENV:-$HOME/.cache/pt2caffe/rknn-2.5.0}}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import rknn.api" 2>/dev/null; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "rknn-toolkit2==2.5.0" --no-deps
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "protobuf>=4.21.6,<=4.25.4" "psutil>=5.9" \
      "ruamel.yaml>=0.17.21" "scipy>=1.9.3" "tqdm>=4.64.1" "opencv-python-headless>=4.5.5.64,<5" \
      "fast-histogram>=0.11" "numpy<=1.26.4" "onnx>=1.16.1,<=1.18.0" "onnxruntime>=1.17"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PT2CAFFE_TORCH_SPEC:-torch==2.13.0}" --no-deps
fi
"$VENV/bin/python" -c "import rknn.api" >/dev/null 2>&1
echo "$VENV/bin/python"
