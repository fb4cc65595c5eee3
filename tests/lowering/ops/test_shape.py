"""Layout ops: reshape, permute, concat/stack, split/chunk/slicing, expand/repeat, no-ops."""
import pytest
import torch
import torch.nn as nn

from helpers import TOLERANCE, Lambda, export_and_compare, layer_types, random_inputs, relative_error
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.runtimes.launch import run_pycaffe

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


def test_unused_slice_parts_are_eaten_by_identity_crops(tmp_path):
    """No Silence (OpenCV and MNN would list it or its blob as outputs): Crop(kept, unused) copies kept."""
    export_and_compare(Lambda(lambda self, x: x[:, 1:3] * 2), random_inputs([(1, 6, 4, 5)]), tmp_path)
    assert layer_types(tmp_path) == ["Input", "Slice", "Crop", "Crop", "Scale"]  # ×2: a Scale on 4-D blobs


@pytest.mark.parametrize("index", ["last_axis", "two_outputs_one_read", "output_also_read"])
def test_outputs_are_found_by_every_runtime(tmp_path, index):
    """export_and_compare asks OpenCV and MNN for no blob: they must find exactly the outputs themselves."""
    fn = {"last_axis": lambda x: x[..., 1:3] + 1,
          "two_outputs_one_read": lambda x: (x.chunk(3, 1)[2], torch.sigmoid(x.chunk(3, 1)[1])),
          "output_also_read": lambda x: (lambda t: (t, t.exp()))(torch.tanh(x))}[index]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(2, 6, 4, 5)]), tmp_path)
    assert "Silence" not in layer_types(tmp_path)


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


@pytest.mark.parametrize("batch", [1, 3])
def test_constant_outputs_are_made_from_the_input(tmp_path, batch):
    """No Parameter layer (OpenCV lacks it): one input value (Pooling MAX) times 0 plus the constant (the
    bias of an InnerProduct, as every constant is made), whatever the input holds."""
    export_and_compare(WithPriors(), random_inputs([(batch, 3, 4)]), tmp_path)
    types = layer_types(tmp_path)
    assert "Parameter" not in types and types.count("InnerProduct") == 2 and types.count("Pooling") == 2


class ClassToken(nn.Module):
    """A ViT's class token and position embedding: ``torch.cat((cls_token.expand(B, -1, -1), x), dim=1)``."""

    def __init__(self):
        super().__init__()
        self.cls_token = nn.Parameter(torch.randn(1, 1, 8))
        self.pos_embed = nn.Parameter(torch.randn(1, 7, 8))

    def forward(self, x):
        tokens = x.flatten(2).transpose(1, 2)
        return torch.cat((self.cls_token.expand(x.shape[0], -1, -1), tokens), dim=1) + self.pos_embed


CONSTANT_CONCATS = {
    "zeros_padding": lambda x: torch.cat((x, torch.zeros(x.size(0), 3, x.size(2), x.size(3))), 1),
    "new_zeros_full": lambda x: torch.cat([x.new_zeros(x.shape[0], 2, 4, 5), x, x.new_full((x.shape[0], 2, 4, 5), 0.5)], 1),
    "zeros_like_ones_like": lambda x: torch.cat([torch.zeros_like(x), x, torch.ones_like(x)], 3),
    "arbitrary_constant": lambda x: torch.stack([x, torch.arange(60.0).view(1, 3, 4, 5).expand(x.shape[0], -1, -1, -1)], 1),
}


@pytest.mark.parametrize("name", CONSTANT_CONCATS)
def test_concat_with_constants(tmp_path, name):
    fn = CONSTANT_CONCATS[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(2, 3, 4, 5)]), tmp_path)
    assert "Parameter" not in layer_types(tmp_path)


def test_class_token(tmp_path):
    export_and_compare(ClassToken(), random_inputs([(2, 8, 2, 3)]), tmp_path)
    assert "Parameter" not in layer_types(tmp_path)


def test_constant_follows_the_batch(tmp_path):
    """The constant is built from the batch of a traced operand: the net run at batch 3 still matches."""
    model = ClassToken()
    export_and_compare(model, random_inputs([(2, 8, 2, 3)]), tmp_path)
    x = random_inputs([(3, 8, 2, 3)], seed=5)[0]
    got = run_pycaffe(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), {"data": x.numpy()}, ["add"])
    with torch.no_grad():
        expected = model(x).numpy()
    assert relative_error(got["add"], expected) <= TOLERANCE


@pytest.mark.parametrize("fn, text", [
    (lambda x: torch.cat([x, torch.zeros(1, 3, 4, 5)], 0), "along axis 0 is not supported"),
    (lambda x: torch.cat([x, torch.randn(2, 1, 4, 5)], 1), "differs along its first axis"),
])
def test_unbuildable_constants_are_refused(fn, text):
    with pytest.raises(Pt2CaffeError, match=text):
        convert(Lambda(lambda self, x: fn(x)), random_inputs([(2, 3, 4, 5)]))
