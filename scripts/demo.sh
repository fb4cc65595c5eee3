#!/usr/bin/env bash
# The main job on the bundled example: install (first run only), make deterministic ResNet-18
# weights, export them to Caffe with `pt2caffe run`, then prove the export equal, blob by blob,
# in the reference Caffe with `pt2caffe check`. Files go to out/resnet18/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
cd "$here/.."

bash scripts/install.sh
weights=examples/resnet18/resnet18.pth
[ -f "$weights" ] || "$PYTHON" examples/resnet18/make_weights.py "$weights"
"$PYTHON" -m pt2caffe run examples/resnet18/model.py "$weights" -o out/resnet18
"$PYTHON" -m pt2caffe check out/resnet18/ResNet18.json
