"""Arithmetic with tensors, constants and scalars, broadcasting included."""
import pytest
import torch
import torch.nn as nn

from helpers import Lambda, export_and_compare, random_inputs
from pt2caffe.convert import convert
from pt2caffe.errors import Pt2CaffeError

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


SCALAR = {
    "add": lambda x: x + 2.5, "radd": lambda x: 2.5 + x, "sub": lambda x: x - 1.5, "rsub": lambda x: 1 - x,
    "mul": lambda x: x * 3, "rmul": lambda x: 3 * x, "div": lambda x: x / 4, "rdiv": lambda x: 2 / (x.abs() + 1),
    "imul": lambda x: x.clone().mul_(2), "neg": lambda x: -x, "pow": lambda x: x ** 2, "sqrt": lambda x: x.abs().sqrt(),
    "rsqrt": lambda x: (x.abs() + 1).rsqrt(), "rpow": lambda x: 2 ** x, "exp": torch.exp,
    "log": lambda x: torch.log(x.abs() + 0.1), "abs": torch.abs, "max_scalar": lambda x: torch.clamp_min(x, 0.3),
    "maximum_constant": lambda x: torch.maximum(x, torch.tensor(0.3)),
    "minimum_constant": lambda x: torch.minimum(torch.tensor(-0.2), x),
}


@pytest.mark.parametrize("name", SCALAR)
def test_with_scalar(tmp_path, name):
    fn = SCALAR[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(1, 3, 4, 5)]), tmp_path, opencv=True)


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
    export_and_compare(WithConstants(), random_inputs([(1, 3, 4, 5)]), tmp_path, opencv=True)
