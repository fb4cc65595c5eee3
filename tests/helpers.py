"""Export a model, run the net in pycaffe, OpenCV and MNN, compare with PyTorch.

pycaffe is compared on every mapped blob; OpenCV and MNN on every model output, which they
must find by themselves (OpenCV's unconnected output layers, in forward's order; MNN's session
outputs) under the output's name. A runtime
that cannot run a test's net is an explicit exception, ``exceptions={"mnn": "reason"}``: the
runtime still runs and must fail (raise or miss the tolerance), so an exception that no
longer applies fails the test instead of hiding a pass.

Tolerance: ``TOLERANCE`` (max |runtime − torch| / max |torch|) on every blob, pycaffe always.
Where an OpenCV or MNN output misses it, the model's own float32 noise at that output is
measured (its float32 forward against a float64 forward of a copy of the model) and the output
passes within ``NOISE_FACTOR`` × that noise (pt2caffe.check.noise says why: the runtimes' Winograd
convolutions); the tolerance stays 1e-4 wherever the runtime meets it.

Targets: ``targets=("nnie", "rknn", "ncnn")`` exports the same model again for each deployment target
(``run --target T``), without size probes. The export must obey the target (it is linted while it is
built) or be refused in one line naming the rule the test lists (``refused={"nnie": "nnie.batch"}``); a
net that differs from the ones already compared (other forms chosen) is compared in pycaffe, OpenCV and
MNN exactly as the portable one, so every form a target makes pt2caffe choose is proved in the runtimes.

Set ``PT2CAFFE_ERROR_LOG`` to a file to append one JSON line per test and runtime with the
worst relative error (the numbers in the notes come from there).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os

import torch

from pt2caffe.conversion import convert, write
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.net.proto import net_proto
from pt2caffe.net.targets import TARGETS
from pt2caffe.frontends.torch.shapes import random_inputs  # noqa: F401  (re-exported for tests)
from pt2caffe.check.noise import NOISE_FACTOR, relative_error  # noqa: F401  (relative_error re-exported for tests)
from pt2caffe.runtimes.launch import run_mnn, run_opencv, run_pycaffe

TOLERANCE = 1e-4  # max |runtime − torch| / max |torch|
RUNTIMES = ("opencv", "mnn")  # run on every model output besides pycaffe
RUNNERS = {"opencv": run_opencv, "mnn": run_mnn}


class Lambda(torch.nn.Module):
    """A model made of a function of the inputs, with optional submodules (``self.m``)."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            setattr(self, name, module)

    def forward(self, *inputs):
        return self.fn(self, *inputs)


def export_and_compare(model, inputs, tmp_path, *, exceptions: dict[str, str] | None = None,
                       tolerance: float = TOLERANCE, targets: tuple[str, ...] = (),
                       refused: dict[str, str] | None = None) -> dict:
    """Export ``model``; assert pycaffe matches on every mapped blob, OpenCV and MNN on every output; then
    the same for its export under each of ``targets`` where that net differs (see the module docstring).

    ``exceptions`` maps a runtime ("opencv", "mnn") to the reason it cannot run this net; that
    runtime must then fail. ``refused`` maps a target of ``targets`` to the id of the rule its one-line
    refusal must name. Returns {blob name: relative error} of pycaffe (the portable export).
    """
    exceptions = dict(exceptions or {})
    assert set(exceptions) <= set(RUNTIMES) and all(exceptions.values()), f"bad exceptions {exceptions}"
    if isinstance(inputs, torch.Tensor):
        inputs = [inputs]
    conversion = convert(model, inputs, capture=True)
    errors = _compare_export(conversion, model, inputs, tmp_path, "net", exceptions, tolerance)
    compared = {_net_key(conversion.net)}
    refused = dict(refused or {})
    assert set(refused) <= set(targets), f"refusals listed for targets not checked: {refused}"
    for name in targets:
        target_conversion = _export_for(model, inputs, name, refused.get(name))
        if target_conversion is not None and _net_key(target_conversion.net) not in compared:
            compared.add(_net_key(target_conversion.net))
            _compare_export(target_conversion, model, inputs, tmp_path, f"net_{name}", exceptions, tolerance)
    return errors


