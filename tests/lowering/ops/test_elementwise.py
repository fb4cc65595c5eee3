"""Arithmetic with tensors, constants and scalars, broadcasting included."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import Lambda, export_and_compare, layer_types, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.runtimes.launch import run_pycaffe

TWO_INPUTS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b.abs() + 0.5),
    "maximum": torch.maximum,
    "minimum": torch.minimum,
    "max_pair": torch.max,
    "inplace_add": lambda a, b: (a + b).add_(b),
}
BROADCASTS = [((1, 4, 5, 6), (1, 4, 5, 6)), ((1, 4, 5, 6), (1, 4, 1, 1)), ((1, 4, 1, 1), (1, 4, 5, 6)),
              ((1, 4, 5, 6), (1, 1, 5, 6)), ((1, 4, 5, 6), (6,)), ((1, 4, 5, 6), (1, 4, 1, 6)),
              ((1, 4, 1, 6), (1, 1, 5, 1))]


@pytest.mark.parametrize("name", TWO_INPUTS)
@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_two_tensors(tmp_path, name, shapes):
    fn = TWO_INPUTS[name]
    export_and_compare(Lambda(lambda self, a, b: fn(a, b)), random_inputs(shapes), tmp_path)


GATES = {  # (x shape, gate shape, layers that repeat the gate to x's shape)
    "squeeze_excite": ((2, 4, 5, 6), (2, 4, 1, 1), ["Deconvolution"]),
    "spatial_attention": ((2, 4, 5, 6), (2, 1, 5, 6), ["Convolution"]),
    "per_row": ((2, 4, 5, 6), (2, 4, 5, 1), ["Deconvolution"]),
    "per_sample": ((2, 4, 5, 6), (2, 1, 1, 1), ["Convolution", "Reshape"]),
    # a copy along the last axis: the cheaper of a Deconvolution and a 1×1 Convolution of ones (net/cost.py)
    "shared_over_batch": ((2, 4, 5, 6), (4, 1, 1), ["Reshape", "Reshape", "Convolution", "Reshape", "Deconvolution",
                                                    "Reshape"]),
    "rank_3": ((2, 3, 7), (2, 3, 1), ["Reshape", "Deconvolution", "Reshape"]),
}


@pytest.mark.parametrize("op", ["mul", "add", "sub", "div"])
@pytest.mark.parametrize("name", GATES)
def test_gate_is_repeated_then_eltwise(tmp_path, name, op):
    """A gate (squeeze-excite, attention) is copied to the full shape by a Deconvolution or 1×1 Convolution of
    ones, then one Eltwise: no two-bottom Scale (MNN's converter crashes), no Tile (OpenCV fails), batch 2."""
    x_shape, gate_shape, repeat = GATES[name]
    fn = TWO_INPUTS[op]
    export_and_compare(Lambda(lambda self, x, g: fn(x, g)), random_inputs([x_shape, gate_shape]), tmp_path)
    # div: |g| + 0.5 (a one-bottom Scale on 4-D gates), 1/g; a two-bottom Scale fails the portability fixture
    types = [t for t in layer_types(tmp_path) if t not in ("Input", "AbsVal", "Power", "Scale")]
    assert types == repeat + ["Eltwise"] and "Tile" not in types


def test_two_sided_broadcast(tmp_path):
    """(N, C, 1, 1) + (N, 1, H, W): each side repeated to (N, C, H, W), then one Eltwise."""
    export_and_compare(Lambda(lambda self, a, b: a * b), random_inputs([(2, 4, 1, 1), (2, 1, 5, 6)]), tmp_path)
    assert sorted(layer_types(tmp_path)) == sorted(["Input", "Input", "Deconvolution", "Convolution", "Eltwise"])


SCALAR = {
    "add": lambda x: x + 2.5, "radd": lambda x: 2.5 + x, "sub": lambda x: x - 1.5, "rsub": lambda x: 1 - x,
    "mul": lambda x: x * 3, "rmul": lambda x: 3 * x, "div": lambda x: x / 4, "rdiv": lambda x: 2 / (x.abs() + 1),
    "imul": lambda x: x.clone().mul_(2), "neg": lambda x: -x, "pow": lambda x: x ** 2, "sqrt": lambda x: x.abs().sqrt(),
    "rsqrt": lambda x: (x.abs() + 1).rsqrt(), "rpow": lambda x: 2 ** x, "exp": torch.exp,
    "pow_number_base": lambda x: torch.pow(1.5, x),  # found by the random graphs: it was refused
    "log": lambda x: torch.log(x.abs() + 0.1), "abs": torch.abs, "max_scalar": lambda x: torch.clamp_min(x, 0.3),
    "maximum_constant": lambda x: torch.maximum(x, torch.tensor(0.3)),
    "minimum_constant": lambda x: torch.minimum(torch.tensor(-0.2), x),
}


@pytest.mark.parametrize("name", SCALAR)
def test_with_scalar(tmp_path, name):
    fn = SCALAR[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(1, 3, 4, 5)]), tmp_path)


