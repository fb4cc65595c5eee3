"""Reductions: mean/sum over any axes, max/min over a block of axes."""
import pytest
import torch

from helpers import Lambda, export_and_compare, random_inputs

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


@pytest.mark.parametrize("name", FUNCTIONS)
def test_reduction(tmp_path, name):
    fn = FUNCTIONS[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(1, 6, 4, 5)]), tmp_path)
