"""Converters: one small function per ONNX op_type, registered with ``@converts``, and what they see
(:class:`NodeContext`)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from ...errors import Pt2CaffeError, short

CONVERTERS: dict[str, Callable] = {}
FAMILIES: dict[str, str] = {}  # op_type → the ops/ module that converts it


def converts(*op_types: str, family: str | None = None):
    """Register the decorated ``fn(ctx, *inputs) -> tensor | tuple`` for the given ONNX op_types (``family``:
    the converting module's name, by default the function's).

    ``inputs`` are the node's inputs as torch tensors in the node's order (None for an omitted optional
    input); the result is the node's output(s), a tuple for several (None for an unused optional one).
    The converter computes the node's semantics at ``ctx.opset`` with torch functions.
    """
    def register(fn):
        for op_type in op_types:
            if op_type in CONVERTERS:
                raise RuntimeError(f"two converters for ONNX op {op_type}")
            CONVERTERS[op_type] = fn
            FAMILIES[op_type] = (family or fn.__module__).rsplit(".", 1)[-1]
        return fn
    return register


def converts_functions(family: str, table: dict, arguments: int = 1) -> None:
    """Register each ``{op_type: fn}`` of ops whose semantics are exactly a torch function of their
    ``arguments`` inputs (``fn(x)``, or ``fn(a, b)``), for the module ``family``."""
    for op_type, fn in table.items():
        converts(op_type, family=family)(
            (lambda ctx, x, fn=fn: fn(x)) if arguments == 1 else (lambda ctx, a, b, fn=fn: fn(a, b)))


class NodeContext:
    """One ONNX node as its converter sees it.

    ``opset`` is the model's version of the default ONNX domain (its converter picks the semantics of
    that version: attributes that became inputs, changed defaults); ``static[i]`` says whether input i
    is computed without the model's input values (initializers, constants, shapes), so that it can be
    read as Python data with :meth:`const`; ``float_dtype`` is the floating type the model runs in
    (float32, or float64 when ``check`` measures the float32 noise).
    """

    def __init__(self, node: onnx.NodeProto, index: int, label: str, opset: int, static: list[bool], model: str,
                 read: set[str] = frozenset()):
        self.node = node
        self.read = [bool(name) and name in read for name in node.output]  # per output: does anything use it?
        self.index = index
        self.label = label
        self.opset = opset
        self.static = static
        self.float_dtype = torch.float32
        self.where = f"{model}: node {label!r} ({node.op_type}, opset {opset})"  # for errors
        self.source = f"{model}: node {index} ({node.op_type}, opset {opset})"  # an op's source, beside its label
        self._attributes = {attribute.name: attribute for attribute in node.attribute}

    @property
    def op_type(self) -> str:
        return self.node.op_type

    def uses_beyond_first(self) -> bool:
        """Whether a later node or a graph output reads any output after the first (a mask, pooling indices,
        training statistics): an unread named output is as good as none."""
        return any(self.read[1:])

    def has_attr(self, name: str) -> bool:
        return name in self._attributes

    def attr(self, name: str, default=None):
        """An attribute's value: int, float, str, list, or a torch tensor (tensor attributes); ``default``
        when the node does not set it."""
        proto = self._attributes.get(name)
        if proto is None:
            return default
        value = helper.get_attribute_value(proto)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, onnx.TensorProto):
            return torch.from_numpy(np.array(numpy_helper.to_array(value)))
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [item.decode("utf-8", "replace") for item in value]
        return value

    def attr_graph(self, name: str) -> onnx.GraphProto:
        """A graph attribute (an If's branch) as the GraphProto."""
        return self._attributes[name].g

    def fail(self, problem: str) -> Pt2CaffeError:
        """A one-line error naming the model file, the node, its op_type and the opset: ``raise ctx.fail(...)``."""
        return Pt2CaffeError(f"{self.where}: {problem}")

    def const(self, inputs: list, index: int, what: str):
        """Input ``index`` as Python data (a list, or a number for a 0-d tensor); None when the optional input
        is absent. Raises Pt2CaffeError when it depends on the model's input values (data-dependent)."""
        if index >= len(inputs) or inputs[index] is None:
            return None
        if not self.static[index]:
            raise self.fail(f"its {what} (input {short(self.node.input[index])}) is computed from the model's "
                            "input values: a data-dependent shape or parameter, which a Caffe net cannot have")
        return inputs[index].tolist()
