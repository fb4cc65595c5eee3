"""The Python API: pt2caffe.export(model, example_inputs, path_prefix) writes the files and returns the report."""
import json

from torch import nn

import pt2caffe
from pt2caffe.frontends.torch.shapes import random_inputs


def test_export_returns_the_report_it_writes(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    report = pt2caffe.export(model, random_inputs([(1, 3, 8, 8)])[0], str(tmp_path / "tiny"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.caffemodel", "tiny.json", "tiny.prototxt"]
    assert json.loads((tmp_path / "tiny.json").read_text()) == report
    assert report["outputs"] == [{"name": "3", "shape": [1, 2], "torch": "out"}]
    assert [w["torch"] for w in report["weights"]] == ["0.weight", "0.bias", "3.weight", "3.bias"]
