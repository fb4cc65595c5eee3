# Shared helpers for scripts/*.sh. Source it; it defines functions and variables only.
# shellcheck shell=bash

# The Python interpreter the project is installed into (override with PYTHON=...).
PYTHON="${PYTHON:-python3}"
# Installing as root into the image's or machine's Python is what these scripts are for.
export PIP_ROOT_USER_ACTION=ignore
# PT2CAFFE_CA_BUNDLE: a CA bundle (PEM file) for pip, curl and apt to trust, for networks whose
# HTTPS goes through a TLS-intercepting proxy (scripts/docker_build.sh passes the host's to the image).
if [ -n "${PT2CAFFE_CA_BUNDLE:-}" ]; then
  export PIP_CERT="$PT2CAFFE_CA_BUNDLE" CURL_CA_BUNDLE="$PT2CAFFE_CA_BUNDLE" SSL_CERT_FILE="$PT2CAFFE_CA_BUNDLE"
fi

# The reference Caffe: stock SSD Caffe (github.com/weiliu89/caffe, branch `ssd`) at this commit, and
# where its source lies on machines without GitHub (../shared/vendor/ beside the checkout).
CAFFE_COMMIT=4817bf8b4200b35ada8ed0dc378dceaf38c539e4
CAFFE_VENDORED="$(dirname "${BASH_SOURCE[0]}")/../../shared/vendor/caffe-ssd-${CAFFE_COMMIT:0:8}.tar.gz"

# Debian packages (bookworm names): the shared libraries the built Caffe loads (what a prebuilt
# Caffe home needs, e.g. the one scripts/docker_build.sh passes into the image), what building it
# needs, and what the project itself needs.
CAFFE_RUNTIME_DEPS=(
  libboost-python1.74.0 libboost-thread1.74.0 libboost-filesystem1.74.0 libboost-regex1.74.0
  libgoogle-glog0v6 libgflags2.2 libprotobuf32 libopenblas0-pthread libhdf5-103-1 libhdf5-hl-100
)
CAFFE_BUILD_DEPS=(
  build-essential cmake curl ca-certificates protobuf-compiler libprotobuf-dev libgoogle-glog-dev libgflags-dev
  libopenblas-dev libhdf5-dev libboost-dev libboost-python-dev libboost-thread-dev
  libboost-system-dev libboost-filesystem-dev libboost-regex-dev
)
PROJECT_DEPS=(graphviz)

log() { echo "[pt2caffe] $*" >&2; }

# Install the given Debian packages that are not installed yet. `apt-get update` runs at most
# once per process tree (the flag is exported so scripts called from this one skip it too).
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  local apt=("${sudo[@]}" apt-get ${PT2CAFFE_CA_BUNDLE:+-o "Acquire::https::CAInfo=$PT2CAFFE_CA_BUNDLE"})
  log "installing Debian packages: ${missing[*]}"
  if [ -z "${PT2CAFFE_APT_UPDATED:-}" ]; then
    "${apt[@]}" update -qq
    export PT2CAFFE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}

# pip-install the given requirements unless the given module already imports.
ensure_python_module() {
  local module="$1"; shift
  if ! "$PYTHON" -c "import $module" >/dev/null 2>&1; then
    log "pip install $*"
    "$PYTHON" -m pip install -q "$@"
  fi
}
