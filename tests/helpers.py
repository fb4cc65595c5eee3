"""Export a model, run the net in real Caffe (and OpenCV), compare every mapped blob with PyTorch."""
from __future__ import annotations

import numpy as np
import torch

from pt2caffe.convert import convert, write
from pt2caffe.loading import random_inputs  # noqa: F401  (re-exported for tests)
from pt2caffe.runtime import run_opencv, run_pycaffe

TOLERANCE = 1e-4  # max |caffe − torch| / max |torch|


def relative_error(caffe: np.ndarray, reference: np.ndarray) -> float:
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    diff = float(np.abs(caffe - reference).max()) if reference.size else 0.0
    return diff / scale if scale > 0 else diff


class Lambda(torch.nn.Module):
    """A model made of a function of the inputs, with optional submodules (``self.m``)."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            setattr(self, name, module)

    def forward(self, *inputs):
        return self.fn(self, *inputs)


def export_and_compare(model, inputs, tmp_path, *, opencv: bool = False,
                       tolerance: float = TOLERANCE) -> dict:
    """Export ``model``; assert every compared blob (outputs included) matches in pycaffe (and OpenCV).

    Returns {blob name: relative error} of pycaffe, for tests that want to look closer.
    """
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    conversion = convert(model, inputs, capture=True)
    report = write(conversion, str(tmp_path / "net"))
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], inputs)}
    compared = {row["blob"]: conversion.graph.values[row["value"]].tensor.numpy() for row in report["blobs"]}
    outputs = {entry["name"] for entry in report["outputs"]}
    assert outputs <= set(compared), "every model output must be compared"
    got = run_pycaffe(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), feeds, list(compared))
    errors = {}
    for name, reference in compared.items():
        assert got[name].shape == reference.shape, f"{name}: caffe {got[name].shape} vs torch {reference.shape}"
        errors[name] = relative_error(got[name], reference)
    bad = {name: err for name, err in errors.items() if err > tolerance}
    assert not bad, f"blobs out of tolerance in pycaffe: {bad}"
    _assert_outputs_follow_new_input(model, inputs, report, tmp_path, tolerance)
    if opencv:
        cv_out = run_opencv(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), feeds, sorted(outputs))
        for name in outputs:
            reference = compared[name]
            assert cv_out[name].size == reference.size, f"opencv {name}: {cv_out[name].shape} vs {reference.shape}"
            err = relative_error(cv_out[name].reshape(reference.shape), reference)
            assert err <= tolerance, f"opencv {name}: relative error {err:.2e}"
    return errors


def flat_outputs(result) -> list[torch.Tensor]:
    """A forward's tensors in return order (nested tuples, lists and dicts flattened)."""
    if isinstance(result, dict):
        return [t for item in result.values() for t in flat_outputs(item)]
    if isinstance(result, (list, tuple)):
        return [t for item in result for t in flat_outputs(item)]
    return [result]


def _assert_outputs_follow_new_input(model, inputs, report, tmp_path, tolerance) -> None:
    """Run both on a second input: an export that baked in trace-time values would fail here."""
    fresh = random_inputs([tuple(t.shape) for t in inputs], seed=7)
    with torch.no_grad():
        expected = [t.numpy() for t in flat_outputs(model(*fresh))]
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], fresh)}
    names = [entry["name"] for entry in report["outputs"]]
    got = run_pycaffe(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), feeds, names)
    for name, reference in zip(names, expected):
        err = relative_error(got[name].reshape(reference.shape), reference)
        assert err <= tolerance, f"output {name} on a second input: relative error {err:.2e}"


def layer_types(tmp_path) -> list[str]:
    """The net's layer types in order, without the input-size guards (pt2caffe.sizes)."""
    from pt2caffe.serialize import read_prototxt
    return [layer.type for layer in read_prototxt(str(tmp_path / "net.prototxt")).layer
            if "/size_guard_axis" not in layer.name]
