"""``pt2caffe check NAME.json`` on an ONNX export: every blob against the front end (naming the first
diverging ONNX node), the outputs against onnxruntime; in pycaffe, OpenCV and MNN."""
import pytest

from check_cases import altered_caffemodel, check
from onnx_export_case import small_onnx
from pt2caffe.cli import main


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx_check")
    model = small_onnx(root / "small.onnx")
    assert main(["run", model, "-o", str(root / "out")]) == 0
    return root


@pytest.mark.parametrize("backend", ["pycaffe", "opencv", "mnn"])
def test_check_passes_against_onnxruntime(onnx_export, capsys, tmp_path, backend):
    code, out, _, outcome = check([onnx_export / "out" / "small.json", "--backend", backend], capsys, tmp_path)
    assert code == 0, out
    assert "onnxruntime output 'scores'" in out and outcome["onnxruntime"]["ok"]
    assert outcome["onnxruntime"]["outputs"][0]["caffe"]["rel"] < 1e-4


def test_corrupted_caffemodel_names_the_onnx_node(onnx_export, capsys, tmp_path):
    report = onnx_export / "out" / "small.json"
    layer = "/conv2/Conv"[1:]  # Caffe layer names drop the leading "/"
    altered = altered_caffemodel(onnx_export / "out" / "small.caffemodel", layer, tmp_path / "altered.caffemodel")
    code, out, err, outcome = check([report, "--caffemodel", altered], capsys, tmp_path)
    assert code == 1
    first = outcome["first_divergence"]
    assert first["module"] == "/conv2/Conv" and first["onnx_node"] == {"name": "/conv2/Conv", "op_type": "Conv"}
    assert "ONNX node '/conv2/Conv'" in out and "small.onnx: node" in out
    assert not outcome["onnxruntime"]["ok"] and "pt2caffe: check failed" in err


def test_a_changed_onnx_file_is_refused(onnx_export, capsys, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("small.json", "small.prototxt", "small.caffemodel"):
        (copy / name).write_bytes((onnx_export / "out" / name).read_bytes())
    model = onnx_export / "small.onnx"
    original = model.read_bytes()
    try:
        model.write_bytes(original + b"\x00")  # an unknown trailing field: still parses, another file
        code, _, err, _ = check([copy / "small.json"], capsys, tmp_path)
    finally:
        model.write_bytes(original)
    assert code == 1 and "changed since the export" in err and len(err.strip().splitlines()) == 1
