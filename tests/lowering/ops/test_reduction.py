"""Reductions: mean/sum over any axes, max/min over a block of axes."""
import pytest
import torch

from helpers import Lambda, export_and_compare, layer_types, random_inputs

FUNCTIONS = {
    "mean_hw": lambda x: x.mean((2, 3)),
    "mean_hw_keepdim": lambda x: x.mean(dim=(2, 3), keepdim=True),
    "sum_hw_keepdim": lambda x: x.sum(dim=(2, 3), keepdim=True),
    "mean_channels": lambda x: torch.mean(x, dim=1, keepdim=True),
    "sum_last": lambda x: x.sum(-1),
    "mean_all": lambda x: x.mean(),
    "sum_1_3": lambda x: x.sum((1, 3)),
    "max_channels": lambda x: torch.max(x, dim=1, keepdim=True)[0],
    "amax_channels": lambda x: torch.amax(x, 1, keepdim=True),
    "amin_hw": lambda x: x.amin((2, 3)),
    "min_last": lambda x: x.min(-1).values,
    "amax_empty_dim": lambda x: torch.amax(x, dim=()),  # an empty dim means every axis
    "amin_empty_dim": lambda x: torch.amin(x, dim=[], keepdim=True),
    "sum_empty_dim": lambda x: x.sum(dim=()),
    "mean_empty_dim": lambda x: torch.mean(x, dim=[], keepdim=True),
}


# A 0-d result is a Reshape to no axes: OpenCV refuses it ("dstTotal != 0" in computeShapeByReshapeMask),
# MNN 3.6.1 dies loading it (SIGSEGV). With keepdim=True the same reduction runs everywhere.
ZERO_D = {"opencv": "a 0-d output: OpenCV's Reshape cannot make a blob without axes",
          "mnn": "a 0-d output: MNN crashes (SIGSEGV) on a Reshape to no axes"}
SCALAR_RESULTS = {"mean_all", "amax_empty_dim", "sum_empty_dim"}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_reduction(tmp_path, name):
    """No Reduction layer (OpenCV lacks it): every reduction is one Pooling over a (A, 1, D, B) view."""
    fn = FUNCTIONS[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(2, 6, 4, 5)]), tmp_path,
                       exceptions=ZERO_D if name in SCALAR_RESULTS else None)
    types = layer_types(tmp_path)
    assert "Reduction" not in types and types.count("Pooling") == 1
