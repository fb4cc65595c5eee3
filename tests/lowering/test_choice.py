"""ctx.choose: the cheapest form the target accepts is written; tried forms leave nothing behind; no legal
form is a one-line refusal naming the op, its source line, the rule and the target (under --target)."""
import pytest
import torch
import torch.nn as nn

from pt2caffe.conversion.pipeline import lower_graph
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.frontends.torch.trace import trace
from pt2caffe.graph import Op
from pt2caffe.lowering.choice import Form
from pt2caffe.lowering.context import OpContext
from pt2caffe.lowering.registry import is_atomic
from pt2caffe.net.builder import NetBuilder
from pt2caffe.net.dialect import STOCK_SSD
from pt2caffe.net.targets import TARGETS


def context(target=None, strict=False):
    builder = NetBuilder("net", STOCK_SSD, target, strict=strict)
    data = builder.input("data", (1, 8, 4, 4))
    op = Op(kind="probe", args=(), kwargs={}, outputs=[], module_path="block.probe", module=None,
            source="model.py:7", name="probe")
    return OpContext(op, builder, {}), data


def permute(ctx, blob, order, role):
    shape = tuple(blob.shape[axis] for axis in order)
    return ctx.layer("Permute", [blob], {"permute_param": {"order": order}}, role=role, shape=shape)


def test_the_cheapest_legal_form_is_written_once():
    ctx, data = context(TARGETS["nnie"])
    two = Form("two permutes", lambda ctx: permute(ctx, permute(ctx, data, [0, 2, 3, 1], "a"), [0, 2, 3, 1], "b"))
    one = Form("one permute", lambda ctx: permute(ctx, data, [0, 1, 3, 2], "c"))
    three = Form("three permutes", lambda ctx: permute(ctx, permute(ctx, permute(
        ctx, data, [0, 2, 3, 1], "d"), [0, 2, 3, 1], "e"), [0, 2, 3, 1], "f"))
    top = ctx.choose(two, one, three)  # "one" is cheapest but breaks NNIE's Permute rule
    assert [layer.name for layer in ctx.builder.layers] == ["data", "probe/a", "probe/b"]
    assert top.name == "probe/b" and top.shape == (1, 4, 8, 4)


def test_tried_forms_give_their_names_back():
    ctx, data = context(TARGETS["ncnn"])
    ctx.choose(Form("a", lambda ctx: permute(ctx, data, [0, 1, 3, 2], "x")),
               Form("b", lambda ctx: permute(ctx, permute(ctx, data, [0, 1, 3, 2], "x"), [0, 1, 3, 2], "x")))
    assert [layer.name for layer in ctx.builder.layers] == ["data", "probe/x"]
    assert ctx.builder.unique_name("probe/x") == "probe/x_1"


def test_no_legal_form_under_a_target_is_one_line_naming_op_rule_and_target():
    ctx, data = context(TARGETS["nnie"], strict=True)
    with pytest.raises(Pt2CaffeError) as error:
        ctx.choose(Form("swap", lambda ctx: permute(ctx, data, [0, 1, 3, 2], "swap")))
    message = str(error.value)
    assert "\n" not in message
    for part in ("probe in block.probe", "model.py:7", "Permute only (0,1,2,3) → (0,2,3,1)", "target nnie"):
        assert part in message


def test_the_default_target_only_reports():
    ctx, data = context()
    ctx.choose(Form("reduce", lambda ctx: ctx.layer("Reduction", [data], {"reduction_param": {"axis": 2}},
                                                   shape=(1, 8))))
    assert [layer.type for layer in ctx.builder.layers] == ["Input", "Reduction"]


class BatchConcat(nn.Module):
    def forward(self, x):
        return torch.cat([x, torch.relu(x)], 0)  # along the batch: no form keeps it apart


def test_a_net_breaking_the_target_is_refused_naming_layer_source_rule_and_target():
    graph = trace(BatchConcat(), (torch.randn(1, 8, 4, 4),), is_atomic=is_atomic)
    assert lower_graph(graph, "net", ["data"]).net.layers  # the default target writes it
    with pytest.raises(Pt2CaffeError) as error:
        from pt2caffe.conversion.pipeline import convert
        convert(BatchConcat(), (torch.randn(1, 8, 4, 4),), target=TARGETS["ncnn"])
    message = str(error.value)
    assert "\n" not in message and "test_choice.py" in message and "target ncnn" in message
    assert "ncnn rule: no operation on the batch axis" in message