def _compare_export(conversion, model, inputs, tmp_path, stem: str, exceptions, tolerance) -> dict:
    """Write ``conversion`` as tmp_path/STEM.*; compare pycaffe on every mapped blob, OpenCV and MNN on the outputs."""
    report = write(conversion, str(tmp_path / stem))
    files = str(tmp_path / f"{stem}.prototxt"), str(tmp_path / f"{stem}.caffemodel")
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], inputs)}
    compared = {row["blob"]: conversion.graph.values[row["value"]].tensor.numpy() for row in report["blobs"]}
    outputs = [entry["name"] for entry in report["outputs"]]
    assert set(outputs) <= set(compared), "every model output must be compared"
    floor = NoiseFloor(model, inputs, outputs)
    got = run_pycaffe(*files, feeds, list(compared))
    errors = _errors("pycaffe", got, compared)
    bad = {name: err for name, err in errors.items() if err > tolerance}
    assert not bad, f"blobs out of tolerance in pycaffe ({report['target']}): {bad}"
    log_errors("pycaffe", errors)
    _assert_outputs_follow_new_input(model, inputs, report, files, tolerance)
    references = {name: compared[name] for name in outputs}
    silenced = _silenced(conversion.net)
    for runtime in RUNTIMES:
        compare_runtime(runtime, files, feeds, references, floor, tolerance, exceptions.get(runtime),
                         silenced[runtime])
    return errors


def _export_for(model, inputs, target: str, rule: str | None):
    """The model exported under ``target`` (lint clean), or None when it is refused by ``rule`` as expected."""
    try:
        conversion = convert(model, inputs, capture=True, probe_sizes=False, target=TARGETS[target])
    except Pt2CaffeError as error:
        assert rule is not None, f"refused under --target {target}: {error}"
        text = next(r.text for r in TARGETS[target].rules if r.id == rule)
        assert "\n" not in str(error) and f"{target} rule: {text}" in str(error), \
            f"refused under --target {target} by another rule than {rule}: {error}"
        return None
    assert rule is None, f"exports under --target {target} although listed as refused ({rule}): drop the entry"
    assert not conversion.lint, conversion.lint
    return conversion


def _net_key(net) -> str:
    """What the net computes: its layers without input-size guards, and its weights."""
    proto = net_proto(net)
    layers = [layer for layer in proto.layer if "/size_guard_axis" not in layer.name]
    digest = hashlib.sha256("".join(str(layer) for layer in layers).encode())
    for layer in net.layers:
        for weight in layer.weights:
            digest.update(weight.array.tobytes())
    return digest.hexdigest()


def _silenced(net) -> dict[str, set[str]]:
    """What each runtime lists besides the outputs in a net with Silence layers (ncnn's form for unused Slice
    parts, pt2caffe.net.outputs): OpenCV the Silence layers themselves, MNN the blobs they read."""
    layers = [layer for layer in net.layers if layer.type == "Silence"]
    return {"opencv": {layer.name for layer in layers}, "mnn": {b for layer in layers for b in layer.bottoms}}


def compare_runtime(runtime, files, feeds, references, floor, tolerance, exception, silenced=frozenset()) -> None:
    """Run ``runtime`` asking for no blob in particular: the outputs it finds itself (but for ``silenced``) must
    be the model's (OpenCV: in forward's order) and match. Under an exception, assert that it fails."""
    try:
        got = RUNNERS[runtime](*files, feeds, None)
        got = {name: value for name, value in got.items() if name not in silenced}
        found = list(got) if runtime == "opencv" else sorted(got)
        expected = list(references) if runtime == "opencv" else sorted(references)
        assert found == expected, f"{runtime} finds the outputs {found}, the model has {expected}"
        errors = _errors(runtime, got, references)
        bad = {name: err for name, err in errors.items() if err > floor.tolerance(name, tolerance)}
        assert not bad, f"{runtime}: outputs out of tolerance: {bad}"
    except (Pt2CaffeError, AssertionError) as failure:
        if exception is None:
            raise
        log_errors(runtime, {"exception": exception, "failure": str(failure).splitlines()[0][:300]})
        return
    assert exception is None, f"{runtime} passes although listed as an exception ({exception}): drop it"
    log_errors(runtime, errors)


