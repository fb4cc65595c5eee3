"""The Python API for ONNX files: pt2caffe.export_onnx(path, path_prefix, input_shapes) writes the files of
``run MODEL.onnx`` and returns the report; the README's snippet runs as written."""
import contextlib
import io
import json
import os
import re
from pathlib import Path

import pytest

import pt2caffe
from onnx_export_case import small_onnx
from pt2caffe.cli import main
from pt2caffe.errors import Pt2CaffeError

README = Path(__file__).resolve().parents[2] / "README.md"


def _snippet() -> str:
    block = README.read_text(encoding="utf-8").split("<!-- onnx-api:begin -->")[1].split("<!-- onnx-api:end -->")[0]
    return block.split("```python\n")[1].split("```")[0]


def test_the_readme_snippet_runs_and_its_export_checks(tmp_path, capsys):
    small_onnx(tmp_path / "model.onnx", dynamic_batch=True, size=224)
    printed = io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        with contextlib.redirect_stdout(printed):
            exec(compile(_snippet(), "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    lines = printed.getvalue().splitlines()
    claimed = re.findall(r"# (\[\{.*\}\])", _snippet())
    assert lines[0] == claimed[0]  # the comment shows what is printed
    assert re.fullmatch(r"13 [0-9a-f]{12}", lines[1])
    report = json.loads((tmp_path / "out" / "model.json").read_text())
    assert report["inputs"][0]["onnx"] == "image" and report["inputs"][0]["shape"] == [1, 3, 224, 224]
    assert main(["check", str(tmp_path / "out" / "model.json")]) == 0, capsys.readouterr().out


def test_shapes_in_the_inputs_order_and_a_refused_symbolic_dim(tmp_path):
    path = small_onnx(tmp_path / "model.onnx", dynamic_batch=True)
    report = pt2caffe.export_onnx(path, str(tmp_path / "out" / "a"), [(2, 3, 16, 16)], name="net", target="opencv")
    assert report["name"] == "net" and report["source"]["input_shapes"] == [[2, 3, 16, 16]]
    with pytest.raises(Pt2CaffeError, match=r"symbolic input dims \(image \[batch, 3, 16, 16\]\)"):
        pt2caffe.export_onnx(path, str(tmp_path / "out" / "b"))
    with pytest.raises(Pt2CaffeError, match="unknown target 'caffe2'"):
        pt2caffe.export_onnx(path, str(tmp_path / "out" / "c"), [(1, 3, 16, 16)], target="caffe2")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.caffemodel", "a.json", "a.prototxt"]
