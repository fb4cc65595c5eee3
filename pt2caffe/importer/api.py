"""``import_model``: MODEL.py + a Caffe net and its weights → the model's state_dict, proved.

Nothing is written unless the proof passes: then OUT.pth (the state_dict, loadable with
``load_state_dict(strict=True)``) and OUT.map.txt (where each key came from, editable, accepted back
by ``--map``), both or neither.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import torch

from ..check.inputs import load_inputs
from ..conversion.pipeline import convert
from ..frontends.torch.loading import build_model, load_module
from ..frontends.torch.shapes import input_shapes
from ..frontends.torch.trace import trace
from ..lowering.registry import is_atomic
from ..net.files import write_files
from .mapfile import map_text, read_map
from .pipeline import Imported, import_weights
from .proof import run


@dataclass
class Outcome:
    imported: Imported
    rows: list[dict]  # check's rows: every paired layer, then every output
    first: dict | None  # the first row out of tolerance
    why: str  # what differs in the PyTorch definition, when it can be said
    skipped: list[str]  # the user's layers no compared blob depends on
    written: list[str]
    input: str = ""  # what both models were fed (check's note: random with its seed, or the file)


def map_path(out: str) -> str:
    """OUT.pth → OUT.map.txt beside it."""
    return (out[:-4] if out.endswith(".pth") else out) + ".map.txt"


def _values(conversion):
    """(model, inputs) → {PyTorch-side blob name: array} from one capturing trace."""
    def values(model, inputs):
        graph = trace(model, inputs, capture=True, is_atomic=is_atomic)
        return {blob.name: graph.values[i].tensor.detach().numpy() for i, blob in conversion.blobs.items()
                if i < len(graph.values) and graph.values[i].tensor is not None}
    return values


def skipped_layers(imported: Imported, compared: set[str]) -> list[str]:
    """The user's layers that no compared blob depends on (PriorBox, DetectionOutput, a final Softmax …)."""
    producer = imported.user.producer()
    needed, todo = set(), list(compared)
    while todo:
        layer = producer.get(todo.pop())
        if layer is not None and id(layer) not in needed:
            needed.add(id(layer))
            todo.extend(layer.bottoms)
    return [f"{layer.name} ({layer.type})" for layer in imported.user.layers if id(layer) not in needed]


def import_model(model_path: str, prototxt: str, caffemodel: str, out: str, *, entry: str = "build_model",
                 shapes: list[str] | None = None, map_file: str | None = None, input_file: str | None = None) -> Outcome:
    """Import ``caffemodel`` into ``entry()`` of ``model_path``, prove it on one input (``input_file``, or
    random in [-1, 1) of ``shapes`` / INPUT_SHAPE), and write ``out`` + its map when the proof passes.
    Raises Pt2CaffeError (one line) for a file that cannot be used, a layer without counterpart or an
    ambiguous pairing; a failed proof is in the returned Outcome (``first``, ``why``), nothing written."""
    module = load_module(model_path)
    model = build_model(module, model_path, entry).eval()
    sizes = input_shapes(module, model_path, shapes)
    inputs, fed = load_inputs(input_file, sizes, [f"data{i}" for i in range(len(sizes))])
    entries = read_map(map_file) if map_file else {}
    imported = import_weights(model, lambda m: convert(m, inputs, probe_sizes=False), prototxt, caffemodel,
                              entries, map_file or "")
    model.load_state_dict(imported.state, strict=True)
    proof = run(imported, model, inputs, _values(imported.torch.conversion), prototxt, caffemodel)
    compared = {row["caffe_blob"] for row in proof["rows"] if row.get("caffe_blob")}
    outcome = Outcome(imported, proof["rows"], proof["first"], proof["why"], skipped_layers(imported, compared), [], fed)
    if outcome.first is None:
        buffer = io.BytesIO()
        torch.save(imported.state, buffer)
        write_files({out: buffer.getvalue(), map_path(out): map_text(imported.rows)})
        outcome.written = [out, map_path(out)]
    return outcome
