"""The paddle2onnx files in tests/data/paddle (made by scripts/paddle_onnx/make.py in its own environment:
PaddlePaddle is not a dependency): PaddleOCR's text detector, recognizers and direction classifier and a
PP-PicoDet-style detector, each as paddle2onnx writes it."""
import hashlib
import json
from pathlib import Path

import pytest

from onnx_cases import check_pycaffe, check_runtimes, export_onnx, onnxruntime_outputs

DATA = Path(__file__).resolve().parents[2] / "data" / "paddle"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
MODELS = sorted(MANIFEST["models"])


@pytest.mark.parametrize("name", MODELS)
def test_file_is_the_one_the_generator_wrote(name):
    """The committed file is byte for byte what the generator recorded (a regenerated set updates both)."""
    data = (DATA / f"{name}.onnx").read_bytes()
    entry = MANIFEST["models"][name]
    assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
    assert entry["pip_installs_tried"] == [], "paddle2onnx tried to install packages while writing it"


def test_every_file_is_in_the_manifest():
    assert sorted(path.stem for path in DATA.glob("*.onnx")) == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_export_matches_onnxruntime_in_every_runtime(name, tmp_path):
    """At the manifest's input size (the dynamic files' dims given as --input-shape would): pycaffe on every
    blob against the front end, pycaffe, OpenCV and MNN on every output against onnxruntime. Sizes are
    probed for the files with dynamic dims only (the others declare theirs)."""
    entry = MANIFEST["models"][name]
    dynamic = -1 in entry["input_shape"]
    export = export_onnx(str(DATA / f"{name}.onnx"), tmp_path, shapes=[tuple(entry["checked_shape"])],
                         probe_sizes=dynamic)
    expected = onnxruntime_outputs(export)
    check_pycaffe(export, expected)
    check_runtimes(export, expected)
