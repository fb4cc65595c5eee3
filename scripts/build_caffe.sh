#!/usr/bin/env bash
# Build the reference Caffe — stock SSD Caffe (github.com/weiliu89/caffe, branch `ssd`, commit
# 4817bf8b) — CPU-only with pycaffe, and cache the result outside the checkout.
#
#   bash scripts/build_caffe.sh      # prints the Caffe home; `<home>/python` goes on PYTHONPATH
#
# Source: $PT2CAFFE_CAFFE_SOURCE (a tarball) if set, else ../shared/vendor/caffe-ssd-<commit>.tar.gz
# beside the checkout when it is there (machines without GitHub), else GitHub's archive of that
# commit. Whatever the source, the extracted tree is verified before building: its top folder must
# name the commit, and the sha256 of its file manifest (every regular file's sha256 with its path,
# sorted) must equal CAFFE_TREE_SHA256 — so a tarball that is not byte-identical still passes when
# the files are, and a tampered or different tree never builds.
#
# Where it goes: $PT2CAFFE_CAFFE_HOME if set, else ~/.cache/pt2caffe/caffe-ssd-<commit8>-<key>,
# where <key> hashes the recipe section below (patches and CMake flags), the commit, and the
# Python X.Y and NumPy major version that _caffe.so is compiled for. A home whose stamp file holds
# the same key and whose `import caffe` works is reused (a second run takes about a second). The
# build happens in a temporary directory and the home is moved into place only when complete, so
# an interrupted build never looks finished. Every successful run writes the home's path to
# ~/.cache/pt2caffe/current, which pt2caffe.runtimes.reference_caffe.caffe_home() reads when
# PT2CAFFE_CAFFE_HOME is not set.
#
# PT2CAFFE_CAFFE_PREBUILT: a tarball of a finished home (scripts/docker_build.sh passes the machine's
# own into the image) to take instead of building, when its stamp holds this key and its pycaffe
# imports here (only the shared libraries it loads, CAFFE_RUNTIME_DEPS, are installed for it);
# otherwise the build runs as usual.
#
# The home holds python/caffe (pycaffe, with libcaffe.so beside _caffe.so, found through an
# $ORIGIN rpath), caffe.proto (the build's schema), SOURCE (what was built) and build.log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

CAFFE_TREE_SHA256=9898497f05faf93962d71efb7c89fc62c9bd426615db0471b1d07199fcfcf3e1
CAFFE_URL="https://github.com/weiliu89/caffe/archive/$CAFFE_COMMIT.tar.gz"
CACHE_ROOT="$HOME/.cache/pt2caffe"
STAMP_NAME=.pt2caffe-build

# >>> recipe (hashed into the cache key: any change here means a rebuild)
# Patch the verified source tree in the current directory.
patch_sources() {
  # protobuf 3.21 has only the one-argument SetTotalBytesLimit; this branch's limit is INT_MAX.
  sed -i 's/SetTotalBytesLimit(kProtoReadBytesLimit, 536870912)/SetTotalBytesLimit(kProtoReadBytesLimit)/' \
    src/caffe/util/io.cpp
  grep -q 'SetTotalBytesLimit(kProtoReadBytesLimit);' src/caffe/util/io.cpp
  # `import caffe` must work without scikit-image and SciPy: import them where they are used.
  "$PYTHON" - python/caffe/io.py <<'EOF'
import sys
path = sys.argv[1]
src = open(path).read()
edits = [
    ("import skimage.io\nfrom scipy.ndimage import zoom\nfrom skimage.transform import resize\n", ""),
    ("    img = skimage.img_as_float(",
     "    import skimage\n    import skimage.io\n    img = skimage.img_as_float("),
    ("    if im.shape[-1] == 1 or im.shape[-1] == 3:\n",
     "    from scipy.ndimage import zoom\n    from skimage.transform import resize\n"
     "    if im.shape[-1] == 1 or im.shape[-1] == 3:\n"),
]
for old, new in edits:
    assert src.count(old) == 1, "io.py patch does not apply: %r" % old
    src = src.replace(old, new)
open(path, "w").write(src)
EOF
}

