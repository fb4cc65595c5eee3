"""The op graph: what a front end produces and lowering reads.

A :class:`Graph` holds the model's inputs, its ops in execution order and its outputs. Each
:class:`Op` is one framework-level call (canonical name, its real arguments with tensors
replaced by :class:`Value` (computed from the inputs) or :class:`Const` (not), the module it ran
in and the user's source line). The front end decides what the names and arguments are
(pt2caffe.frontends.torch: torch's own); lowering maps each op kind to Caffe layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(eq=False)
class Value:
    """A tensor computed from the model inputs during the trace."""

    index: int
    shape: tuple[int, ...]
    dtype: torch.dtype
    producer: "Op | None"
    tensor: torch.Tensor | None = None  # a snapshot, kept when the trace captures

    def __repr__(self) -> str:  # not the dataclass's: it would print the producer's whole upstream graph
        made = f" from {self.producer.kind} at {self.producer.source}" if self.producer else ""
        return f"Value(#{self.index}, {tuple(self.shape)}, {self.dtype}{made})"


@dataclass(eq=False)
class Const:
    """A tensor that does not depend on the inputs.

    ``keys`` names the state_dict entries it was computed from (empty for
    literals), ``derivation`` says how, for the weight audit.
    """

    tensor: torch.Tensor
    keys: tuple[str, ...] = ()
    derivation: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    def describe(self) -> str:
        return self.derivation or (self.keys[0] if self.keys else "constant")

    def __repr__(self) -> str:
        return f"Const({self.describe()}, {self.shape})"


@dataclass(eq=False)
class Op:
    """One recorded torch-level call."""

    kind: str  # canonical name, e.g. "conv2d", "add", "module:L2Norm"
    args: tuple
    kwargs: dict
    outputs: list[Value]
    module_path: str
    module: nn.Module | None
    source: str  # "file:line" of the user's code
    name: str = ""  # unique-ish hint for Caffe names, set by the tracer

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """A call argument by position or keyword, as the user passed it."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def inputs(self) -> list[Value]:
        return [leaf for leaf in leaves((self.args, self.kwargs)) if isinstance(leaf, Value)]

    def where(self) -> str:
        module = self.module_path or "<model>"
        return f"{module} ({self.source})"

    def __repr__(self) -> str:  # short: a traceback shows ops as arguments, and their tensors can be large
        return f"Op({self.kind}, {self.where()}, {len(self.inputs)} inputs, {len(self.outputs)} outputs)"


@dataclass
class Graph:
    inputs: list[Value]
    ops: list[Op]
    outputs: list[Value]
    output_paths: list[str]  # "out[0]", "out['hm']" ... in forward's return order
    values: list[Value] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the export cannot follow (data read as Python values)


def leaves(obj):
    """The non-container items of nested lists, tuples and dicts (an op's arguments), in order."""
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from leaves(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from leaves(item)
    else:
        yield obj
