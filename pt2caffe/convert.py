"""From a model and example inputs to a Caffe net, its files and the conversion report."""
from __future__ import annotations

import functools
import gc
import inspect
import os
import uuid
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import torch
from torch import nn

from . import __version__
from .builder import Blob, NetBuilder
from .dialect import STOCK_SSD
from .lowering import lower
from .outputs import settle_outputs
from .ops.registry import is_atomic
from .errors import Pt2CaffeError
from .loading import random_inputs
from .serialize import (PROTOTXT_ID_PREFIX, atomic_files, caffemodel_pieces, check_caffemodel_size, json_text,
                        net_proto, pieces_size, prototxt_text, write_caffemodel)
from .sizes import InputSizes, add_guards, find_valid_sizes, header_comment
from .tracer import Graph, trace


@dataclass
class Conversion:
    net: NetBuilder
    graph: Graph
    blobs: dict[int, Blob]  # traced value index → Caffe blob
    output_blobs: list[Blob]
    sizes: list[InputSizes] = field(default_factory=list)  # per net input: the sizes the net is valid for ([] when not probed)
    ssd: dict | None = None  # set by pt2caffe.ssd (run --ssd): what check needs to compare the detections


def _without_gc(function):
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


@_without_gc
def convert(model: nn.Module, example_inputs, *, name: str | None = None, capture: bool = False,
            probe_sizes: bool = True, finish: Callable[[Conversion], None] | None = None) -> Conversion:
    """Trace ``model`` on ``example_inputs`` and build the Caffe net (nothing is written).

    ``finish(conversion)`` completes the net before its sizes are probed, e.g. pt2caffe.ssd appending
    its head. With ``probe_sizes`` (the default) the model is also converted (and finished) at other
    input shapes to find which axes the net is valid for (pt2caffe.sizes); guards after the inputs make
    other sizes fail loudly.
    """
    model.eval()
    conversion = _conversion(model, example_inputs, name, capture, finish)
    if probe_sizes:
        shapes = [tuple(value.shape) for value in conversion.graph.inputs]
        conversion.sizes = find_valid_sizes(
            lambda probe: _conversion(model, random_inputs(probe, seed=3), name, False, finish).net,
            conversion.net, shapes)
        add_guards(conversion.net, conversion.sizes)
    return conversion


def _conversion(model: nn.Module, example_inputs, name: str | None, capture: bool, finish) -> Conversion:
    """One trace of ``model``, its lowering, ``finish``, and the outputs settled (pt2caffe.outputs)."""
    graph, net, blobs = _lower(model, example_inputs, name, capture)
    conversion = Conversion(net, graph, blobs, [blobs[value.index] for value in graph.outputs])
    if finish is not None:
        finish(conversion)
    settle_outputs(conversion.net, conversion.output_blobs)
    return conversion


def _lower(model: nn.Module, example_inputs, name: str | None, capture: bool):
    """(graph, net, blobs): one trace of ``model`` and its lowering."""
    graph = trace(model, example_inputs, capture=capture, is_atomic=is_atomic)
    net = NetBuilder(name or type(model).__name__, STOCK_SSD)
    net.notes.extend(graph.notes)
    blobs = lower(graph, net, _input_names(model, len(graph.inputs)))
    return graph, net, blobs


def _weights_report(net: NetBuilder) -> list[dict]:
    return [{"torch": weight.source, "layer": layer.name, "blob": index, "shape": list(weight.array.shape),
             "transform": weight.transform}
            for layer in net.layers for index, weight in enumerate(layer.weights)]


def _compared_blobs(conversion: Conversion) -> list[dict]:
    """Every Caffe blob that holds a traced tensor, in net order, for ``pt2caffe check``."""
    producer_of = {top: layer for layer in conversion.net.layers for top in layer.tops}
    seen, rows = set(), []
    for value in conversion.graph.values:
        blob = conversion.blobs.get(value.index)
        if blob is None or blob.name in seen or value.producer is None or blob.name not in producer_of:
            continue  # (no producer: a dropped dead layer's blob)
        seen.add(blob.name)
        layer = producer_of[blob.name]
        rows.append({"blob": blob.name, "value": value.index, "layer": layer.name, "type": layer.type,
                     "shape": list(value.shape), "module": value.producer.module_path,
                     "source": value.producer.source})
    order = {layer.name: i for i, layer in enumerate(conversion.net.layers)}
    return sorted(rows, key=lambda row: order[row["layer"]])


