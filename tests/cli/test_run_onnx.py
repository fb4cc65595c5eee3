"""``pt2caffe run MODEL.onnx``: the three files, the report's ONNX fields, input shapes, one-line errors."""
import json

import pytest

from onnx_export_case import small_onnx
from pt2caffe.cli import main


def _run(capsys, *args):
    code = main(["run", *map(str, args)])
    return code, capsys.readouterr()


def test_run_writes_the_report_fields(tmp_path, capsys):
    model = small_onnx(tmp_path / "small.onnx")
    code, captured = _run(capsys, model, "-o", tmp_path / "out")
    assert code == 0 and "onnx output scores: [1, 5] -> caffe blob scores" in captured.out
    report = json.loads((tmp_path / "out" / "small.json").read_text())
    source = report["source"]
    assert source["format"] == "onnx" and source["opset"] == 13 and source["producer"].startswith("pytorch")
    assert len(source["sha256"]) == 64 and source["input_shapes"] == [[1, 3, 16, 16]]
    assert report["inputs"] == [{"name": "image", "shape": [1, 3, 16, 16], "onnx": "image"}]
    assert report["outputs"][0]["onnx"] == "scores" and report["outputs"][0]["name"] == "scores"
    conv = next(layer for layer in report["layers"] if layer["type"] == "Convolution")
    assert conv["onnx_node"]["op_type"] == "Conv"
    assert set(report["initializers"]) >= {"head.weight", "head.bias"}
    assert report["initializers"]["head.weight"][0]["layer"]


def test_symbolic_batch_needs_a_shape(tmp_path, capsys):
    model = small_onnx(tmp_path / "small.onnx", dynamic_batch=True)
    code, captured = _run(capsys, model, "-o", tmp_path / "out")
    assert code == 1 and "image [batch, 3, 16, 16]" in captured.err and not (tmp_path / "out").exists()
    code, captured = _run(capsys, model, "-o", tmp_path / "out", "--input-shape", "image=2,3,16,16")
    assert code == 0
    assert json.loads((tmp_path / "out" / "small.json").read_text())["inputs"][0]["shape"] == [2, 3, 16, 16]


def test_weights_and_torch_options_are_refused(tmp_path, capsys):
    model = small_onnx(tmp_path / "small.onnx")
    code, captured = _run(capsys, model, tmp_path / "w.pth", "-o", tmp_path / "out")
    assert code == 1 and "an ONNX file holds its weights" in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"", b"not a model"])
def test_a_bad_file_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    code, captured = _run(capsys, path, "-o", tmp_path / "out")
    assert code == 1 and len(captured.err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_one_net_per_shape(tmp_path, capsys):
    model = small_onnx(tmp_path / "small.onnx", dynamic_batch=True)
    code, _ = _run(capsys, model, "-o", tmp_path / "out", "--input-shape", "1,3,16,16", "--input-shape", "3,3,16,16")
    assert code == 0
    assert sorted(path.name for path in (tmp_path / "out").glob("*.json")) == ["small_1x3x16x16.json",
                                                                             "small_3x3x16x16.json"]
