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


def _net_files(onnx_export):
    out = onnx_export / "out"
    return ["--prototxt", out / "small.prototxt", "--caffemodel", out / "small.caffemodel"]


def test_check_of_the_onnx_file_and_net_without_report(onnx_export, capsys, tmp_path):
    code, out, _, outcome = check([onnx_export / "small.onnx", *_net_files(onnx_export)], capsys, tmp_path)
    assert code == 0, out
    assert outcome["onnxruntime"]["ok"] and outcome["onnxruntime"]["outputs"][0]["output"] == "scores"
    assert len(outcome["blobs"]) > 3 and all(row["verdict"] == "ok" for row in outcome["blobs"])


def test_without_report_a_corrupted_caffemodel_names_the_onnx_node(onnx_export, capsys, tmp_path):
    altered = altered_caffemodel(onnx_export / "out" / "small.caffemodel", "conv2/Conv", tmp_path / "altered.caffemodel")
    code, out, _, outcome = check([onnx_export / "small.onnx", "--prototxt", onnx_export / "out" / "small.prototxt",
                                   "--caffemodel", altered], capsys, tmp_path)
    assert code == 1 and outcome["first_divergence"]["onnx_node"] == {"name": "/conv2/Conv", "op_type": "Conv"}
    assert "ONNX node '/conv2/Conv'" in out and not outcome["onnxruntime"]["ok"]


def test_without_report_symbolic_dims_need_the_input_shape(onnx_export, capsys, tmp_path):
    dynamic = small_onnx(tmp_path / "dynamic.onnx", dynamic_batch=True)
    code, _, err, _ = check([dynamic, *_net_files(onnx_export)], capsys, tmp_path)
    assert code == 1 and "symbolic input dims (image [batch, 3, 16, 16])" in err and len(err.strip().splitlines()) == 1
    code, out, _, outcome = check([dynamic, *_net_files(onnx_export), "--input-shape", "1,3,16,16"], capsys, tmp_path)
    assert code == 0 and outcome["onnxruntime"]["ok"], out


@pytest.mark.parametrize("extra,message", [
    (["weights.pth"], "takes no weights file: an ONNX file holds its weights"),
    (["--unsafe-pickle"], "--unsafe-pickle is for PyTorch models"),
])
def test_check_of_an_onnx_file_refuses_torch_arguments(onnx_export, capsys, tmp_path, extra, message):
    code, _, err, _ = check([onnx_export / "small.onnx", *extra, *_net_files(onnx_export)], capsys, tmp_path)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1


def test_check_of_an_onnx_file_needs_the_net(onnx_export, capsys, tmp_path):
    code, _, err, _ = check([onnx_export / "small.onnx"], capsys, tmp_path)
    assert code != 0 and "needs --prototxt and --caffemodel" in err
