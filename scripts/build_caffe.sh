#!/usr/bin/env bash
# Build the reference CPU Caffe (brocolli-caffe 9.0.2, which has the SSD layers) with pycaffe,
# and cache the installed result outside the checkout.
#
#   bash scripts/build_caffe.sh      # prints the Caffe home; `<home>/python` goes on PYTHONPATH
#
# Where it goes: $PT2CAFFE_CAFFE_HOME if set, else ~/.cache/pt2caffe/caffe-9.0.2-<key>, where
# <key> hashes the recipe section below (patches and CMake flags) with the Python X.Y and NumPy
# major version that _caffe.so is compiled for. A home whose stamp file holds the same key and
# whose `import caffe` works is reused (a second run takes seconds). The build happens in
# temporary directories and is moved into place only when complete, so an interrupted build
# never looks finished. Every successful run writes the home's path to
# ~/.cache/pt2caffe/current, which pt2caffe.runtime.caffe_pythonpath() reads when
# PT2CAFFE_CAFFE_HOME is not set.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"

CAFFE_VERSION=9.0.2
CAFFE_SDIST_SHA256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a
CACHE_ROOT="$HOME/.cache/pt2caffe"
STAMP_NAME=.pt2caffe-build

# >>> recipe (hashed into the cache key: any change here means a rebuild)
# Patch the unpacked sdist in the current directory. $1 = Python version without dot (311).
patch_sources() {
  local pyver_nodot="$1"
  # Stale generated protobuf code from an older protoc: regenerate with Debian's protoc.
  rm -f include/caffe/proto/caffe.pb.h src/caffe/proto/caffe.pb.cc python/caffe/proto/caffe_pb2.py
  # Debian names Boost.Python after the Python version.
  sed -i "s/-lboost_python /-lboost_python${pyver_nodot} /" python/CMakeLists.txt
  grep -q -- "-lboost_python${pyver_nodot} " python/CMakeLists.txt
  # An unused include that needs gtest.
  sed -i '\|#include "caffe/test/test_caffe_main.hpp"|d' src/caffe/net.cpp
  if grep -q test_caffe_main src/caffe/net.cpp; then return 1; fi
  # Read caffemodels up to INT_MAX bytes like upstream Caffe (VGG-16 is 528 MiB); protobuf
  # 3.21 has the one-argument SetTotalBytesLimit(int).
  sed -i 's/SetTotalBytesLimit(536870912)/SetTotalBytesLimit(INT_MAX)/' src/caffe/util/io.cpp
  sed -i '0,/^#include <fcntl.h>/s//#include <climits>\n#include <fcntl.h>/' src/caffe/util/io.cpp
  [ "$(grep -c 'SetTotalBytesLimit(INT_MAX)' src/caffe/util/io.cpp)" -eq 2 ]
  grep -q '#include <climits>' src/caffe/util/io.cpp
  # `import caffe` must work without scikit-image and SciPy: import them where they are used.
  "$PYTHON" - python/caffe/io.py <<'EOF'
import sys
path = sys.argv[1]
src = open(path).read()
edits = [
    ("import skimage.io\nfrom scipy.ndimage import zoom\n", ""),
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

# Configure, build and install into $2 from the source directory $1.
build_and_install() {
  local src="$1" prefix="$2" multiarch py_inc np_inc base_prefix pyver
  multiarch="$(gcc -print-multiarch)"
  base_prefix="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"
  pyver="$("$PYTHON" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')"
  py_inc="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_inc="$("$PYTHON" -c 'import numpy; print(numpy.get_include())')"
  cmake -S "$src" -B "$src/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCPU_ONLY=ON -DUSE_OPENCV=OFF -DUSE_LEVELDB=OFF -DUSE_LMDB=OFF -DUSE_HDF5=OFF \
    -DBUILD_python=ON -DBUILD_python_layer=OFF -DBUILD_docs=OFF \
    -DANACONDA_HOME="$base_prefix" -DPYTHON_VERSION="$pyver" \
    -DPYTHON_INCLUDE_DIRS="$py_inc" -DNUMPY_INCLUDE_DIR="$np_inc" \
    -DCMAKE_CXX_FLAGS="-I/usr/include/hdf5/serial" \
    -DCMAKE_SHARED_LINKER_FLAGS="-L/usr/lib/$multiarch/hdf5/serial" \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_SKIP_INSTALL_RPATH=ON
  cmake --build "$src/build" -j "$(nproc)"
  cmake --install "$src/build"
}
# <<< recipe

cache_key() {
  {
    sed -n '/^# >>> recipe/,/^# <<< recipe/p' "${BASH_SOURCE[0]}"
    echo "caffe $CAFFE_VERSION $CAFFE_SDIST_SHA256"
    "$PYTHON" -c 'import sys, numpy; print("python %d.%d numpy %s" % (sys.version_info[:2] + (numpy.__version__.split(".")[0],)))'
  } | sha256sum | cut -c1-12
}

# True when $1 is a finished build for key $2 whose pycaffe imports.
is_complete() {
  [ "$(cat "$1/$STAMP_NAME" 2>/dev/null)" = "$2" ] &&
    PYTHONPATH="$1/python" GLOG_minloglevel=2 "$PYTHON" -c 'import caffe, caffe.proto.caffe_pb2' >/dev/null 2>&1
}

# Record $1 as the Caffe home for pt2caffe.runtime (written atomically).
write_pointer() {
  mkdir -p "$CACHE_ROOT"
  printf '%s\n' "$1" >"$CACHE_ROOT/current.tmp.$$"
  mv -f "$CACHE_ROOT/current.tmp.$$" "$CACHE_ROOT/current"
}

main() {
  ensure_debian_packages "${CAFFE_BUILD_DEPS[@]}"
  ensure_python_module numpy numpy
  ensure_python_module six six

  local key home
  key="$(cache_key)"
  home="${PT2CAFFE_CAFFE_HOME:-$CACHE_ROOT/caffe-$CAFFE_VERSION-$key}"
  home="$(mkdir -p "$(dirname "$home")" && cd "$(dirname "$home")" && pwd)/$(basename "$home")"

  # One build per home at a time; a concurrent run waits and then finds the cache.
  exec 9>"$home.lock"
  flock 9
  rm -rf "$home".partial.*  # left by a build that was killed
  if is_complete "$home" "$key"; then
    log "reusing cached Caffe (key $key)"
  else
    build "$home" "$key"
  fi
  write_pointer "$home"
  echo "$home"
}

build() {
  local home="$1" key="$2" start=$SECONDS work staging pyver_nodot
  work="$(mktemp -d "${TMPDIR:-/tmp}/pt2caffe-caffe-build.XXXXXX")"
  staging="$(mktemp -d "$home.partial.XXXXXX")"
  chmod 755 "$staging"  # mktemp makes it private; the build is for every user
  # shellcheck disable=SC2064
  trap "rm -rf '$work' '$staging'" EXIT
  log "building Caffe $CAFFE_VERSION (key $key) in $work; log: $work/build.log"

  "$PYTHON" -m pip download -q --no-deps --no-binary :all: "brocolli-caffe==$CAFFE_VERSION" -d "$work"
  echo "$CAFFE_SDIST_SHA256  $work/brocolli-caffe-$CAFFE_VERSION.tar.gz" | sha256sum -c --quiet
  tar -xzf "$work/brocolli-caffe-$CAFFE_VERSION.tar.gz" -C "$work"
  local src="$work/brocolli-caffe-$CAFFE_VERSION"
  pyver_nodot="$("$PYTHON" -c 'import sys; print("%d%d" % sys.version_info[:2])')"
  (cd "$src"; patch_sources "$pyver_nodot")

  # `set -e` is ignored inside anything tested by if/||/&&: run the build as a plain command.
  local status
  set +e
  (set -e; build_and_install "$src" "$staging") >"$work/build.log" 2>&1
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    tail -n 80 "$work/build.log" >&2
    log "Caffe build failed (above: the last 80 lines of its log)"
    exit 1
  fi
  cp "$work/build.log" "$staging/build.log"
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
