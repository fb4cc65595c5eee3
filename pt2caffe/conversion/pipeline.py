"""From a model and example inputs to a Caffe net in memory: trace → lower → finish → settle outputs →
probe the valid input sizes (nothing is written: pt2caffe.conversion.writing).

The torch front end's trace is one way to get an op graph; :func:`lower_graph` takes an op graph from
any front end (pt2caffe.frontends) and does the rest.
"""
from __future__ import annotations

import functools
import gc
import inspect
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..errors import Pt2CaffeError
from ..frontends.torch.shapes import random_inputs
from ..frontends.torch.trace import trace
from ..graph import Graph
from ..lowering.loop import lower
from ..lowering.registry import is_atomic
from ..net.builder import Blob, NetBuilder
from ..net.dialect import STOCK_SSD
from ..net.outputs import settle_outputs
from ..net.guards import add_guards
from ..net.probes import find_valid_sizes
from ..net.sizes import InputSizes
from ..net.targets import Target, Violation
from ..net.targets.check import net_violations, refusal
from .cost import cost_notes
from .verify import verify_shapes


@dataclass
class Conversion:
    """The net built from one op graph, with the blob of every graph value (the report's mapping)."""

    net: NetBuilder
    graph: Graph
    blobs: dict[int, Blob]  # traced value index → Caffe blob
    output_blobs: list[Blob]
    sizes: list[InputSizes] = field(default_factory=list)  # per net input: the sizes the net is valid for ([] when not probed)
    lint: list[Violation] = field(default_factory=list)  # what of the finished net breaks its target's rules
    ssd: dict | None = None  # set by pt2caffe.ssd (run --ssd): what check needs to compare the detections
    describe: Callable[[dict], None] | None = None  # adds a front end's own fields to the report (ONNX: node names)


def without_gc(function):
    """Run ``function`` with Python's cyclic garbage collector paused (and restored after).

    Tracing and lowering allocate many long-lived objects (ops, values, layers) and no garbage
    cycles worth collecting; the collector's repeated passes over them were a third of the CPU
    time of a 16,000-op export. Reference counting still frees everything else at once.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return wrapper


def _input_names(model: nn.Module, count: int) -> list[str]:
    if count == 1:
        return ["data"]
    try:
        names = [name for name in inspect.signature(model.forward).parameters if name != "self"]
    except (TypeError, ValueError):
        names = []
    return names[:count] if len(names) >= count else [f"data{i}" for i in range(count)]


@without_gc
def convert(model: nn.Module, example_inputs, *, name: str | None = None, capture: bool = False,
            probe_sizes: bool = True, finish: Callable[[Conversion], None] | None = None,
            target: Target | None = None) -> Conversion:
    """Trace ``model`` on ``example_inputs`` and build the Caffe net (nothing is written).

    ``finish(conversion)`` completes the net before its sizes are probed, e.g. pt2caffe.ssd appending
    its head. With ``probe_sizes`` (the default) the model is also converted (and finished) at other
    input shapes to find which axes the net is valid for (pt2caffe.net.probes); guards after the inputs make
    other sizes fail loudly. ``target``: as in :func:`convert_graphs`.
    """
    model.eval()
    inputs = [example_inputs] if isinstance(example_inputs, torch.Tensor) else list(example_inputs)
    return convert_graphs(lambda tensors, keep: trace(model, tensors, capture=keep, is_atomic=is_atomic), inputs,
                          name or type(model).__name__, _input_names(model, len(inputs)), capture=capture,
                          probe_sizes=probe_sizes, finish=finish, target=target)


def convert_graphs(graph_of: Callable[[list, bool], Graph], example_inputs: list, name: str, input_names: list[str],
                   *, capture: bool = False, probe_sizes: bool = True,
                   finish: Callable[[Conversion], None] | None = None, target: Target | None = None) -> Conversion:
    """The net of the op graph that ``graph_of(inputs, capture)`` records (any front end), lowered by
    :func:`lower_graph`; with ``probe_sizes``, recorded and lowered again at probe shapes to find the valid
    input sizes (pt2caffe.net.sizes), and guarded.

    ``target`` (pt2caffe.net.targets): the forms chosen obey its rules, and a finished net that breaks one
    is refused (Pt2CaffeError: one line naming the layer, its module and source line, the rule, the
    target). Without it the net is for ``portable`` and what breaks those rules is only reported
    (``conversion.lint``).
    """
    conversion = lower_graph(graph_of(example_inputs, capture), name, input_names, finish, target)
    if probe_sizes:
        shapes = [tuple(value.shape) for value in conversion.graph.inputs]
        conversion.sizes = find_valid_sizes(
            lambda probe: lower_graph(graph_of(random_inputs(probe, seed=3), False), name, input_names, finish,
                                      target).net,
            conversion.net, shapes)
        add_guards(conversion.net, conversion.sizes)
    conversion.lint = net_violations(conversion.net)
    if conversion.lint and conversion.net.strict:
        raise Pt2CaffeError(refusal(conversion.net, conversion.lint[0]))
    conversion.net.notes.extend(cost_notes(conversion.net, conversion.graph))
    return conversion


def lower_graph(graph: Graph, name: str, input_names: list[str],
                finish: Callable[[Conversion], None] | None = None, target: Target | None = None) -> Conversion:
    """The net of an op graph from any front end: lowered (pt2caffe.lowering), completed by ``finish``, its
    outputs settled for every runtime (pt2caffe.net.outputs), its shapes as Caffe computes them checked
    against the graph's (pt2caffe.conversion.verify). ``input_names`` name the net's inputs, one per
    ``graph.inputs``; ``target`` as in :func:`convert_graphs`. Raises Pt2CaffeError for an op no handler
    lowers (naming it and where), or that has no form ``target`` accepts, and for a net whose shapes differ
    from the graph's (naming the layer, its module and source line)."""
    net = NetBuilder(name, STOCK_SSD, target, strict=target is not None)
    net.notes.extend(graph.notes)
    blobs = lower(graph, net, input_names)
    conversion = Conversion(net, graph, blobs, [blobs[value.index] for value in graph.outputs])
    if finish is not None:
        finish(conversion)
    settle_outputs(conversion.net, conversion.output_blobs)
    verify_shapes(conversion.net, {blobs[value.index].name: value.shape for value in graph.values
                                   if value.index in blobs})
    return conversion
