"""The README's ONNX op list is the converter registry's: regenerate it with `python -m pt2caffe.readme.onnx_ops`."""
from pathlib import Path

from pt2caffe.readme.onnx_ops import with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_onnx_ops_are_current():
    text = README.read_text(encoding="utf-8")
    assert text == with_table(text), "run: python -m pt2caffe.readme.onnx_ops README.md"
