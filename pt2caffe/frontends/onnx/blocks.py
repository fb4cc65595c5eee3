"""The nodes of one ONNX graph (the model's, or an If branch's) as modules, checked and run in order.

A :class:`Block` holds one module per node: a :class:`NodeModule` (its converter) or an :class:`IfModule`
(an If whose condition is a constant, such as a shape test: the chosen branch's nodes run inline, as if
written there). Node modules give the tracer a module path per node, which pt2caffe.frontends.onnx.trace
maps back to the node.
"""
from __future__ import annotations

import traceback
from collections import ChainMap

import onnx
from torch import nn

from ...errors import Pt2CaffeError, one_line, short
from . import ops  # noqa: F401  (registers every converter family)
from .registry import CONVERTERS, NodeContext

# Ops whose outputs depend on their input's shape only, never on its values.
SHAPE_ONLY = {"Shape", "Size"}
# Ops whose output shape or values follow the input's values in a way a fixed Caffe net cannot; on constant
# inputs they are computed like any other node (their result is a constant).
DATA_DEPENDENT = {"NonZero", "NonMaxSuppression", "TopK", "Unique", "Compress", "Loop", "If", "Scan", "ArgMax",
                  "ArgMin", "RoiAlign", "MaxRoiPool", "RandomNormal", "RandomUniform", "RandomNormalLike",
                  "RandomUniformLike", "Multinomial", "Bernoulli"}


def read_values(graph: onnx.GraphProto) -> set[str]:
    """Every value name a node reads (in subgraphs too) or the graph returns."""
    names = {value.name for value in graph.output}
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                names |= read_values(subgraph)
    return names


def node_labels(nodes, prefix: str = "") -> list[str]:
    """One unique, non-empty label per node: its name, else its first output's name (Netron shows both),
    with ``#index`` appended to a repeated one; ``prefix`` for a branch's nodes."""
    labels, seen = [], set()
    for index, node in enumerate(nodes):
        label = prefix + (node.name or next((name for name in node.output if name), f"{node.op_type}_{index}"))
        if label in seen:
            label = f"{label}#{index}"
        seen.add(label)
        labels.append(label)
    return labels


class NodeModule(nn.Module):
    """One node: calling it runs its converter."""

    def __init__(self, ctx: NodeContext):
        super().__init__()
        self.ctx = ctx

    def forward(self, *inputs):
        return CONVERTERS[self.ctx.op_type](self.ctx, *inputs)


class Block(nn.Module):
    """The nodes of one graph, in order; ``outputs`` its output names. Built with ``known`` (names visible
    from outside: inputs, initializers, an enclosing graph's values) and ``static`` (those of them computed
    without the model's input values). Raises Pt2CaffeError (one line) for a node reading a value nothing
    provides, of another domain, without converter, or data-dependent on the input's values."""

    def __init__(self, graph: onnx.GraphProto, known: set[str], static: set[str], opset: int, model: str,
                 prefix: str = "", read: set[str] = frozenset()):
        super().__init__()
        self.outputs = [value.name for value in graph.output]
        self.nodes = nn.ModuleList()
        known, static = set(known), set(static)
        for index, (node, label) in enumerate(zip(graph.node, node_labels(graph.node, prefix))):
            missing = next((name for name in node.input if name and name not in known), None)
            if missing is not None:
                raise Pt2CaffeError(f"{model}: node {label!r} ({node.op_type}) reads {short(missing)}, which no "
                                    "earlier node, input or initializer provides (out of order or incomplete)")
            ctx = NodeContext(node, index, label, opset, [not name or name in static for name in node.input], model,
                              read)
            module = _module(ctx, known, static, model, read)
            self.nodes.append(module)
            known.update(node.output)
            if module.static if isinstance(module, IfModule) else node.op_type in SHAPE_ONLY or all(ctx.static):
                static.update(node.output)
        missing = next((name for name in self.outputs if name not in known), None)
        if missing is not None:
            raise Pt2CaffeError(f"{model}: graph output {short(missing)} is computed by no node")
        self.static = all(name in static for name in self.outputs)  # computed without the input's values

    def run(self, scope) -> list:
        """Run every node, reading and writing values in ``scope`` (a dict); the block's outputs."""
        for module in self.nodes:
            ctx = module.ctx
            arguments = [scope[name] if name else None for name in ctx.node.input]
            results = module.choose(arguments[0]).run(ChainMap({}, scope)) if isinstance(module, IfModule) \
                else _computed(module, arguments)
            for name, value in zip(ctx.node.output, results):
                if name:
                    scope[name] = value
        return [scope[name] for name in self.outputs]


class IfModule(nn.Module):
    """An If whose condition is computed without the input's values: both branches are built, the one the
    condition picks at trace time runs (pt2caffe.graph's ops then carry no trace of the other)."""

    def __init__(self, ctx: NodeContext, known: set[str], static: set[str], model: str, read: set[str]):
        super().__init__()
        self.ctx = ctx
        self.then_branch = Block(ctx.attr_graph("then_branch"), known, static, ctx.opset, model, ctx.label + "/then/",
                                 read)
        self.else_branch = Block(ctx.attr_graph("else_branch"), known, static, ctx.opset, model, ctx.label + "/else/",
                                 read)
        self.static = self.then_branch.static and self.else_branch.static

    def choose(self, condition) -> Block:
        return self.then_branch if bool(condition.reshape(-1)[0]) else self.else_branch


def _module(ctx: NodeContext, known: set[str], static: set[str], model: str, read: set[str]) -> nn.Module:
    if ctx.node.domain not in ("", "ai.onnx"):
        raise ctx.fail(f"operators of domain {short(ctx.node.domain)} are not supported (only the standard ONNX domain)")
    if ctx.op_type in DATA_DEPENDENT and not all(ctx.static):
        raise ctx.fail("its result depends on the input's values in a way a Caffe net (fixed shapes and layers) "
                       "cannot compute (data-dependent)")
    if ctx.op_type == "If":
        return IfModule(ctx, known, static, model, read)
    if ctx.op_type not in CONVERTERS:
        raise ctx.fail(f"pt2caffe has no converter for {ctx.op_type}")
    return NodeModule(ctx)


def _computed(module: NodeModule, arguments: list) -> tuple:
    try:
        result = module(*arguments)
    except Pt2CaffeError:
        raise
    except Exception as error:  # noqa: BLE001 (torch raises many kinds on inputs a node cannot take)
        raise Pt2CaffeError(f"{module.ctx.where} could not be computed: {type(error).__name__}: "
                            f"{one_line(str(error), 400)}", traceback.format_exc()) from None
    return result if isinstance(result, (tuple, list)) else (result,)
