#!/usr/bin/env bash
# Build the project's Docker image (Dockerfile) on this machine, even one that reaches no image
# registry; Docker's layer cache makes a second run take seconds. Prints the image ID.
#
#   bash scripts/docker_build.sh [--tag TAG] [--base IMAGE | --debootstrap] [--ca-bundle FILE]
#
# --tag TAG        the image's name (default pt2caffe:latest, what `check --backend docker` runs)
# --base IMAGE     the base image (default python:3.11-slim-bookworm, pulled if missing)
# --debootstrap    base the image on Debian bookworm made here with debootstrap from this machine's
#                  Debian mirror (docker image pt2caffe-base:bookworm, made once); the default
#                  when the default base can be neither found nor pulled
# --ca-bundle FILE the CA bundle pip, curl and apt trust during the build (default:
#                  $PT2CAFFE_CA_BUNDLE, else this machine's, /etc/ssl/certs/ca-certificates.crt),
#                  so that a build behind a TLS-intercepting proxy trusts what the host trusts
#
# What the build takes from this machine, through docker-inputs/ (see Dockerfile): the CA bundle,
# the stock SSD Caffe source when build_caffe.sh would find one here ($PT2CAFFE_CAFFE_SOURCE or
# ../shared/vendor/), and the CPU wheel of torch 2.13.0 when this machine's pip finds it without
# PyTorch's index (a find-links directory); otherwise the image gets them from the network.
#
# Docker itself: when there is no dockerd, Debian's docker.io is installed; when no daemon answers,
# one is started (root only; machines without systemd, such as CI), logging to
# /var/log/pt2caffe-dockerd.log. Builds use --network host. One build at a time per machine (a
# lock in ~/.cache/pt2caffe), so a concurrent run waits and then hits the cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

DEFAULT_BASE=python:3.11-slim-bookworm
DEBIAN_BASE=pt2caffe-base:bookworm
TORCH_WHEEL_SPEC="torch==2.13.0+cpu"
INPUTS="$root/docker-inputs"