# Configure and build pycaffe in $1/build (only the targets pycaffe needs).
build_pycaffe() {
  local src="$1"
  cmake -S "$src" -B "$src/build" \
    -DCMAKE_BUILD_TYPE=Release -DBLAS=Open -Dpython_version=3 \
    -DCPU_ONLY=ON -DUSE_OPENCV=OFF -DUSE_LEVELDB=OFF -DUSE_LMDB=OFF \
    -DBUILD_python=ON -DBUILD_python_layer=OFF -DBUILD_docs=OFF -DBUILD_matlab=OFF \
    -DPYTHON_EXECUTABLE="$("$PYTHON" -c 'import sys; print(sys.executable)')" \
    -DPYTHON_INCLUDE_DIR="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    -DPYTHON_LIBRARY="$("$PYTHON" -c 'import sysconfig as s; print(s.get_config_var("LIBDIR") + "/" + s.get_config_var("LDLIBRARY"))')" \
    -DCMAKE_BUILD_RPATH="\$ORIGIN"
  cmake --build "$src/build" --target pycaffe -j "$(nproc)"
}

# Copy what pycaffe needs from the built tree $1 into the new home $2.
assemble_home() {
  local src="$1" home="$2"
  cp -r "$src/python/caffe" "$home/python/"
  rm -rf "$home/python/caffe/test" "$home/python/caffe/_caffe.so"
  cp -L "$src/build/lib/_caffe.so" "$home/python/caffe/_caffe.so"
  cp -a "$src/build/lib/"libcaffe.so* "$home/python/caffe/"
  cp "$src/src/caffe/proto/caffe.proto" "$home/caffe.proto"
}
# <<< recipe

cache_key() {
  {
    sed -n '/^# >>> recipe/,/^# <<< recipe/p' "${BASH_SOURCE[0]}"
    echo "caffe $CAFFE_COMMIT $CAFFE_TREE_SHA256"
    "$PYTHON" -c 'import sys, numpy; print("python %d.%d numpy %s" % (sys.version_info[:2] + (numpy.__version__.split(".")[0],)))'
  } | sha256sum | cut -c1-12
}

