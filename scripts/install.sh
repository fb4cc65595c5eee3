#!/usr/bin/env bash
# Install everything pt2caffe and its tests need: Debian packages, PyTorch (CPU), the reference
# Caffe (cached), and the package itself in editable mode with its test extras.
#
#   bash scripts/install.sh                   # all of it (what scripts/test.sh and CI run)
#   bash scripts/install.sh --prerequisites   # all but the package: needs only scripts/ (the
#                                             # Dockerfile runs it before copying the sources in,
#                                             # so that editing them does not rebuild Caffe)
#
# PT2CAFFE_TORCH_SPEC: pip arguments for PyTorch, default "torch==2.13.0"; the Dockerfile adds
# the CPU wheel index there (on a normal machine plain PyPI would bring the CUDA build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

case "${1:-}" in
  "" | --prerequisites) ;;
  *) log "usage: install.sh [--prerequisites]"; exit 2 ;;
esac

ensure_debian_packages "${PROJECT_DEPS[@]}"  # build_caffe.sh installs what Caffe needs
# Word splitting is wanted: the spec may hold several pip arguments.
# shellcheck disable=SC2086
"$PYTHON" -m pip install -q ${PT2CAFFE_TORCH_SPEC:-torch==2.13.0}
bash "$here/build_caffe.sh"
if [ "${1:-}" != --prerequisites ]; then
  "$PYTHON" -m pip install -q -e "$here/..[test]"
fi
