"""Layout ops: reshape, permute, concat/stack, split/chunk/slicing, expand/repeat, no-ops."""
import pytest
import torch
import torch.nn as nn

from helpers import Lambda, export_and_compare, layer_types, random_inputs

FUNCTIONS = {
    "view": lambda x: x.view(1, 6, 20),
    "reshape_infer": lambda x: x.reshape(x.size(0), -1, 4),
    "flatten": lambda x: torch.flatten(x, 1),
    "flatten_middle": lambda x: x.flatten(1, 2),
    "unsqueeze_squeeze": lambda x: x.unsqueeze(2).squeeze(2) + x.unsqueeze(-1).squeeze(),
    "permute": lambda x: x.permute(0, 2, 3, 1),
    "transpose": lambda x: x.transpose(1, 3),
    "channel_shuffle": lambda x: x.view(1, 2, 3, 4, 5).transpose(1, 2).contiguous().view(1, 6, 4, 5),
    "cat": lambda x: torch.cat([x, x * 2, x], 1),
    "cat_last": lambda x: torch.cat((x, -x), dim=-1),
    "stack": lambda x: torch.stack([x, x + 1], 2),
    "chunk_uneven": lambda x: x.chunk(4, 1),  # 6 channels → 2, 2, 2
    "split_sizes": lambda x: torch.split(x, [1, 3, 2], dim=1),
    "split_size": lambda x: x.split(4, 3),
    "unbind": lambda x: x.unbind(1),
    "slice_channels": lambda x: x[:, 2:5],
    "slice_any_axis": lambda x: (x[..., 1:3], x[:, :, -2:], x[:, 1], x[0, :, None, 2:4]),
    "expand": lambda x: x[:, :, :1].expand(1, 6, 4, 5) + x,
    "expand_as": lambda x: x.mean(1, keepdim=True).expand_as(x) * 1.0,
    "repeat": lambda x: x.repeat(1, 2, 1, 3),
    "noops": lambda x: x.contiguous().clone().float().detach() + nn.functional.dropout(x, 0.5, training=False),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_shape_op(tmp_path, name):
    fn = FUNCTIONS[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(1, 6, 4, 5)]), tmp_path)


def test_unused_slice_parts_are_silenced(tmp_path):
    export_and_compare(Lambda(lambda self, x: x[:, 1:3] * 2), random_inputs([(1, 6, 4, 5)]), tmp_path,
                       opencv=True)
    assert layer_types(tmp_path)[-1] == "Silence"


def test_dropout_module_vanishes(tmp_path):
    export_and_compare(nn.Sequential(nn.Dropout(0.3), nn.ReLU()), random_inputs([(1, 3, 4)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "ReLU"]


class WithPriors(nn.Module):
    """Returns a constant beside the result, as ssd.pytorch's (loc, conf, priors) does."""

    def __init__(self):
        super().__init__()
        self.register_buffer("priors", torch.rand(7, 4))

    def forward(self, x):
        return x * 2, self.priors, torch.arange(6.0).view(2, 3)


def test_constant_outputs_become_parameter_layers(tmp_path):
    export_and_compare(WithPriors(), random_inputs([(1, 3, 4)]), tmp_path)
    assert layer_types(tmp_path).count("Parameter") == 2
