"""ssd.pytorch's L2Norm and F.normalize over channels → Caffe Normalize."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, layer_types, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.net.proto import read_prototxt


class L2Norm(nn.Module):
    """ssd.pytorch's module (examples/ssd/model.py has the same)."""

    def __init__(self, channels: int, eps: float = 1e-10):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(channels).uniform_(5, 20, generator=torch.Generator().manual_seed(1)))

    def forward(self, x):
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return self.weight.unsqueeze(0).unsqueeze(2).unsqueeze(3).expand_as(x) * torch.div(x, norm)


def conv_l2norm(eps: float = 1e-10) -> nn.Module:
    """A conv before the norm, so that the Normalize reads a computed blob as in SSD."""
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), L2Norm(16, eps)).eval()


def test_l2norm_becomes_one_normalize(tmp_path):
    export_and_compare(conv_l2norm(), random_inputs([(2, 3, 6, 7)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Convolution", "Normalize"]
    layers = read_prototxt(str(tmp_path / "net.prototxt")).layer
    param = next(layer for layer in layers if layer.type == "Normalize").norm_param
    assert (param.across_spatial, param.channel_shared) == (False, False)
    assert param.eps == pytest.approx(1e-20)  # eps² (see pt2caffe/lowering/ops/ssd.py)


def test_l2norm_approximation_is_reported(tmp_path):
    from pt2caffe.conversion import write
    report = write(convert(conv_l2norm(), random_inputs([(1, 3, 4, 4)])), str(tmp_path / "net"))
    assert len(report["notes"]) == 1
    assert report["notes"][0].startswith("module:L2Norm in 1 (") and "not exact" in report["notes"][0]


def test_l2norm_on_small_norms_stays_within_its_bound(tmp_path):
    x = random_inputs([(1, 16, 5, 5)])[0]
    x[:, :, :2] *= 1e-5  # norms ~1e-5 at those positions: deviation ≤ eps/‖x‖ = 1e-5 of the scale
    export_and_compare(nn.Sequential(L2Norm(16)), [x], tmp_path)


def test_l2norm_with_a_large_eps_is_exported_op_by_op(tmp_path):
    export_and_compare(conv_l2norm(eps=1e-2), random_inputs([(1, 3, 6, 7)]), tmp_path)  # OpenCV lacks Reduction
    assert "Normalize" not in layer_types(tmp_path)


def test_module_named_l2norm_that_computes_something_else_is_refused():
    class L2Norm(nn.Module):  # noqa: F811  (a look-alike: normalises over the whole map)
        def __init__(self):
            super().__init__()
            self.eps = 1e-10
            self.weight = nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x / (x.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt() + self.eps) * self.weight.view(1, -1, 1, 1)

    with pytest.raises(Pt2CaffeError, match="does not compute x / "):
        convert(nn.Sequential(L2Norm()), random_inputs([(1, 4, 3, 3)]))


@pytest.mark.parametrize("shape", [(2, 6, 4, 5), (3, 6)], ids=str)
def test_functional_normalize(tmp_path, shape):
    export_and_compare(Lambda(lambda self, x: F.normalize(x, dim=1) * 3), random_inputs([shape]), tmp_path)
    assert "Normalize" in layer_types(tmp_path)


def test_functional_normalize_with_a_large_eps_is_refused():
    with pytest.raises(Pt2CaffeError, match=r"normalize in .*eps 0.001 > 1e-06"):
        convert(Lambda(lambda self, x: F.normalize(x, dim=1, eps=1e-3)), random_inputs([(1, 6, 4, 5)]))
