#!/usr/bin/env bash
# Regenerate pt2caffe/net/caffe_pb2.py from proto/caffe.proto.
#
#   bash scripts/gen_proto.sh            # writes pt2caffe/net/caffe_pb2.py
#   bash scripts/gen_proto.sh OUT.py     # writes OUT.py instead (tests use this)
#
# Uses Debian's protoc (package protobuf-compiler, 3.21.x).  Its Python output
# imports nothing but the `protobuf` runtime and works with protobuf >= 3.20
# (it builds the classes through google.protobuf.internal.builder), including
# the 4.x-7.x runtimes.  The generated file is committed; a test checks that
# regenerating it gives the same bytes, so the protoc series is pinned below:
# another series may format its output differently.
#
# The .proto is compiled as "pt2caffe/net/caffe.proto" (copied into a temporary
# include root) so that the file name registered in protobuf's descriptor pool
# is "pt2caffe/net/caffe.proto" (and the module's name pt2caffe.net.caffe_pb2).  pycaffe registers its own file as "caffe.proto";
# two different files under one name cannot share a process, while
# different names (and our package pt2caffe.caffe) can.
set -euo pipefail

REQUIRED_PROTOC_SERIES="3.21."

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/proto/caffe.proto"
out="${1:-$root/pt2caffe/net/caffe_pb2.py}"

if ! command -v protoc >/dev/null 2>&1; then
  echo "gen_proto.sh: protoc not found; install Debian's protobuf-compiler (apt-get install protobuf-compiler)" >&2
  exit 2
fi
version="$(protoc --version | awk '{print $2}')"
case "$version" in
  "$REQUIRED_PROTOC_SERIES"*) ;;
  *)
    echo "gen_proto.sh: protoc $version found, but the committed bindings come from protoc ${REQUIRED_PROTOC_SERIES}x (Debian protobuf-compiler); output would differ" >&2
    exit 2
    ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/include/pt2caffe/net" "$tmp/out"
cp "$src" "$tmp/include/pt2caffe/net/caffe.proto"

protoc --proto_path="$tmp/include" --python_out="$tmp/out" "$tmp/include/pt2caffe/net/caffe.proto"

mkdir -p "$(dirname "$out")"
cp "$tmp/out/pt2caffe/net/caffe_pb2.py" "$out"
