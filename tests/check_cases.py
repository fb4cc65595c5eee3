"""The small model `pt2caffe check`'s tests export (a module-scoped fixture), the check command as a test
calls it, and the broken variants of its export that every backend must judge alike."""
import json
import textwrap

import pytest
import torch
from google.protobuf import text_format

from pt2caffe.cli import main
from pt2caffe.frontends.torch.loading import load_module
from pt2caffe.net import caffe_pb2
from pt2caffe.net.proto import read_prototxt
from zoo import randomize

MODEL_PY = textwrap.dedent('''
    import torch
    import torch.nn as nn

    INPUT_SHAPE = (1, 3, 32, 32)


    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.stem_pool = nn.MaxPool2d(3, 2, 1)  # Caffe rounds up: a Pooling, then cropped
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(2, 2)  # one Pooling layer in Caffe
            self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            x = self.stem_pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool(torch.relu(self.conv2(x)))
            x = torch.relu(self.conv3(x))
            return self.head(torch.flatten(self.avgpool(x), 1))


    def build_model():
        return Small()
''')


def line_of(fragment: str) -> int:
    return next(i for i, line in enumerate(MODEL_PY.splitlines(), 1) if fragment in line)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """MODEL.py, its randomised weights and the files `pt2caffe run` wrote for them."""
    root = tmp_path_factory.mktemp("check")
    (root / "model.py").write_text(MODEL_PY)
    model = randomize(load_module(str(root / "model.py")).build_model(), seed=1)
    torch.save(model.state_dict(), root / "weights.pth")
    assert main(["run", str(root / "model.py"), str(root / "weights.pth"), "-o", str(root / "out")]) == 0
    return root


def files(export):
    out = export / "out"
    return {"json": out / "Small.json", "prototxt": out / "Small.prototxt", "caffemodel": out / "Small.caffemodel",
            "model": export / "model.py", "weights": export / "weights.pth"}


def check(args, capsys, tmp_path):
    """Run `pt2caffe check ARGS --json`; return (exit code, stdout, stderr, the JSON or None)."""
    result = tmp_path / "result.json"
    result.unlink(missing_ok=True)
    code = main(["check", *map(str, args), "--json", str(result)])
    captured = capsys.readouterr()
    outcome = json.loads(result.read_text()) if result.exists() else None
    return code, captured.out, captured.err, outcome


def altered_caffemodel(source, layer_name, destination):
    """The caffemodel with one weight of ``layer_name`` changed."""
    net = caffe_pb2.NetParameter()
    net.ParseFromString(source.read_bytes())
    layer = next(layer for layer in net.layer if layer.name == layer_name)
    layer.blobs[0].data[3] += 0.5
    destination.write_bytes(net.SerializeToString())
    return destination


def edited_prototxt(source, destination, edit):
    """The prototxt after ``edit(layers by name)``."""
    net = read_prototxt(str(source))
    edit({layer.name: layer for layer in net.layer})
    destination.write_text(text_format.MessageToString(net))
    return destination


def wrong_stride(layer_name):
    def edit(layers):
        param = layers[layer_name].pooling_param
        if param.HasField("stride"):  # one value when the stride is square
            param.stride = 1
        else:
            param.stride_h = param.stride_w = 1
    return edit


def broken_variants(export, tmp_path):
    """The three cases every backend must judge alike: correct, one altered blob, a wrong stride."""
    f = files(export)
    caffemodel = altered_caffemodel(f["caffemodel"], "conv2", tmp_path / "a.caffemodel")
    prototxt = edited_prototxt(f["prototxt"], tmp_path / "s.prototxt", wrong_stride("pool"))
    return {"correct": [f["json"]], "altered": [f["json"], "--caffemodel", caffemodel],
            "stride": [f["json"], "--prototxt", prototxt]}


def verdicts(outcome):
    return [(row["blob"], row["verdict"]) for row in outcome["blobs"]]
