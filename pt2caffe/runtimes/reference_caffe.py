"""Where the reference Caffe build is, and which pycaffe runs the nets.

The reference is stock SSD Caffe (weiliu89/caffe, branch ssd, 4817bf8b).
``scripts/build_caffe.sh`` installs it into ``$PT2CAFFE_CAFFE_HOME`` if set, else into
``~/.cache/pt2caffe/caffe-ssd-4817bf8b-<key>`` (the key hashes the build recipe), and on every
successful run writes that directory's path to ``~/.cache/pt2caffe/current``. Here
``PT2CAFFE_CAFFE_HOME`` wins, else that pointer file is read, so the last successful build is
used; a home counts only if it has the build's stamp file and ``python/caffe/_caffe.so``.
To run nets in another Caffe (a vendor's build, a fork), set ``PT2CAFFE_PYCAFFE`` to the directory
that holds its ``caffe`` Python package: it is used instead of the reference.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import Pt2CaffeError

STAMP_NAME = ".pt2caffe-build"
BUILD_HINT = "run `bash scripts/build_caffe.sh`"


def _pointer_file() -> Path:
    """The file in which build_caffe.sh records the last successful build (HOME read now)."""
    return Path.home() / ".cache" / "pt2caffe" / "current"


def caffe_home() -> Path:
    """The reference Caffe install directory: $PT2CAFFE_CAFFE_HOME, else the pointer file's."""
    env = os.environ.get("PT2CAFFE_CAFFE_HOME")
    if env:
        home, origin = Path(env), "PT2CAFFE_CAFFE_HOME"
    else:
        pointer = _pointer_file()
        try:
            home, origin = Path(pointer.read_text().strip()), str(pointer)
        except OSError:
            raise Pt2CaffeError(f"reference Caffe not built ({pointer} missing): {BUILD_HINT}")
    complete = (home / STAMP_NAME).is_file() and (home / "python" / "caffe" / "_caffe.so").exists()
    if not complete:
        raise Pt2CaffeError(f"reference Caffe not found at {home} (from {origin}): {BUILD_HINT}")
    return home


def caffe_pythonpath() -> str:
    """The directory to put on PYTHONPATH so that `import caffe` finds pycaffe: $PT2CAFFE_PYCAFFE
    (the user's own Caffe) if set, else the reference build's. Raises Pt2CaffeError when neither is there."""
    own = os.environ.get("PT2CAFFE_PYCAFFE")
    if own:
        if not (Path(own) / "caffe" / "__init__.py").is_file():
            raise Pt2CaffeError(f"PT2CAFFE_PYCAFFE={own} holds no caffe package (expected {own}/caffe/__init__.py)")
        return own
    return str(caffe_home() / "python")


def caffe_description() -> str:
    """Which Caffe runs the nets, in words: the reference build's SOURCE line, or the user's own pycaffe."""
    if os.environ.get("PT2CAFFE_PYCAFFE"):
        return "your own pycaffe (PT2CAFFE_PYCAFFE)"
    try:
        return "stock SSD Caffe, " + (caffe_home() / "SOURCE").read_text().strip()
    except OSError:
        return "unknown (the Caffe home has no SOURCE file: rebuild with scripts/build_caffe.sh)"