def test_sign_is_exact_at_zero_and_at_the_ends_of_float32(tmp_path):
    """0 → 0, the smallest and largest normal numbers → ±1; in pycaffe subnormal numbers too (OpenCV reads
    them as 0: it runs with denormals-are-zero)."""
    x = random_inputs([(1, 2, 4, 5)])[0]
    tiny, huge = torch.finfo(torch.float32).tiny, torch.finfo(torch.float32).max
    x.view(-1)[:6] = torch.tensor([0.0, tiny, -tiny, huge, -huge, 1e-30])
    export_and_compare(Lambda(lambda self, x: torch.sign(x)), [x], tmp_path)
    x.view(-1)[:4] = torch.tensor([tiny / 2 ** 23, -tiny / 2 ** 23, tiny / 3, -tiny / 3])  # subnormal
    got = run_pycaffe(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), {"data": x.numpy()}, ["sign"])
    assert np.array_equal(got["sign"], torch.sign(x).numpy())


@pytest.mark.parametrize("fn, text", [(lambda x: x / 0.0, "x / 0 is ±inf"), (lambda x: 0 / x, "0 / x is 0")])
def test_division_with_a_zero_scalar_is_refused(fn, text):
    with pytest.raises(Pt2CaffeError, match=f"div in .*zero scalar is not supported: in torch {text}"):
        convert(Lambda(lambda self, x: fn(x)), random_inputs([(1, 3, 4, 5)]))


class WithConstants(nn.Module):
    """Parameters and buffers used directly in arithmetic (a learnable per-channel scale, a mean buffer)."""

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(1, 3, 1, 1) + 0.5)
        self.register_buffer("mean", torch.randn(3, 1, 1))
        self.row = nn.Parameter(torch.randn(5))

    def forward(self, x):
        y = (x - self.mean) * self.gamma
        return y + self.row, y / self.gamma.expand_as(y), 1 - self.mean * x, self.mean / (x.abs() + 1)


def test_constant_tensors(tmp_path):
    export_and_compare(WithConstants(), random_inputs([(1, 3, 4, 5)]), tmp_path)


CONSTANT_OPERANDS = {  # constants that are not per-channel become blobs (MNN runs one-bottom Scale on axis 1 only)
    "add_position_embedding": lambda x, c: x + c["pos"],
    "mul_last_axis": lambda x, c: x * c["row"],
    "div_plane": lambda x, c: x / (c["plane"].abs() + 0.5),
    "rsub_plane": lambda x, c: c["plane"] - x,
    "maximum_tensor": lambda x, c: torch.maximum(x, c["row"]),
    "minimum_tensor": lambda x, c: torch.minimum(c["plane"], x),
    "zeros_like_plus": lambda x, c: torch.ones_like(x) * 2 + x,
}


@pytest.mark.parametrize("name", CONSTANT_OPERANDS)
def test_constant_operands(tmp_path, name):
    torch.manual_seed(0)
    constants = {"pos": torch.randn(1, 4, 5, 6), "row": torch.randn(6), "plane": torch.randn(5, 6)}
    fn = CONSTANT_OPERANDS[name]
    export_and_compare(Lambda(lambda self, x: fn(x, constants)), random_inputs([(2, 4, 5, 6)]), tmp_path)
    assert "Parameter" not in layer_types(tmp_path)
