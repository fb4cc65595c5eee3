"""``run MODEL.onnx --ssd CONFIG``: the tiny SSD (tests/data/tiny_ssd.py) exported by torch.onnx, its loc/conf
outputs found in the ONNX graph, PriorBox + DetectionOutput appended, and check's SSD comparison and
onnxruntime comparison (loc and conf, no longer net outputs) in pycaffe and OpenCV."""
import importlib.util
import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from pt2caffe.cli import main

TINY = Path(__file__).parents[1] / "data" / "tiny_ssd.py"


@pytest.fixture(scope="module")
def onnx_ssd(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("tiny_ssd_for_onnx", TINY)
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    root = tmp_path_factory.mktemp("onnx_ssd")
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tiny.build_model().eval(), (torch.rand(*tiny.INPUT_SHAPE),), str(root / "tiny.onnx"),
                          opset_version=13, dynamo=False, output_names=["loc", "conf"])
    (root / "ssd.yml").write_text(yaml.safe_dump(tiny.CONFIG))
    assert main(["run", str(root / "tiny.onnx"), "--ssd", str(root / "ssd.yml"), "-o", str(root / "out")]) == 0
    return root


@pytest.mark.parametrize("backend", ["pycaffe", "opencv"])
def test_onnx_ssd_check(onnx_ssd, tmp_path, capsys, backend):
    result = tmp_path / "result.json"
    code = main(["check", str(onnx_ssd / "out" / "tiny.json"), "--backend", backend, "--json", str(result)])
    out = capsys.readouterr().out
    outcome = json.loads(result.read_text())
    assert code == 0, out
    assert outcome["ssd"]["ok"] and [row["output"] for row in outcome["onnxruntime"]["outputs"]] == ["loc", "conf"]
    report = json.loads((onnx_ssd / "out" / "tiny.json").read_text())
    assert report["outputs"][-1]["name"] == "detection_out"
