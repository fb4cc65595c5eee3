"""Indexing: strided slices on any axis, index assignment on fresh tensors (out of place), refusals."""
import pytest
import torch

from helpers import Lambda, export_and_compare, layer_types, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError


def focus(x):
    """YOLOv5's Focus space-to-depth."""
    return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)


STRIDED = {
    "focus_even": (focus, (2, 3, 6, 8)),
    "odd_sizes": (lambda x: (x[..., 1::2, ::2], x[..., ::2, 1::2]), (2, 3, 7, 9)),
    "channels": (lambda x: x[:, ::2], (2, 5, 4, 6)),
    "start_stop_step": (lambda x: x[..., 1:6:3], (2, 3, 4, 9)),
    "three_axes": (lambda x: x[:, 1::2, 1:4:2, ::3], (2, 5, 7, 9)),
    "batch_axis": (lambda x: x[::2] * 2, (4, 3, 4, 5)),
    "rank3_middle": (lambda x: x[:, ::3, 2:], (2, 7, 5)),
    "rank3_last": (lambda x: x[..., 1::2] + 1, (2, 3, 7)),
    "single_element": (lambda x: x[:, :, 2:3:2, ::4], (2, 3, 5, 5)),
}


@pytest.mark.parametrize("name", STRIDED)
def test_strided_slicing(tmp_path, name):
    fn, shape = STRIDED[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([shape]), tmp_path)


def test_focus_is_one_convolution_per_slice(tmp_path):
    export_and_compare(Lambda(lambda self, x: focus(x)), random_inputs([(2, 3, 6, 8)]), tmp_path)
    assert layer_types(tmp_path) == ["Input"] + ["Convolution"] * 4 + ["Concat"]


def yolo_head(x):
    """YOLOv5's Detect: a fresh tensor (sigmoid), then parts replaced in place."""
    y = x.sigmoid()
    y[..., 0:2] = (y[..., 0:2] * 2. - 0.5) * 8
    y[..., 2:4] = (y[..., 2:4] * 2) ** 2 * 3
    return y.view(x.shape[0], -1, x.shape[-1])


def assign_number_row_block(x):
    y = x * 1.0
    y[:, 0] = 0.5
    y[:, 1:3, 1:2] = x[:, :2, :1] * 3
    return y


def augmented(x):
    """``io[..., :4] *= stride``: a write through the view, assigned back to the same place."""
    io = x.clone()
    io[..., :2] = torch.sigmoid(io[..., :2])
    io[..., :4] *= 8
    return io


def into_zeros(x):
    z = torch.zeros(x.shape[0], 3, 4, 5)
    z[:, 1:2] = x[:, :1]
    return z


def constant_part(x):
    y = x + 1
    y[..., 1:3] = torch.arange(8.0).view(4, 2)
    return y


def broadcast_value(x):
    y = x * 2
    y[:, 1:3, :, 0] = x[:, :1, :, 0]  # (N, 1, 4) repeated over the part (N, 2, 4)
    return y


ASSIGNMENTS = {"broadcast_value": (broadcast_value, (2, 4, 4, 5)), "yolo_head": (yolo_head, (2, 3, 4, 4, 7)), "number_row_block": (assign_number_row_block, (2, 4, 4, 5)),
               "augmented": (augmented, (2, 3, 4, 6)), "into_zeros": (into_zeros, (2, 4, 4, 5)),
               "constant_part": (constant_part, (2, 3, 4, 5))}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_index_assignment(tmp_path, name):
    fn, shape = ASSIGNMENTS[name]
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([shape]), tmp_path)


def test_read_and_written_part_share_one_slice(tmp_path):
    export_and_compare(Lambda(lambda self, x: yolo_head(x)), random_inputs([(2, 3, 4, 4, 7)]), tmp_path)
    assert "Silence" not in layer_types(tmp_path)


def write_through_view(x):
    y = x * 1.0
    rows = y.view(x.shape[0], -1)
    rows[:, 0] = 0
    return y


def sigmoid_part_in_place(x):
    y = x * 1.0
    y[:, :2].sigmoid_()
    return y + 1


@pytest.mark.parametrize("fn, fragments", [
    (write_through_view, ("changed in place at", "(setitem)", "test_indexing.py:")),
    (sigmoid_part_in_place, ("changed in place at", "(sigmoid)", "is used at")),
    (lambda x: x[:, 2:2] + 1, ("empty",)),
])
def test_writes_through_views_and_empty_slices_are_refused(fn, fragments):
    with pytest.raises(Pt2CaffeError) as info:
        convert(Lambda(lambda self, x: fn(x)), random_inputs([(2, 3, 4, 5)]))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
