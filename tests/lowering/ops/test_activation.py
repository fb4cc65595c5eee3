"""Activations: native Caffe layers and exact compositions of them."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError

FUNCTIONS = {
    "relu": torch.relu,
    "relu_method": lambda x: x.relu(),
    "relu_inplace": lambda x: F.relu(x * 1.0, inplace=True),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "elu": lambda x: F.elu(x, 0.7),
    "selu": F.selu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu6": F.relu6,
    "hardtanh": lambda x: F.hardtanh(x, -1.0, 2.0),
    "clamp": lambda x: torch.clamp(x, -0.5, 0.25),
    "clamp_min": lambda x: x.clamp(min=0.1),
    "clamp_max": lambda x: x.clamp(max=0.1),
    "clamp_min_above_max": lambda x: torch.clamp(x, 0.5, 0.2),  # torch: max everywhere
    "clamp_constant_bounds": lambda x: torch.clamp(x, min=torch.tensor(-0.5), max=torch.tensor([0.25])),
    "silu": F.silu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "softplus": F.softplus,
    "softplus_beta": lambda x: F.softplus(x, beta=2.0),
    "softplus_threshold_17": lambda x: F.softplus(x, beta=3.0, threshold=17.0),  # beta·x reaches 24
    "mish": F.mish,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "erf": torch.erf,
    "gelu_written_out": lambda x: x * 0.5 * (1 + torch.erf(x / 2 ** 0.5)),  # torch.onnx's GELU before opset 20
    "softmax_channels": lambda x: torch.softmax(x, 1),
    "softmax_last": lambda x: F.softmax(x, dim=-1),
    "log_softmax": lambda x: F.log_softmax(x, 1),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_activation(tmp_path, name):
    fn = FUNCTIONS[name]
    inputs = [t * 8 for t in random_inputs([(1, 4, 5, 6)])]  # reach every kink (−6 … 8)
    export_and_compare(Lambda(lambda self, x: fn(x)), inputs, tmp_path)


def test_erf_near_zero_and_far_out(tmp_path):
    """sign(x) = x·(|x| + 1e-30)⁻¹: 0 at 0, ±1 from tiny values on; erf saturates to ±1 far out."""
    values = torch.tensor([0.0, 1e-30, -1e-20, 1e-7, -3e-5, 0.5, -2.0, 6.0, 40.0, -40.0, 1e30, -3.0])
    export_and_compare(Lambda(lambda self, x: torch.erf(x)), [values.reshape(1, 3, 2, 2)], tmp_path)


@pytest.mark.parametrize("shape", [(1, 4, 5, 6), (2, 4, 3, 5, 6)], ids=["4-D", "5-D"])
@pytest.mark.parametrize("prelu", [nn.PReLU(), nn.PReLU(4, 0.3)])
def test_prelu(tmp_path, prelu, shape):
    with torch.no_grad():
        prelu.weight.uniform_(0.05, 0.5)
    export_and_compare(nn.Sequential(prelu), random_inputs([shape]), tmp_path)


def test_softplus_below_threshold_17_is_refused():
    """torch returns x itself above the threshold, BNLL log(1 + exp(x)): they differ in float32 below 17."""
    with pytest.raises(Pt2CaffeError, match=r"softplus in .*threshold 1 makes torch return x .*≥ 17"):
        convert(Lambda(lambda self, x: F.softplus(x, threshold=1.0)), random_inputs([(1, 2, 3, 3)]))


def test_clamp_with_a_tensor_bound_is_refused():
    with pytest.raises(Pt2CaffeError, match=r"clamp in .*a tensor min bound .*torch\.maximum\(x, min\)"):
        convert(Lambda(lambda self, x: torch.clamp(x, min=torch.full((3, 1, 1), 0.1))), random_inputs([(1, 3, 2, 2)]))


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (2, 3, 4, 5), (2, 3)])
def test_softmax_without_dim_uses_torchs_implicit_dim(tmp_path, shape):
    export_and_compare(Lambda(lambda self, x: F.softmax(x)), [t * 4 for t in random_inputs([shape])], tmp_path)


def test_log_softmax_is_reported_as_not_exact():
    notes = convert(Lambda(lambda self, x: F.log_softmax(x, 1)), random_inputs([(1, 3, 2, 2)])).net.notes
    assert len(notes) == 1 and notes[0].startswith("log_softmax in ") and "not exact: Softmax + Log; −inf" in notes[0]


class SelectiveKernel(nn.Module):
    """SKNet's selective-kernel block (Li et al. 2019, as pytorchcv's SKConvBlock writes it): branches of
    dilation 1 and 2 stacked, their sum pooled and squeezed, a softmax across the branch axis of the
    (N, branches, C) attention weights, the weighted sum."""

    def __init__(self, channels=16, branches=2):
        super().__init__()
        self.branches = nn.ModuleList(nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1 + i, dilation=1 + i, groups=4, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU()) for i in range(branches))
        self.fc1 = nn.Sequential(nn.Conv2d(channels, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.fc2 = nn.Conv2d(8, channels * branches, 1)
        self.softmax = nn.Softmax(dim=1)
        self.shape = (branches, channels)

    def logits(self, x):
        y = torch.stack([branch(x) for branch in self.branches], dim=1)
        return y, self.fc2(self.fc1(F.adaptive_avg_pool2d(y.sum(dim=1), 1))).view(x.size(0), *self.shape)

    def forward(self, x):
        y, w = self.logits(x)
        return (y * self.softmax(w).unsqueeze(-1).unsqueeze(-1)).sum(dim=1)


def test_selective_kernel_block_with_sharp_attention(tmp_path):
    """Exact in pycaffe, OpenCV and MNN with attention logits of ±150 (trained SKNets and pytorchcv's own
    initialisation reach ±170), where MNN's Softmax over the branch axis of (N, 2, 16) gave 0.5 for 0 or 1:
    the export runs that softmax on the last axis between Permutes."""
    model, inputs = SelectiveKernel().eval(), random_inputs([(2, 16, 9, 9)])
    with torch.no_grad():
        sharpen = 150 / float(model.logits(inputs[0])[1].abs().max())
        model.fc2.weight.mul_(sharpen), model.fc2.bias.mul_(sharpen)
    export_and_compare(model, inputs, tmp_path)
    assert "Permute" in (tmp_path / "net.prototxt").read_text()


def test_channel_softmax_of_a_segmentation_map_with_large_logits(tmp_path):
    model = Lambda(lambda self, x: F.softmax(self.head(x), dim=1), head=nn.Conv2d(4, 3, 1))
    with torch.no_grad():
        model.head.weight.mul_(300)
    export_and_compare(model, random_inputs([(1, 4, 6, 7)]), tmp_path)


PERMUTED = ["Permute", "Softmax", "Permute"]


@pytest.mark.parametrize("target,layers", [("portable", PERMUTED), ("mnn", PERMUTED), ("pycaffe", ["Softmax"]),
                                           ("opencv", ["Softmax"])])
def test_softmax_form_follows_the_target(target, layers):
    """The Permute form only where MNN is among the runtimes (its rule mnn.softmax); plain Softmax elsewhere."""
    from pt2caffe.net.targets import TARGETS
    conversion = convert(Lambda(lambda self, x: F.softmax(x, 1)), random_inputs([(1, 2, 16)]),
                         target=TARGETS[target], probe_sizes=False)
    assert [layer.type for layer in conversion.net.layers[1:]] == layers
