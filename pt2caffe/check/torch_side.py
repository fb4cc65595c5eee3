"""The PyTorch side of ``check``: the model with its weights, the input, and every traced tensor captured
as the reference of its Caffe blob."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..console import Progress, print_note
from ..conversion.pipeline import convert
from ..conversion.report import report as conversion_report
from ..conversion.writing import non_finite
from ..errors import Pt2CaffeError
from ..frontends.torch.loading import load
from ..frontends.torch.trace import trace
from ..lowering.ops.unpooling import overlapping_unpooling
from ..lowering.registry import is_atomic
from ..net.sizes import InputSizes
from .inputs import load_inputs
from .subject import CaffeNet, Subject


@dataclass
class TorchSide:
    rows: list[dict]  # the report's blob rows: Caffe blob ↔ traced value, in net order
    references: dict  # blob → the captured torch tensor as float32 array
    graph: object = None  # the traced graph (SSD: the model's own priors output)
    bad_weights: str = ""  # state_dict keys holding NaN/inf ("" when all are finite)
    model: object = None  # the model and its inputs, for the float32 noise floor (pt2caffe.check.noise)
    inputs: list = field(default_factory=list)
    onnx_outputs: list | None = None  # an ONNX model's graph outputs and their blobs (report key "onnx_outputs")


def load_torch(subject: Subject, progress: Progress):
    """The PyTorch model with its weights, and its input shapes."""
    progress.step(f"loading {subject.model}")
    model, shapes, notes = load(subject.model, subject.weights, entry=subject.entry, shapes=subject.input_shapes,
                                unsafe_pickle=subject.unsafe_pickle, strict=not subject.non_strict)
    for note in notes:
        print_note(note, progress)
    return model, shapes


def load_inputs_for(subject: Subject, input_path: str | None, net: CaffeNet, shapes: list[tuple[int, ...]]):
    """The input tensors (random, or ``input_path``) for a model taking ``shapes``, and the note saying what
    they are; a shape the export is not valid for is refused."""
    if len(net.inputs) != len(shapes):
        raise Pt2CaffeError(f"{subject.prototxt} has {len(net.inputs)} inputs ({', '.join(net.inputs)}), "
                            f"the model takes {len(shapes)}")
    valid = [InputSizes.from_report(entry) for entry in (subject.report or {}).get("input_sizes", [])]
    inputs, input_note = load_inputs(input_path, shapes, net.inputs,
                                     (lambda index, shape: refuse_invalid_size(subject, valid[index], shape))
                                     if valid else None)
    return inputs, input_note


def refuse_invalid_size(subject: Subject, sizes: InputSizes, shape: tuple[int, ...]) -> None:
    """Raise Pt2CaffeError when ``shape`` is not a size the report says the net is valid for
    (pt2caffe.net.sizes): the net would stop in its guard, or was never exact at that size."""
    if not sizes.accepts(shape):
        why = f" ({sizes.why()})" if sizes.reasons else ""
        raise Pt2CaffeError(f"{subject.prototxt} is valid only for {sizes.describe()}{why}; the input "
                            f"is {'×'.join(map(str, shape))}: export again with --input-shape "
                            f"{','.join(map(str, shape))}")


def trace_torch(subject: Subject, model, inputs, progress: Progress) -> TorchSide:
    """Run PyTorch once, capturing every traced op's output; the mapping from NAME.json, or made now when
    there is no report or the input has another (valid) size than the export: a net valid at both sizes
    lowers to the same layers and blob names (pt2caffe.net.sizes), only the shapes differ."""
    progress.step(f"running PyTorch ({type(model).__name__}) and tracing every op")
    conversion = reference_conversion(model, inputs)
    exported = [entry["shape"] for entry in subject.report["inputs"]] if subject.report else None
    same_size = exported == [list(tensor.shape) for tensor in inputs]
    rows = subject.report["blobs"] if same_size else conversion_report(conversion, {})["blobs"]
    bad = non_finite((key, tensor.detach().cpu().numpy()) for key, tensor in model.state_dict().items()
                     if tensor.is_floating_point())
    return TorchSide(rows, reference_arrays(rows, conversion.graph, subject.prefix + ".json"), conversion.graph, bad,
                     model, inputs)


def reference_conversion(model, inputs):
    """The model traced with every value captured; run again on one thread when a MaxUnpool2d reads indices of
    overlapping windows, where PyTorch's CPU kernel is a race between threads and only the one-thread result
    is defined (pt2caffe/lowering/ops/unpooling.py)."""
    conversion = convert(model, inputs, capture=True, probe_sizes=False)
    if not overlapping_unpooling(conversion.graph):
        return conversion
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return convert(model, inputs, capture=True, probe_sizes=False)
    finally:
        torch.set_num_threads(threads)


def reference_arrays(rows: list[dict], graph, origin: str) -> dict[str, np.ndarray]:
    """The captured torch tensor of every row, refusing a trace that no longer matches the report."""
    arrays = {}
    for row in rows:
        index = row["value"]
        value = graph.values[index] if 0 <= index < len(graph.values) else None
        if value is None or value.tensor is None or list(value.shape) != list(row["shape"]):
            raise Pt2CaffeError(f"the model no longer traces like the export in {origin} (blob {row['blob']}: "
                                f"value {index} should be {'x'.join(map(str, row['shape']))}); export it again")
        arrays[row["blob"]] = value.tensor.detach().cpu().numpy().astype(np.float32, copy=False)
    return arrays


def indexed_values(torch_side: TorchSide) -> dict[int, np.ndarray]:
    """PyTorch's arrays of the tensors the index rows point into (pooling inputs, argmax inputs)."""
    wanted = {row["index"]["of"] for row in torch_side.rows if row.get("index")}
    return {index: torch_side.graph.values[index].tensor.detach().cpu().numpy() for index in wanted
            if torch_side.graph is not None and torch_side.graph.values[index].tensor is not None}


def references_on_indices(torch_side: TorchSide, rows: list[dict], runtime: dict) -> dict[str, np.ndarray]:
    """Every row's reference from PyTorch run again with the runtime's arrays in place of the index values of
    ``rows`` (the model goes on from the runtime's picks, pt2caffe.check.ties)."""
    substitute = {row["value"]: torch.from_numpy(np.rint(runtime[row["blob"]]).astype(np.int64)).reshape(row["shape"])
                  for row in rows}
    graph = trace(torch_side.model, torch_side.inputs, capture=True, is_atomic=is_atomic, substitute=substitute)
    return reference_arrays(torch_side.rows, graph, "the run on the runtime's indices")
