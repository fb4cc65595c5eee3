"""Matrix products with a constant operand (InnerProduct), and the refusal of two traced operands."""
import pytest
import torch
import torch.nn as nn

from helpers import Lambda, export_and_compare, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError


class WithMatrices(nn.Module):
    """Products with parameters on either side, as x @ W, W @ x, mm, bmm, addmm and vectors."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.right = nn.Parameter(torch.randn(6, 5))  # (K, M) for x @ right
        self.left = nn.Parameter(torch.randn(3, 4))  # (M, K) for left @ x, x of shape (..., 4, L)
        self.batched = nn.Parameter(torch.randn(1, 6, 2))
        self.vector = nn.Parameter(torch.randn(6))
        self.register_buffer("bias", torch.randn(5))

    def forward(self, x):
        return self.fn(self, x)


FUNCTIONS = {
    "x@W 2-D": ((4, 6), lambda m, x: x @ m.right),
    "x@W 4-D": ((1, 2, 4, 6), lambda m, x: torch.matmul(x, m.right)),
    "W@x 3-D": ((1, 4, 6), lambda m, x: m.left @ x),
    "W@x 2-D": ((4, 6), lambda m, x: torch.matmul(m.left, x)),
    "mm": ((4, 6), lambda m, x: torch.mm(x, m.right)),
    "mm left": ((4, 6), lambda m, x: m.left.mm(x)),
    "bmm": ((1, 4, 6), lambda m, x: torch.bmm(x, m.batched)),
    "x@v": ((2, 3, 6), lambda m, x: x @ m.vector),
    "v@x": ((1, 6, 3), lambda m, x: m.vector @ x),
    "1-D x": ((6,), lambda m, x: x @ m.right),
    "addmm": ((4, 6), lambda m, x: torch.addmm(m.bias, x, m.right)),
    "addmm beta alpha": ((4, 6), lambda m, x: torch.addmm(m.bias[None], x, m.right, beta=0.5, alpha=2.0)),
    "addmm scalar": ((4, 6), lambda m, x: torch.addmm(torch.tensor(0.3), x, m.right)),
    "addmm left": ((6, 4), lambda m, x: torch.addmm(m.bias[:3, None], m.left, x.t())),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_product_with_constant(tmp_path, name):
    shape, fn = FUNCTIONS[name]
    export_and_compare(WithMatrices(fn), random_inputs([shape]), tmp_path)


def test_batched_constant_is_refused():
    model = Lambda(lambda self, x: torch.bmm(x, self.w.weight.view(2, 3, 3)), w=nn.Linear(3, 6))
    with pytest.raises(Pt2CaffeError, match="not one matrix"):
        convert(model, random_inputs([(2, 4, 3)]))


def test_addmm_with_a_bias_matrix_is_refused():
    model = Lambda(lambda self, x: torch.addmm(self.w.weight, x, self.w.weight), w=nn.Linear(4, 4))
    with pytest.raises(Pt2CaffeError, match="not one bias per output feature"):
        convert(model, random_inputs([(4, 4)]))
