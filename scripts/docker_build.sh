#!/usr/bin/env bash
# Build the project's Docker image (Dockerfile) on this machine, even one that reaches no image
# registry; Docker's layer cache makes a second run take seconds. Prints the image ID.
#
#   bash scripts/docker_build.sh [--tag TAG] [--base IMAGE | --debian-base] [--ca-bundle FILE]
#
# --tag TAG        the image's name (default pt2caffe:latest, what `check --backend docker` runs)
# --base IMAGE     the base image (default python:3.11-slim-bookworm, pulled if missing)
# --debian-base    base the image on Debian bookworm made here with mmdebstrap from this machine's
#                  Debian mirror, holding Python 3.11 and the libraries pt2caffe and Caffe load
#                  (docker image pt2caffe-base:bookworm-<hash of that list>, made once); the
#                  default when the default base can be neither found nor pulled
# --ca-bundle FILE the CA bundle pip, curl and apt trust during the build (default:
#                  $PT2CAFFE_CA_BUNDLE, else this machine's, /etc/ssl/certs/ca-certificates.crt),
#                  so that a build behind a TLS-intercepting proxy trusts what the host trusts
#
# What the build takes from this machine, as the image's docker-inputs/ (see Dockerfile), staged in
# ~/.cache/pt2caffe/docker-inputs/ and streamed to Docker with the sources (nothing is written into
# the checkout): the CA bundle; the Caffe home scripts/build_caffe.sh last built here, which the image
# uses instead of building Caffe again when it was built for the same recipe, Python X.Y and NumPy
# major and imports there (same commit, same bytes: the build is the machine's own); the stock SSD
# Caffe source when build_caffe.sh would find one here ($PT2CAFFE_CAFFE_SOURCE or ../shared/vendor/);
# and the CPU wheel of torch 2.13.0 when this machine's pip finds it without PyTorch's index (a
# find-links directory). Otherwise the image gets them from the network and builds Caffe itself.
#
# Docker itself: when there is no dockerd, Debian's docker.io is installed; when no daemon answers,
# one is started (root only; machines without systemd, such as CI), logging to
# /var/log/pt2caffe-dockerd.log, its pid in ~/.cache/pt2caffe/dockerd.pid (so that whoever needed it
# can stop it again: tests/runtimes/test_docker.py does). Builds use --network host. One build at a
# time per machine (a lock in ~/.cache/pt2caffe), so a concurrent run waits and then hits the cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

DEFAULT_BASE=python:3.11-slim-bookworm
DEBIAN_BASE_NAME=pt2caffe-base
TORCH_WHEEL_SPEC="torch==2.13.0+cpu"
CACHE="$HOME/.cache/pt2caffe"
INPUTS="$CACHE/docker-inputs"  # staged here, never in the checkout: the build context is streamed (build_context)

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
  mkdir -p "$CACHE"
  echo $! >"$CACHE/dockerd.pid"
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

# What the Debian base holds: Python 3.11 with venv, and what pt2caffe and a prebuilt Caffe load, so
# that the image's own apt step finds everything installed.
debian_base_packages() {
  echo python3 python3-venv libpython3.11 ca-certificates "${CAFFE_RUNTIME_DEPS[@]}" "${PROJECT_DEPS[@]}"
}

# The tag of the Debian base: its package list and mirror hashed, so a changed list makes a new base.
debian_base_tag() {
  echo "$DEBIAN_BASE_NAME:bookworm-$( { debian_base_packages; debian_mirror; } | sha256sum | cut -c1-12)"
}