def _outputs_report(conversion: Conversion) -> list[dict]:
    """The net's outputs; "torch" names the model output a blob holds, None for appended ones (detection_out)."""
    graph = conversion.graph
    traced = {}
    for value, path in zip(graph.outputs, graph.output_paths):
        if value.index not in conversion.blobs:  # dropped: pt2caffe.ssd replaces a constant priors output
            continue
        traced.setdefault(conversion.blobs[value.index].name, (list(value.shape), path))
    rows = []
    for blob in conversion.output_blobs:
        shape, path = traced.get(blob.name, (list(blob.shape), None))
        rows.append({"name": blob.name, "shape": shape, "torch": path})
    return rows


def report(conversion: Conversion, files: dict, provenance: dict | None = None) -> dict:
    net = conversion.net
    used = {key for layer in net.layers for weight in layer.weights if weight.source
            for key in weight.source.split(", ")}
    return {
        "pt2caffe": __version__,
        "name": net.name,
        "target": net.dialect.name,
        "files": files,
        "source": provenance or {},
        "inputs": [{"name": blob.name, "shape": list(blob.shape)} for blob in net.inputs],
        "input_sizes": [entry.as_report() for entry in conversion.sizes],
        "outputs": _outputs_report(conversion),
        "layers": [{"name": layer.name, "type": layer.type, "bottoms": layer.bottoms, "tops": layer.tops,
                    "module": layer.module, "source": layer.source} for layer in net.layers],
        "weights": _weights_report(net),
        "weights_used": sorted(used),
        "blobs": _compared_blobs(conversion),
        "parameters": net.parameter_count(),
        "notes": net.notes,
        **({"ssd": conversion.ssd} if conversion.ssd else {}),
    }


def _is_finite(array: np.ndarray) -> bool:
    """One fast pass (a float32 sum is finite unless a value is NaN/inf or the sum overflows), exact after."""
    return bool(np.isfinite(array.sum())) or bool(np.isfinite(array).all())


def non_finite(named_arrays) -> str:
    """The names among ``(name, float array)`` pairs whose array holds NaN or infinite values, as a short
    list ("a, b and 3 more"); "" when every value is finite."""
    bad = list(dict.fromkeys(name for name, array in named_arrays if array.size and not _is_finite(array)))
    return ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")


def _note_bad_weights(net: NetBuilder) -> None:
    """Caffe computes NaN/inf from such weights exactly as PyTorch does, so the export stays faithful; but
    the user must know (a diverged training run, a corrupt checkpoint)."""
    bad = non_finite((weight.source or f"{layer.name} (a constant pt2caffe made)", weight.array)
                     for layer in net.layers for weight in layer.weights)
    if bad:
        net.notes.append(f"weights with NaN or infinite values: {bad} (exported as they are: check the checkpoint)")


@_without_gc
def write(conversion: Conversion, path_prefix: str, provenance: dict | None = None) -> dict:
    """Write PREFIX.prototxt, PREFIX.caffemodel and PREFIX.json, all or nothing; return the report.

    The three files carry one fresh export id (a comment line in the prototxt's header, a field of the
    caffemodel that Caffe skips, the JSON's "export_id"), so that ``check`` can tell files of different
    runs apart. Raises Pt2CaffeError, before anything is written, when the caffemodel would exceed
    protobuf's 2 GiB limit; and when writing fails (full disk...), with the old files left as they were.
    """
    paths = {ext: f"{path_prefix}.{ext}" for ext in ("prototxt", "caffemodel", "json")}
    files = {ext: os.path.basename(path) for ext, path in paths.items()}
    _note_bad_weights(conversion.net)
    export_id = uuid.uuid4().hex[:16]
    proto = net_proto(conversion.net)
    pieces = caffemodel_pieces(conversion.net, proto, export_id)
    check_caffemodel_size(pieces_size(pieces), paths["caffemodel"])
    result = dict(report(conversion, files, provenance), export_id=export_id)
    try:
        with atomic_files(list(paths.values())) as (prototxt, caffemodel, report_path):
            with open(prototxt, "w", encoding="utf-8") as handle:  # header comments: sizes, then the export id
                handle.write(header_comment(conversion.sizes) if conversion.sizes else "")
                handle.write(f"{PROTOTXT_ID_PREFIX}{export_id}\n")
                handle.write(prototxt_text(proto))
            with open(caffemodel, "wb") as handle:
                write_caffemodel(pieces, handle)
            with open(report_path, "w", encoding="utf-8") as handle:
                handle.write(json_text(result))
    except OSError as error:
        raise Pt2CaffeError(f"cannot write {path_prefix}.prototxt/.caffemodel/.json: "
                            f"{error.strerror or error} (nothing was changed)") from None
    return result


def export(model: nn.Module, example_inputs, path_prefix: str, *,
           name: str | None = None, provenance: dict | None = None) -> dict:
    """Export ``model`` to ``path_prefix``.prototxt/.caffemodel/.json and return the report (the JSON's content)."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = [example_inputs]
    conversion = convert(model, example_inputs, name=name)
    return write(conversion, path_prefix, provenance)