# Install Docker if there is none, and start its daemon if none answers.
ensure_docker() {
  command -v dockerd >/dev/null || ensure_debian_packages docker.io >&2
  docker info >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "the Docker daemon does not answer (docker info); start it (sudo systemctl start docker) or join the docker group"
    exit 1
  fi
  log "starting dockerd (log: /var/log/pt2caffe-dockerd.log)"
  setsid dockerd >>/var/log/pt2caffe-dockerd.log 2>&1 </dev/null &
  local waited
  for waited in $(seq 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -n 20 /var/log/pt2caffe-dockerd.log >&2
  log "dockerd did not come up within ${waited} s (above: the end of its log)"
  exit 1
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror this machine's apt uses for bookworm (http://deb.debian.org/debian/ if none).
debian_mirror() {
  local uri
  uri="$(apt-get indextargets --format '$(REPO_URI)' 'Codename: bookworm' 'Origin: Debian' 2>/dev/null |
    grep -v -- '-security/$' | head -n 1 || true)"
  echo "${uri:-http://deb.debian.org/debian/}"
}

# Make $DEBIAN_BASE: Debian bookworm (minbase) with Python 3.11, venv and headers, like $DEFAULT_BASE.
make_debian_base() {
  ensure_debian_packages debootstrap debian-archive-keyring >&2
  local mirror rootfs start=$SECONDS
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d "${TMPDIR:-/tmp}/pt2caffe-rootfs.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" EXIT
  log "making $DEBIAN_BASE with debootstrap from $mirror (log: $rootfs.log)"
  if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-dev,ca-certificates \
      bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -n 20 "$rootfs.log" >&2
    log "debootstrap failed (above: the end of its log)"
    exit 1
  fi
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb ${mirror%/} bookworm main
deb ${mirror%/} bookworm-updates main
deb ${mirror%/}-security bookworm-security main
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$DEBIAN_BASE" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  trap - EXIT
  log "made $DEBIAN_BASE in $((SECONDS - start)) s"
}

# Set BASE to the image to build on: $1 if given, else the default one if it can be had, else
# Debian's, made with debootstrap ($2 = 1: Debian's in any case).
choose_base() {
  local asked="$1" debootstrap="$2"
  BASE="$asked"
  [ -n "$BASE" ] && return 0
  if [ "$debootstrap" = 0 ]; then
    BASE="$DEFAULT_BASE"
    if image_exists "$BASE" || timeout 60 docker pull -q "$BASE" >/dev/null 2>&1; then
      return 0
    fi
    log "cannot pull $DEFAULT_BASE: using a Debian base made with debootstrap"
  fi
  BASE="$DEBIAN_BASE"
  image_exists "$BASE" || make_debian_base
}

# Fill docker-inputs/ (all but its README) and set BUILD_ARGS to the build arguments that use it.
stage_inputs() {
  local ca="$1" wheels="$INPUTS/wheels" source="${PT2CAFFE_CAFFE_SOURCE:-$CAFFE_VENDORED}" wheel
  BUILD_ARGS=()
  mkdir -p "$INPUTS"
  find "$INPUTS" -mindepth 1 -maxdepth 1 ! -name README.md ! -name wheels -exec rm -rf {} +
  if [ -n "$ca" ]; then
    cp "$ca" "$INPUTS/ca-bundle.crt"
    BUILD_ARGS+=(--build-arg CA_BUNDLE=ca-bundle.crt)
  fi
  if [ -f "$source" ]; then
    cp "$source" "$INPUTS/caffe-source.tar.gz"
    BUILD_ARGS+=(--build-arg CAFFE_SOURCE=caffe-source.tar.gz)
  else
    log "no local Caffe source ($source): the image downloads it from GitHub"
  fi
  # The wheel for the image's Python (CPython 3.11, manylinux), whatever this machine's Python is;
  # pip skips the download when the file is there already.
  if "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version 3.11 \
      --abi cp311 --platform "manylinux_2_28_$(uname -m)" -d "$wheels" "$TORCH_WHEEL_SPEC" >&2; then
    wheel="$(cd "$wheels" && ls torch-2.13.0+cpu-*.whl)"
    BUILD_ARGS+=(--build-arg "TORCH_SPEC=/opt/pt2caffe-inputs/wheels/$wheel")
  else
    rm -rf "$wheels"
    log "no local $TORCH_WHEEL_SPEC wheel (above: pip's reason): the image gets torch from PyTorch's CPU index"
  fi
}

main() {
  local tag=pt2caffe:latest base="" debootstrap=0 ca="${PT2CAFFE_CA_BUNDLE:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) tag="$2"; shift 2 ;;
      --base) base="$2"; shift 2 ;;
      --debootstrap) debootstrap=1; shift ;;
      --ca-bundle) ca="$2"; shift 2 ;;
      *) log "usage: docker_build.sh [--tag TAG] [--base IMAGE | --debootstrap] [--ca-bundle FILE]"; exit 2 ;;
    esac
  done
  if [ -z "$ca" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    ca=/etc/ssl/certs/ca-certificates.crt
  fi
  if [ -n "$ca" ] && [ ! -f "$ca" ]; then
    log "CA bundle not found: $ca"
    exit 1
  fi

  ensure_docker
  mkdir -p "$HOME/.cache/pt2caffe"
  exec 8>"$HOME/.cache/pt2caffe/docker-build.lock"
  flock 8

  local start=$SECONDS iidfile
  choose_base "$base" "$debootstrap"
  stage_inputs "$ca"
  iidfile="$(mktemp)"
  # shellcheck disable=SC2064
  trap "rm -f '$iidfile'" EXIT
  log "building $tag on $BASE (Docker's output below)"
  # Docker's output goes to stderr: stdout is the image ID alone.
  docker build --network host --build-arg "BASE=$BASE" "${BUILD_ARGS[@]}" --iidfile "$iidfile" \
    -t "$tag" "$root" >&2
  log "built $tag in $((SECONDS - start)) s"
  cat "$iidfile"
  echo
}

main "$@"; exit  # one line: bash reads no further, even if this file is edited meanwhile
