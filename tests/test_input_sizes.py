"""Deploying at another input size: every runtime is either exact or fails loudly, never wrong.

Each zoo net is exported at its own shape, then fed a larger batch and a larger image in every runtime.
Where the report says the axis is free, the outputs must equal PyTorch's at that size; where it says
fixed, the runtime must refuse the input (the guard Reshape layers).
"""
import pytest
import torch

import zoo
from helpers import TOLERANCE, flat_outputs, relative_error
from pt2caffe.convert import convert, write
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.loading import random_inputs
from pt2caffe.runtime import run_opencv, run_pycaffe
from pt2caffe.sizes import InputSizes

RUNTIMES = {"pycaffe": run_pycaffe, "opencv": run_opencv}
SPATIAL_GROWTH = 16  # added to every axis from 2 on: a size the export was not probed at


def _changed(shapes, *, batch: int = 0, spatial: int = 0):
    return [(shape[0] + batch,) + shape[1:2] + tuple(d + spatial for d in shape[2:]) for shape in shapes]


@pytest.fixture(scope="module", params=zoo.ZOO)
def exported(request, tmp_path_factory):
    model, shapes = zoo.load(request.param)
    path = tmp_path_factory.mktemp(request.param)
    report = write(convert(model, random_inputs(shapes)), str(path / "net"))
    sizes = [InputSizes(e["name"], tuple(e["shape"]), e["fixed_axes"], e["why"]) for e in report["input_sizes"]]
    return model, shapes, report, sizes, path


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize("change", ["batch", "spatial"])
def test_other_size_is_exact_or_refused(exported, runtime, change):
    model, shapes, report, sizes, path = exported
    new_shapes = _changed(shapes, batch=1) if change == "batch" else _changed(shapes, spatial=SPATIAL_GROWTH)
    inputs = random_inputs(new_shapes, seed=11)
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], inputs)}
    names = [entry["name"] for entry in report["outputs"]]
    run = RUNTIMES[runtime]
    if all(entry.accepts(shape) for entry, shape in zip(sizes, new_shapes)):
        with torch.no_grad():
            expected = [t.numpy() for t in flat_outputs(model(*inputs))]
        got = run(str(path / "net.prototxt"), str(path / "net.caffemodel"), feeds, names)
        for name, reference in zip(names, expected):
            assert got[name].size == reference.size, f"{name}: {got[name].shape} vs torch {reference.shape}"
            error = relative_error(got[name].reshape(reference.shape), reference)
            assert error <= TOLERANCE, f"{runtime} {name} at {new_shapes}: relative error {error:.2e}"
    else:
        with pytest.raises(Pt2CaffeError, match=r"count|srcTotal == dstTotal"):
            run(str(path / "net.prototxt"), str(path / "net.caffemodel"), feeds, names)
