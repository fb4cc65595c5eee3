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
