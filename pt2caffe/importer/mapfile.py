"""OUT.map.txt: where every state_dict key came from, in a form the user can edit and pass back.

One line per key: ``KEY <- LAYER[BLOB]  # how`` (``LAYER[BLOB]`` a layer and blob index of the user's
net; ``(none)`` for a key the forward never uses). ``--map`` reads the ``KEY <- LAYER`` part of each
line (blob index and comment are for reading): KEY's unit is paired with the user's unit holding LAYER.
"""
from __future__ import annotations

import re

from ..errors import Pt2CaffeError

HEADER = ("# pt2caffe import: state_dict key <- Caffe layer[blob]  # transform\n"
          "# Pass this file (or only the lines to change) back with --map: each line pairs the key's\n"
          "# PyTorch module with that Caffe layer; blob indices and comments are ignored.\n")
_LINE = re.compile(r"^\s*(\S+)\s*<-\s*([^\s\[#]+)")


def map_text(rows: list[tuple[str, str, str]]) -> str:
    """rows: (key, "layer[blob]" or "(none)", how)."""
    width = max((len(key) for key, _, _ in rows), default=0)
    lines = [f"{key:<{width}} <- {origin}" + (f"  # {how}" if how else "") for key, origin, how in rows]
    return HEADER + "\n".join(lines) + "\n"


def read_map(path: str) -> dict[str, str]:
    """KEY → Caffe layer name, from a map file (Pt2CaffeError naming the file and line when malformed)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise Pt2CaffeError(f"cannot read map {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise Pt2CaffeError(f"map {path} is not UTF-8 text") from None
    entries = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _LINE.match(line)
        if found is None:
            raise Pt2CaffeError(f"{path}:{number}: expected 'KEY <- CAFFE_LAYER', got {line.strip()[:80]!r}")
        if found.group(2) != "(none)":
            entries[found.group(1)] = found.group(2)
    return entries
