#!/usr/bin/env bash
# The project's one test command: install what is missing, then run pytest (arguments are
# passed through to pytest).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

bash "$here/install.sh"
cd "$here/.."
"$PYTHON" -m pytest -q "$@"
