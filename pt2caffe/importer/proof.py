"""Proof of an import: the PyTorch model with the imported weights and the user's Caffe net, run on the
same input, compared at every paired unit and at the model's outputs (check's measures and table).

pycaffe runs a copy of the user's prototxt whose in-place tops are renamed (``conv1`` → ``conv1__v1``
after an in-place ReLU), so a convolution's output is readable before the ReLU overwrites it; the
computation is the same (in-place is only a memory optimisation in Caffe).
"""
from __future__ import annotations

import os
import tempfile

import torch
from google.protobuf import text_format

from ..check.compare import measure
from ..net.proto import read_prototxt
from ..runtimes.launch import run_pycaffe
from .caffe_net import plain_name
from .diagnosis import explain
from .recurrent import marker_feeds

ATOL, RTOL = 1e-5, 1e-4
SHAPE_ONLY = {"Flatten", "Reshape", "Dropout", "Split"}


def single_assignment_prototxt(prototxt: str, user, directory: str) -> str:
    """The user's net as caffe_net read it (TEST-phase layers, every value under its own name), written
    into ``directory`` for pycaffe."""
    net = read_prototxt(prototxt)
    inputs = [layer for layer in net.layer if layer.type == "Input"]
    del net.layer[:]
    net.layer.extend(inputs)
    for layer in user.layers:
        written = net.layer.add()
        written.CopyFrom(layer.proto)
        del written.bottom[:], written.top[:]
        written.bottom.extend(plain_name(name) for name in layer.bottoms)
        written.top.extend(plain_name(name) for name in layer.tops)
    path = os.path.join(directory, "net.prototxt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text_format.MessageToString(net))
    return path


def _last_kind(blob: str, producer: dict) -> str:
    """Type of the layer that last changed ``blob``'s values (shape-only layers skipped)."""
    layer = producer.get(blob)
    while layer is not None and layer.type in SHAPE_ONLY and layer.bottoms:
        layer = producer.get(layer.bottoms[0])
    return layer.type if layer is not None else "Input"


def output_partners(imported) -> list[tuple[str, str | None]]:
    """(PyTorch-side output blob, the user's blob computing the same, or None)."""
    from .matching import translate

    torch_producer, user_producer = imported.torch.net.producer(), imported.user.producer()
    order = {top: i for i, layer in enumerate(imported.user.layers) for top in layer.tops}
    found = []
    for blob in imported.torch.conversion.output_blobs:
        wanted = translate(imported.torch.expr[blob.name], imported.pairs)
        same = sorted((name for name, expr in imported.user_expr.items() if expr == wanted and name in order),
                      key=order.get)
        kind = _last_kind(blob.name, torch_producer)
        alike = [name for name in same if _last_kind(name, user_producer) == kind]
        found.append((blob.name, (alike or same or [None])[0]))
    return found


def run(imported, model, inputs: list[torch.Tensor], trace_values, prototxt: str, caffemodel: str) -> dict:
    """Rows (check's format) for every paired unit and every output, in the PyTorch net's order, plus
    the first divergence and its explanation."""
    values = trace_values(model, inputs)  # PyTorch-side blob name → array
    compared = [(unit.out, other.out, "LSTM" if unit.cell else unit.layers[0].type, other.layers[-1].name,
                 unit.layers[0].origin)
                for unit, other in imported.pairs.items() if unit not in imported.folded and unit.out in values]
    paths = imported.torch.conversion.graph.output_paths
    compared += [(mine, theirs, "output", (theirs or "-").split("#")[0], f"output {paths[i]}")
                 for i, (mine, theirs) in enumerate(output_partners(imported))]
    names = sorted({plain_name(theirs) for _, theirs, *_ in compared if theirs})
    feeds = {plain_name(name): tensor.detach().numpy() for name, tensor in zip(imported.user.inputs, inputs)}
    feeds.update(marker_feeds(imported.user, feeds))
    with tempfile.TemporaryDirectory(prefix="pt2caffe-import-") as directory:
        caffe = run_pycaffe(single_assignment_prototxt(prototxt, imported.user, directory), caffemodel, feeds, names)
    rows = [_row(i, item, values, caffe) for i, item in enumerate(compared)]
    first = next((row for row in rows if row["verdict"] != "ok"), None)
    return {"rows": rows, "first": first, "why": explain(first, imported, values, caffe) if first else ""}


def _row(index: int, item: tuple, values: dict, caffe: dict) -> dict:
    """One compared blob: (PyTorch-side blob, user blob, type, user layer, PyTorch module or output path)."""
    mine, theirs, kind, layer, module = item
    reference = values.get(mine)
    result = {"index": index, "blob": plain_name(theirs) if theirs else "-", "layer": layer, "type": kind,
              "module": module, "source": "", "shape": list(reference.shape) if reference is not None else [],
              "caffe_shape": None, "max_abs": None, "scale": None, "rel": None, "cosine": None,
              "torch_blob": mine, "caffe_blob": theirs}
    array = caffe.get(plain_name(theirs)) if theirs else None
    if array is None or reference is None:
        return dict(result, verdict="missing")
    result["caffe_shape"] = list(array.shape)
    if array.size != reference.size:
        return dict(result, verdict="shape")
    result.update(measure(array.reshape(reference.shape), reference))
    return dict(result, verdict="ok" if result["max_abs"] <= ATOL + RTOL * result["scale"] else "fail")