def _errors(runtime, got, references) -> dict[str, float]:
    """{name: relative error}; sizes must agree (OpenCV and MNN may return other ranks)."""
    errors = {}
    for name, reference in references.items():
        value = got[name]
        same = value.shape == reference.shape if runtime == "pycaffe" else value.size == reference.size
        assert same, f"{runtime} {name}: shape {value.shape} vs torch {reference.shape}"
        errors[name] = relative_error(value.reshape(reference.shape), reference)
    return errors


class NoiseFloor:
    """The model's float32 noise per output, measured once on first need (float64 forward)."""

    def __init__(self, model, inputs, outputs):
        self.model, self.inputs, self.outputs = model, inputs, outputs
        self.noise = None

    def tolerance(self, name: str, tolerance: float) -> float:
        """``tolerance``, or NOISE_FACTOR × the float32 noise at output ``name`` if larger."""
        if name not in self.outputs:
            return tolerance
        if self.noise is None:
            self.noise = self._measure()
        return max(tolerance, NOISE_FACTOR * self.noise.get(name, 0.0))

    def _measure(self) -> dict[str, float]:
        try:
            with torch.no_grad():
                single = flat_outputs(self.model(*self.inputs))
                double = flat_outputs(copy.deepcopy(self.model).double()(*[t.double() for t in self.inputs]))
        except (RuntimeError, TypeError):  # a model that cannot run in float64: no floor
            return {}
        return {name: relative_error(s.double().numpy(), d.numpy())
                for name, s, d in zip(self.outputs, single, double) if s.is_floating_point()}


def log_errors(runtime: str, result: dict) -> None:
    """Append the worst of ``result`` {name: relative error} (or its exception) to PT2CAFFE_ERROR_LOG, if set."""
    path = os.environ.get("PT2CAFFE_ERROR_LOG")
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    numbers = [v for v in result.values() if isinstance(v, float)]
    entry = {"test": test, "runtime": runtime, "worst": max(numbers, default=0.0)}
    if "exception" in result:
        entry = {"test": test, "runtime": runtime, **result}
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def flat_outputs(result) -> list[torch.Tensor]:
    """A forward's tensors in return order (nested tuples, lists and dicts flattened)."""
    if isinstance(result, dict):
        return [t for item in result.values() for t in flat_outputs(item)]
    if isinstance(result, (list, tuple)):
        return [t for item in result for t in flat_outputs(item)]
    return [result]


def _assert_outputs_follow_new_input(model, inputs, report, files, tolerance) -> None:
    """Run both on a second input: an export that baked in trace-time values would fail here."""
    fresh = random_inputs([tuple(t.shape) for t in inputs], seed=7)
    with torch.no_grad():
        expected = [t.numpy() for t in flat_outputs(model(*fresh))]
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], fresh)}
    names = [entry["name"] for entry in report["outputs"]]
    got = run_pycaffe(*files, feeds, names)
    for name, reference in zip(names, expected):
        err = relative_error(got[name].reshape(reference.shape), reference)
        assert err <= tolerance, f"output {name} on a second input: relative error {err:.2e}"


def layer_types(tmp_path) -> list[str]:
    """The net's layer types in order, without the input-size guards (pt2caffe.net.sizes)."""
    from pt2caffe.net.proto import read_prototxt
    return [layer.type for layer in read_prototxt(str(tmp_path / "net.prototxt")).layer
            if "/size_guard_axis" not in layer.name]