# sha256 of the manifest of the tree in the current directory (paths and contents of its files).
tree_sha256() {
  find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

# True when $1 is a finished build for key $2 whose pycaffe imports.
is_complete() {
  [ "$(cat "$1/$STAMP_NAME" 2>/dev/null)" = "$2" ] &&
    PYTHONPATH="$1/python" GLOG_minloglevel=2 "$PYTHON" -c 'import caffe, caffe.proto.caffe_pb2' >/dev/null 2>&1
}

# Record $1 as the Caffe home for pt2caffe.runtimes.reference_caffe (written atomically).
write_pointer() {
  mkdir -p "$CACHE_ROOT"
  printf '%s\n' "$1" >"$CACHE_ROOT/current.tmp.$$"
  mv -f "$CACHE_ROOT/current.tmp.$$" "$CACHE_ROOT/current"
}

# Put the source tarball at $1: the one named by PT2CAFFE_CAFFE_SOURCE, the vendored one, or GitHub's.
fetch_source() {
  local dest="$1"
  if [ -n "${PT2CAFFE_CAFFE_SOURCE:-}" ]; then
    log "source: $PT2CAFFE_CAFFE_SOURCE"
    cp "$PT2CAFFE_CAFFE_SOURCE" "$dest"
  elif [ -f "$CAFFE_VENDORED" ]; then
    log "source: $(cd "$(dirname "$CAFFE_VENDORED")" && pwd)/$(basename "$CAFFE_VENDORED")"
    cp "$CAFFE_VENDORED" "$dest"
  else
    log "source: $CAFFE_URL"
    curl -fsSL --retry 3 -o "$dest" "$CAFFE_URL"
  fi
}

main() {
  ensure_python_module numpy numpy
  ensure_python_module six six
  ensure_python_module google.protobuf "protobuf>=3.20"  # is_complete imports caffe_pb2

  local key home
  key="$(cache_key)"
  home="${PT2CAFFE_CAFFE_HOME:-$CACHE_ROOT/caffe-ssd-${CAFFE_COMMIT:0:8}-$key}"
  home="$(mkdir -p "$(dirname "$home")" && cd "$(dirname "$home")" && pwd)/$(basename "$home")"

  # One build per home at a time; a concurrent run waits and then finds the cache.
  exec 9>"$home.lock"
  flock 9
  rm -rf "$home".partial.*  # left by a build that was killed
  if is_complete "$home" "$key"; then
    log "reusing cached Caffe (stock SSD ${CAFFE_COMMIT:0:8}, key $key)"
  elif ! { [ -n "${PT2CAFFE_CAFFE_PREBUILT:-}" ] && take_prebuilt "$PT2CAFFE_CAFFE_PREBUILT" "$home" "$key"; }; then
    ensure_debian_packages "${CAFFE_BUILD_DEPS[@]}"
    build "$home" "$key"
  fi
  write_pointer "$home"
  echo "$home"
}

# Use the Caffe home packed in tarball $1 (made by scripts/docker_build.sh from a finished build) as
# home $2 when it was built with the same key $3 and imports here; false otherwise (then we build).
take_prebuilt() {
  local tarball="$1" home="$2" key="$3" staging
  ensure_debian_packages "${CAFFE_RUNTIME_DEPS[@]}"
  staging="$(mktemp -d "$home.partial.XXXXXX")"
  chmod 755 "$staging"
  tar -xzf "$tarball" -C "$staging"
  if ! is_complete "$staging" "$key"; then
    log "the prebuilt Caffe in $tarball does not fit here (its key $(cat "$staging/$STAMP_NAME" 2>/dev/null)," \
      "here $key, or it does not import): building from source"
    rm -rf "$staging"
    return 1
  fi
  rm -rf "$home"
  mv "$staging" "$home"
  log "took the prebuilt Caffe (stock SSD ${CAFFE_COMMIT:0:8}, key $key) from $tarball"
}

build() {
  local home="$1" key="$2" start=$SECONDS work staging src got
  work="$(mktemp -d "${TMPDIR:-/tmp}/pt2caffe-caffe-build.XXXXXX")"
  staging="$(mktemp -d "$home.partial.XXXXXX")"
  chmod 755 "$staging"  # mktemp makes it private; the build is for every user
  # shellcheck disable=SC2064
  trap "rm -rf '$work' '$staging'" EXIT
  log "building stock SSD Caffe ${CAFFE_COMMIT:0:8} (key $key) in $work; log: $work/build.log"

  fetch_source "$work/caffe.tar.gz"
  mkdir "$work/x"
  tar -xzf "$work/caffe.tar.gz" -C "$work/x"
  src="$work/x/caffe-$CAFFE_COMMIT"
  if [ ! -d "$src" ] || [ "$(ls -A "$work/x" | wc -l)" -ne 1 ]; then
    log "the Caffe source does not hold exactly caffe-$CAFFE_COMMIT/ (found: $(ls -A "$work/x" | head -3 | tr '\n' ' '))"
    exit 1
  fi
  got="$(cd "$src" && tree_sha256)"
  if [ "$got" != "$CAFFE_TREE_SHA256" ]; then
    log "the Caffe source tree differs from commit ${CAFFE_COMMIT:0:8} (manifest sha256 $got, expected $CAFFE_TREE_SHA256)"
    exit 1
  fi
  (cd "$src"; patch_sources)

  # `set -e` is ignored inside anything tested by if/||/&&: run the build as a plain command.
  local status
  set +e
  (set -e; build_pycaffe "$src") >"$work/build.log" 2>&1
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    tail -n 80 "$work/build.log" >&2
    log "Caffe build failed (above: the last 80 lines of its log)"
    exit 1
  fi
  mkdir -p "$staging/python"
  assemble_home "$src" "$staging"
  cp "$work/build.log" "$staging/build.log"
  printf 'weiliu89/caffe ssd %s\n' "$CAFFE_COMMIT" >"$staging/SOURCE"
  echo "$key" >"$staging/$STAMP_NAME"
  if ! is_complete "$staging" "$key"; then
    PYTHONPATH="$staging/python" "$PYTHON" -c 'import caffe' || true
    log "the built pycaffe does not import"
    exit 1
  fi

  # Swap into place: rename is atomic on one filesystem; an old incomplete home goes first.
  if [ -e "$home" ]; then
    mv "$home" "$staging.old"
    rm -rf "$staging.old"
  fi
  mv "$staging" "$home"
  log "built Caffe in $((SECONDS - start)) s"
}

main "$@"; exit  # one line: bash reads no further, even if this file is edited meanwhile
