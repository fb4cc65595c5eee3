"""check on index blobs (pooling masks) with ties: a SegNet whose pooled channel is rounding noise around 0 after
a ReLU, so that PyTorch and Caffe pick different positions of equal (all-zero up to 1e-9) windows and the
decoder's values (computed from the pooled map, as SegNet's) land elsewhere. check must say OK with the flips reported, and still FAIL a wrong caffemodel.

The noise: the first convolution's channel 0 weighs the three input channels 1, 1/3 and −4/3 at every tap, so
on a grey image (three equal channels) its exact value is 0 and each runtime's rounding decides the sign;
the second convolution copies that channel through (centre tap 1)."""
import json
import textwrap

import numpy as np
import pytest
import torch

from pt2caffe.cli import main
from pt2caffe.frontends.torch.loading import load_module
from pt2caffe.net import caffe_pb2
from pt2caffe.net.caffemodel import set_blob_data
from zoo import randomize

MODEL_PY = textwrap.dedent('''
    import torch.nn as nn
    import torch.nn.functional as F

    INPUT_SHAPE = (2, 3, 30, 40)


    def stage(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


    class SegNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.mid, self.dec = stage(3, 8), stage(8, 8), stage(8, 8)
            self.classifier = nn.Conv2d(8, 4, 3, padding=1)

        def forward(self, x):
            x = self.enc(x)
            pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
            x = F.max_unpool2d(self.mid(pooled), indices, 2, 2, output_size=x.shape[2:])  # decoder values
            return self.classifier(self.dec(x))


    def build_model():
        return SegNet()
''')


def _noisy_channel(model):
    """Channel 0 of the pooled map: rounding noise around 0 (see the module docstring)."""
    with torch.no_grad():
        first, norm, second, norm2 = model.enc[0], model.enc[1], model.enc[3], model.enc[4]
        first.weight[0] = torch.randn(3, 3).unsqueeze(0) * torch.tensor([1.0, 1 / 3, -4 / 3]).reshape(3, 1, 1)
        second.weight[0] = 0
        second.weight[0, 0, 1, 1] = 1
        for conv, bn in ((first, norm), (second, norm2)):
            conv.bias[0], bn.running_mean[0], bn.bias[0] = 0, 0, 0
    return model


@pytest.fixture(scope="module")
def tied(tmp_path_factory):
    """MODEL.py, its weights, the export and a grey input (three equal channels)."""
    root = tmp_path_factory.mktemp("ties")
    (root / "model.py").write_text(MODEL_PY)
    model = _noisy_channel(randomize(load_module(str(root / "model.py")).build_model(), seed=1))
    torch.save(model.state_dict(), root / "weights.pth")
    assert main(["run", str(root / "model.py"), str(root / "weights.pth"), "-o", str(root / "out")]) == 0
    grey = np.random.default_rng(1).uniform(-1, 1, (2, 1, 30, 40)).astype(np.float32)
    np.save(root / "grey.npy", np.repeat(grey, 3, axis=1))
    return root


def test_tie_flips_pass_and_are_reported(tied, capsys):
    code = main(["check", str(tied / "out" / "SegNet.json"), "--input", str(tied / "grey.npy"),
                      "--json", str(tied / "outcome.json")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    outcome = json.loads((tied / "outcome.json").read_text())
    [mask] = outcome["ties"]
    assert mask["blob"].endswith("/1") and mask["positions"] == mask["ties"] > 10
    example = mask["examples"][0]
    assert example["torch_index"] != example["caffe_index"] and abs(example["caffe_value"]) < 1e-5
    after = [blob["blob"] for blob in outcome["blobs"] if blob.get("reference")]
    assert "max_unpool2d" in after and "classifier" in after  # judged on Caffe's indices
    assert "index tie flips" in printed and f"{mask['blob']}: {mask['positions']}" in printed


@pytest.mark.parametrize("layer,where", [("enc.3", "before the pooling"), ("dec.0", "after the unpooling")])
def test_a_wrong_caffemodel_still_fails(tied, tmp_path, capsys, layer, where):
    model = caffe_pb2.NetParameter()
    model.ParseFromString((tied / "out" / "SegNet.caffemodel").read_bytes())
    blob = next(found for found in model.layer if found.name == layer).blobs[0]
    set_blob_data(blob, np.asarray(blob.data, np.float32) * 1.01)  # 1 % off: far beyond any tie
    (tmp_path / "wrong.caffemodel").write_bytes(model.SerializeToString())
    code = main(["check", str(tied / "out" / "SegNet.json"), "--input", str(tied / "grey.npy"),
                      "--caffemodel", str(tmp_path / "wrong.caffemodel")])
    assert code == 1, f"a caffemodel wrong {where} passed: {capsys.readouterr().out}"


def test_a_runtime_that_cannot_run_the_net_names_the_listed_exception(tied, capsys):
    """MNN's converter drops Pooling's mask top: check --backend mnn fails (a crash, or wrong blobs) in one line
    that names the rule the export's own lint listed, so the user sees a listed exception, not a new fault."""
    code = main(["check", str(tied / "out" / "SegNet.json"), "--backend", "mnn"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert "a listed exception" in err[0] and "mnn.pooling_mask" in err[0] and "Pooling without its mask top" in err[0]


class ThreadCounting(torch.nn.Module):
    """Pools (k, s as given) with indices and unpools; records the thread count of every run."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride, self.threads = kernel, stride, []

    def forward(self, x):
        self.threads.append(torch.get_num_threads())
        pooled, indices = torch.nn.functional.max_pool2d(x, self.kernel, self.stride, return_indices=True)
        return torch.nn.functional.max_unpool2d(pooled * 2, indices, self.kernel, self.stride,
                                                output_size=x.shape[2:])


@pytest.mark.parametrize("kernel,stride,runs", [(3, 2, ["many", 1]), (2, 2, ["many"])],
                         ids=["overlapping windows", "SegNet's windows"])
def test_references_run_on_one_thread_where_unpooling_races(kernel, stride, runs):
    """PyTorch's max_unpool is a race between threads where windows picked one position: check's reference
    for such a model is its one-thread run (the result the export computes), other models run as they are."""
    from pt2caffe.check.torch_side import reference_conversion
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = ThreadCounting(kernel, stride)
        reference_conversion(model, [torch.randn(1, 2, 9, 9)])
    finally:
        torch.set_num_threads(threads)
    assert [count if count == 1 else "many" for count in model.threads] == runs
