"""Pairing by data flow: ambiguity refused in one line and fixed by --map; a difference that comes from
the PyTorch definition (extra ReLU, other pooling, RGB vs BGR) named with the layer where it starts; the
proof runs on the --input file given (its shape checked first)."""

import numpy as np
import pytest
import torch

from pt2caffe.cli import main
from pt2caffe.conversion.pipeline import convert
from pt2caffe.conversion.writing import write
from pt2caffe.net import caffe_pb2
from pt2caffe.net.proto import read_prototxt
from google.protobuf import text_format

MODELS = '''
import torch
from torch import nn

INPUT_SHAPE = (1, 3, 16, 16)


class Twin(nn.Module):
    """Two identical branches summed: which Caffe branch is which cannot be told from the data flow."""
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        return self.a(x) + self.b(x)


class Plain(nn.Module):
    def __init__(self, relu=False, pool=None, bgr=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 4, 3)
        self.relu, self.pool, self.bgr = relu, pool or nn.MaxPool2d(2, 2), bgr

    def forward(self, x):
        if self.bgr:
            x = torch.cat([x[:, 2:3], x[:, 1:2], x[:, 0:1]], 1)
        x = self.pool(self.conv1(x))
        if self.relu:
            x = torch.relu(x)
        return self.conv2(x)


def twin():
    return Twin().eval()


def plain():
    return Plain().eval()


def extra_relu():
    return Plain(relu=True).eval()


def other_pool():
    return Plain(pool=nn.MaxPool2d(3, 2, 1)).eval()


def bgr():
    return Plain(bgr=True).eval()
'''


@pytest.fixture
def models(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS)
    namespace = {}
    exec(compile(MODELS, str(path), "exec"), namespace)
    return str(path), namespace


def export(namespace, entry, prefix, rename=False):
    """The model ``entry`` exported with pt2caffe (random weights); layer names prefixed with c_ when
    ``rename`` (so that no name can hint the pairing)."""
    torch.manual_seed(0)
    model = namespace[entry]()
    write(convert(model, [torch.rand(1, 3, 16, 16)], probe_sizes=False), prefix)
    if rename:
        net = read_prototxt(prefix + ".prototxt")
        weights = caffe_pb2.NetParameter()
        weights.ParseFromString(open(prefix + ".caffemodel", "rb").read())
        for layer in list(net.layer) + list(weights.layer):
            layer.name = "c_" + layer.name
        open(prefix + ".prototxt", "w").write(text_format.MessageToString(net))
        open(prefix + ".caffemodel", "wb").write(weights.SerializeToString())
    return prefix + ".prototxt", prefix + ".caffemodel", model


def test_ambiguous_pairing_is_refused_then_fixed_by_map(models, tmp_path, capsys):
    path, namespace = models
    prototxt, caffemodel, source = export(namespace, "twin", str(tmp_path / "twin"), rename=True)
    out = tmp_path / "twin.pth"
    assert main(["import", prototxt, caffemodel, path, "--entry", "twin", "-o", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "ambiguous pairing" in error and "c_a" in error and "c_b" in error and "--map" in error
    assert not out.exists()
    fix = tmp_path / "fix.txt"
    fix.write_text("a.weight <- c_a\n")
    assert main(["import", prototxt, caffemodel, path, "--entry", "twin", "-o", str(out), "--map", str(fix)]) == 0
    state = torch.load(out, weights_only=True)
    assert torch.equal(state["a.weight"], source.a.weight) and torch.equal(state["b.weight"], source.b.weight)
    written = (tmp_path / "twin.map.txt").read_text()
    assert main(["import", prototxt, caffemodel, path, "--entry", "twin", "-o", str(tmp_path / "again.pth"),
                 "--map", str(tmp_path / "twin.map.txt")]) == 0  # the written map is accepted back
    assert "a.weight" in written and "<- c_a[0]" in written


@pytest.mark.parametrize("entry, said", [
    ("extra_relu", "before it PyTorch computes [Pooling MAX 2/2 pad 0"),
    ("other_pool", "Pooling MAX 3/2 pad 1"),
    ("bgr", "RGB vs BGR"),
])
def test_a_difference_of_the_pytorch_definition_is_named(models, tmp_path, capsys, entry, said):
    path, namespace = models
    prototxt, caffemodel, _ = export(namespace, "plain", str(tmp_path / "plain"))
    out = tmp_path / "x.pth"
    assert main(["import", prototxt, caffemodel, path, "--entry", entry, "-o", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and said in error and "models.py" in error
    assert not out.exists()


def test_the_same_definition_imports_exactly(models, tmp_path, capsys):
    path, namespace = models
    prototxt, caffemodel, source = export(namespace, "plain", str(tmp_path / "plain"), rename=True)
    out = tmp_path / "plain.pth"
    assert main(["import", prototxt, caffemodel, path, "--entry", "plain", "-o", str(out)]) == 0
    state = torch.load(out, weights_only=True)
    assert all(torch.equal(state[key], value) for key, value in source.state_dict().items())


def test_the_proof_runs_on_the_input_file_given(models, tmp_path, capsys):
    path, namespace = models
    prototxt, caffemodel, _ = export(namespace, "plain", str(tmp_path / "plain"))
    data = tmp_path / "x.npy"
    np.save(data, np.random.RandomState(3).uniform(0, 255, (1, 3, 16, 16)).astype(np.float32))
    out = tmp_path / "plain.pth"
    assert main(["import", prototxt, caffemodel, path, "--entry", "plain", "-o", str(out), "--input", str(data)]) == 0
    assert f"input: {data} (.npy as is)" in capsys.readouterr().out.splitlines()
    np.save(data, np.zeros((1, 3, 8, 8), np.float32))
    assert main(["import", prototxt, caffemodel, path, "--entry", "plain", "-o", str(tmp_path / "y.pth"),
                 "--input", str(data)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "has shape 1x3x8x8, the model takes 1x3x16x16" in error
    assert not (tmp_path / "y.pth").exists()
