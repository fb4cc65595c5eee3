"""What the tracer records, and what it refuses to follow silently."""
import pytest
import torch
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs
from pt2caffe.conversion import convert
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.frontends.torch.trace import trace


def test_records_module_path_and_user_line():
    model = Lambda(lambda self, x: self.conv(x).relu(), conv=torch.nn.Conv2d(3, 4, 3))
    graph = trace(model, random_inputs([(1, 3, 5, 5)]))
    assert [(op.kind, op.module_path) for op in graph.ops] == [("conv2d", "conv"), ("relu", "")]
    assert all(op.source.endswith(f"test_tracer.py:{test_records_module_path_and_user_line.__code__.co_firstlineno + 1}")
               for op in graph.ops)


@pytest.mark.parametrize("name,fn", [
    ("T", lambda x: x.flatten(1).T * 1.0),
    ("mT", lambda x: x.mT + 1.0),
    ("data", lambda x: x.data * 2.0),
    ("concatenate_axis", lambda x: torch.concatenate([x, x], axis=1)),
    ("swapaxes_kwargs", lambda x: torch.swapaxes(x, axis0=1, axis1=2)),
])
def test_tensor_properties_and_aliases(tmp_path, name, fn):
    exceptions = {"mnn": "MNN's Permute of a 2-D blob (order 1, 0) returns a (60, 1, 60, 60) blob"}
    export_and_compare(Lambda(lambda self, x: fn(x)), random_inputs([(1, 3, 4, 5)]), tmp_path,
                       exceptions=exceptions if name == "T" else None)


def expect_refusal(fn, *fragments):
    with pytest.raises(Pt2CaffeError) as info:
        convert(Lambda(lambda self, x: fn(x)), random_inputs([(1, 3, 4, 5)]))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_in_place_on_a_fresh_tensor_is_fine(tmp_path):
    export_and_compare(Lambda(lambda self, x: F.relu(x * 2.0, inplace=True).add_(1.0)),
                       random_inputs([(1, 3, 4, 5)]), tmp_path)


def test_comparison_is_an_unsupported_op():
    expect_refusal(lambda x: x * (x == x.relu()), "unsupported op eq", "test_tracer.py:")


def test_half_precision_cast_is_refused():
    expect_refusal(lambda x: x.half().float(), "casts to torch.float16")


def test_reading_values_is_noted():
    conversion = convert(Lambda(lambda self, x: x * float(x.abs().max())), random_inputs([(1, 3, 4, 5)]))
    assert len(conversion.net.notes) == 1
    assert "reads the values of a traced tensor (item" in conversion.net.notes[0] or \
        "(__float__)" in conversion.net.notes[0]