# Make the Debian base $1 with mmdebstrap (its tree in /dev/shm when that has room: a third of the time
# on a busy disk), streamed as a tarball into `docker import`.
make_debian_base() {
  local tag="$1" mirror start=$SECONDS tmp="${TMPDIR:-/tmp}" packages
  ensure_debian_packages mmdebstrap debian-archive-keyring >&2
  mirror="$(debian_mirror)"
  packages="$(debian_base_packages | tr ' ' ,)"
  if [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')" -gt 2000000 ] 2>/dev/null; then tmp=/dev/shm; fi
  log "making $tag with mmdebstrap from $mirror (log: $tmp/pt2caffe-base.log)"
  if ! TMPDIR="$tmp" mmdebstrap --variant=apt --dpkgopt=force-unsafe-io --include="$packages" bookworm - \
      "deb ${mirror%/} bookworm main" "deb ${mirror%/} bookworm-updates main" \
      "deb ${mirror%/}-security bookworm-security main" 2>"$tmp/pt2caffe-base.log" |
      docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$tag" >/dev/null; then
    tail -n 20 "$tmp/pt2caffe-base.log" >&2
    log "mmdebstrap failed (above: the end of its log)"
    exit 1
  fi
  rm -f "$tmp/pt2caffe-base.log"
  log "made $tag in $((SECONDS - start)) s"
}

# Set BASE to the image to build on: $1 if given, else the default one if it can be had, else
# Debian's, made with mmdebstrap ($2 = 1: Debian's in any case).
choose_base() {
  local asked="$1" debian="$2"
  BASE="$asked"
  [ -n "$BASE" ] && return 0
  if [ "$debian" = 0 ]; then
    BASE="$DEFAULT_BASE"
    if image_exists "$BASE" || timeout 60 docker pull -q "$BASE" >/dev/null 2>&1; then
      return 0
    fi
    log "cannot pull $DEFAULT_BASE: using a Debian base made here"
  fi
  BASE="$(debian_base_tag)"
  image_exists "$BASE" || make_debian_base "$BASE"
}

# Fill $INPUTS (the image's docker-inputs/; downloaded wheels stay between runs) and set BUILD_ARGS to
# the build arguments that use it.
stage_inputs() {
  local ca="$1" wheels="$INPUTS/wheels" source="${PT2CAFFE_CAFFE_SOURCE:-$CAFFE_VENDORED}" wheel home
  BUILD_ARGS=()
  mkdir -p "$INPUTS"
  find "$INPUTS" -mindepth 1 -maxdepth 1 ! -name wheels -exec rm -rf {} +
  if [ -n "$ca" ]; then
    cp "$ca" "$INPUTS/ca-bundle.crt"
    BUILD_ARGS+=(--build-arg CA_BUNDLE=ca-bundle.crt)
  fi
  if home="$(cat "$CACHE/current" 2>/dev/null)" && [ -f "$home/.pt2caffe-build" ]; then
    # Deterministic bytes (sorted, no times, no owners), so that Docker's layer cache hits next time.
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$home" -c . |
      gzip -n >"$INPUTS/caffe-prebuilt.tar.gz"
    BUILD_ARGS+=(--build-arg CAFFE_PREBUILT=caffe-prebuilt.tar.gz)
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

# The build context as a tar on stdout: the checkout (without its own docker-inputs/, out/, caches) and
# the staged $INPUTS as docker-inputs/.
build_context() {
  tar -c --exclude-vcs --exclude=./docker-inputs --exclude=./out --exclude=__pycache__ -C "$root" . \
    -C "$CACHE" docker-inputs
}

main() {
  local tag=pt2caffe:latest base="" debian=0 ca="${PT2CAFFE_CA_BUNDLE:-}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) tag="$2"; shift 2 ;;
      --base) base="$2"; shift 2 ;;
      --debian-base) debian=1; shift ;;
      --ca-bundle) ca="$2"; shift 2 ;;
      *) log "usage: docker_build.sh [--tag TAG] [--base IMAGE | --debian-base] [--ca-bundle FILE]"; exit 2 ;;
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
  mkdir -p "$CACHE"
  exec 8>"$CACHE/docker-build.lock"
  flock 8

  local start=$SECONDS iidfile
  choose_base "$base" "$debian"
  stage_inputs "$ca"
  iidfile="$(mktemp)"
  # shellcheck disable=SC2064
  trap "rm -f '$iidfile'" EXIT
  log "building $tag on $BASE (Docker's output below)"
  # Docker's output goes to stderr: stdout is the image ID alone.
  build_context | docker build --network host --build-arg "BASE=$BASE" "${BUILD_ARGS[@]}" --iidfile "$iidfile" \
    -t "$tag" -f Dockerfile - >&2
  log "built $tag in $((SECONDS - start)) s"
  cat "$iidfile"
  echo
}

main "$@"; exit  # one line: bash reads no further, even if this file is edited meanwhile
