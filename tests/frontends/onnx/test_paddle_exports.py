"""The paddle2onnx files in tests/data/paddle (made by scripts/paddle_onnx/make.py in its own environment:
PaddlePaddle is not a dependency): PaddleOCR's text detector, recognizers and direction classifier and a
PP-PicoDet-style detector, each as paddle2onnx writes it."""
import hashlib
import json
from pathlib import Path

import pytest

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
