"""Deploying at another input size: every runtime is either exact or fails loudly, never wrong.

Each zoo net is exported at its own shape, then fed a larger batch and a larger image in every runtime.
Where the report says the axis is free, the outputs must equal PyTorch's at that size; where it says
fixed, the runtime must refuse the input (the guard Reshape layers).
"""
import json
import re

import numpy as np
import pytest
import torch

import zoo
from helpers import TOLERANCE, NoiseFloor, flat_outputs, relative_error
from pt2caffe.conversion import convert, write
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.frontends.torch.shapes import random_inputs
from pt2caffe.runtimes.launch import run_mnn, run_opencv, run_pycaffe
from pt2caffe.net.sizes import InputSizes

RUNTIMES = {"pycaffe": run_pycaffe, "opencv": run_opencv, "mnn": run_mnn}
# Applied to every axis from 2 on: sizes the export was not probed at; the first at which PyTorch itself
# runs the model is used (YOLO-style routes concatenate maps that agree only at some sizes; two inputs
# of a multi-input model may need to keep their ratio).
SPATIAL_GROWTHS = (lambda size: size + 16, lambda size: size + 32, lambda size: 2 * size)


def _changed(shapes, *, batch: int = 0, spatial=lambda size: size):
    return [(shape[0] + batch,) + shape[1:2] + tuple(spatial(d) for d in shape[2:]) for shape in shapes]


def _runnable_shapes(model, shapes, change):
    """(shapes, inputs): the export's shapes with a larger batch, or larger images PyTorch can run."""
    candidates = [_changed(shapes, batch=1)] if change == "batch" else [
        _changed(shapes, spatial=growth) for growth in SPATIAL_GROWTHS]
    for new_shapes in candidates:
        inputs = random_inputs(new_shapes, seed=11)
        try:
            with torch.no_grad():
                model(*inputs)
        except Exception:  # noqa: BLE001 — the model's own refusal of that size (RuntimeError, an assert…)
            continue
        return new_shapes, inputs
    return candidates[0], random_inputs(candidates[0], seed=11)  # the net must refuse it (checked below)


@pytest.fixture(scope="module", params=zoo.ZOO)
def exported(request, tmp_path_factory):
    model, shapes = zoo.load(request.param)
    path = tmp_path_factory.mktemp(request.param)
    report = write(convert(model, random_inputs(shapes)), str(path / "net"))
    sizes = [InputSizes.from_report(entry) for entry in report["input_sizes"]]
    return request.param, model, shapes, report, sizes, path


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize("change", ["batch", "spatial"])
def test_other_size_is_exact_or_refused(exported, runtime, change):
    name, model, shapes, report, sizes, path = exported
    new_shapes, inputs = _runnable_shapes(model, shapes, change)
    valid = all(entry.accepts(shape) for entry, shape in zip(sizes, new_shapes))
    if valid and runtime in zoo.RUNTIME_EXCEPTIONS.get(name, {}):  # listed: still runs, must still fail
        with pytest.raises((Pt2CaffeError, AssertionError)):
            _exact_or_refused(model, report, sizes, path, runtime, new_shapes, inputs)
    else:
        _exact_or_refused(model, report, sizes, path, runtime, new_shapes, inputs)


def _exact_or_refused(model, report, sizes, path, runtime, new_shapes, inputs) -> None:
    """Exact where the report says every changed axis is free, else refused by the guard layers."""
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], inputs)}
    names = [entry["name"] for entry in report["outputs"]]
    run = RUNTIMES[runtime]
    if all(entry.accepts(shape) for entry, shape in zip(sizes, new_shapes)):
        with torch.no_grad():
            expected = [t.numpy() for t in flat_outputs(model(*inputs))]
        got = run(str(path / "net.prototxt"), str(path / "net.caffemodel"), feeds, names)
        floor = NoiseFloor(model, inputs, names)  # OpenCV's and MNN's Winograd rounding (pt2caffe.check.noise)
        for name, reference in zip(names, expected):
            assert got[name].size == reference.size, f"{name}: {got[name].shape} vs torch {reference.shape}"
            error = relative_error(got[name].reshape(reference.shape), reference)
            limit = TOLERANCE if runtime == "pycaffe" else floor.tolerance(name, TOLERANCE)
            assert error <= limit, f"{runtime} {name} at {new_shapes}: relative error {error:.2e}"
    else:
        with pytest.raises(Pt2CaffeError) as refused:
            run(str(path / "net.prototxt"), str(path / "net.caffemodel"), feeds, names)
        # the guard refused it: Caffe's and OpenCV's Reshape layer, MNN's log names the guard layer
        said = str(refused.value) + refused.value.detail
        assert re.search(r"reshape_layer\.cpp|Compute Shape Error for \S*/size_guard_axis", said), said[-2000:]


FULLY_CONVOLUTIONAL = '''
import torch.nn as nn

INPUT_SHAPE = (1, 3, 20, 20)


def build_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         nn.AdaptiveAvgPool2d((3, 3)))
'''


@pytest.fixture
def project(tmp_path):
    (tmp_path / "model.py").write_text(FULLY_CONVOLUTIONAL)
    namespace = {}
    exec(compile(FULLY_CONVOLUTIONAL, str(tmp_path / "model.py"), "exec"), namespace)
    torch.save(namespace["build_model"]().state_dict(), tmp_path / "weights.pth")
    return tmp_path


def test_one_net_per_input_shape_group_each_saying_its_sizes(project, capsys):
    from pt2caffe.cli import main
    code = main(["run", str(project / "model.py"), str(project / "weights.pth"), "-o", str(project / "out"),
                 "--input-shape", "1,3,20,20", "--input-shape", "2,3,27,27"])
    out = capsys.readouterr().out
    assert code == 0
    for suffix, size in (("1x3x20x20", "20×20"), ("2x3x27x27", "27×27")):
        report = json.loads((project / "out" / f"Sequential_{suffix}.json").read_text())
        (sizes,) = report["input_sizes"]
        assert sizes["fixed_axes"] == [1, 2, 3] and sizes["free_axes"] == [0]
        assert " (3, " in sizes["why"][0]  # the adaptive pooling, module 3 of the Sequential
        header = (project / "out" / f"Sequential_{suffix}.prototxt").read_text().splitlines()[:2]
        assert header[0].startswith("# pt2caffe: valid input sizes")
        assert f"C×H×W = 3×{size} fixed" in header[1]
    assert out.count("valid input sizes: data") == 2


def test_check_refuses_an_input_size_the_net_is_not_valid_for(project, capsys):
    from pt2caffe.cli import main
    assert main(["run", str(project / "model.py"), str(project / "weights.pth"), "-o", str(project)]) == 0
    np.save(project / "big.npy", np.ones((1, 3, 24, 24), np.float32))
    capsys.readouterr()
    code = main(["check", str(project / "Sequential.json"), "--input", str(project / "big.npy")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "is valid only for data 1×3×20×20: batch free; C×H×W = 3×20×20 fixed" in err[0]
    assert "--input-shape 1,3,24,24" in err[0]
    np.save(project / "batch.npy", np.ones((3, 3, 20, 20), np.float32))
    assert main(["check", str(project / "Sequential.json"), "--input", str(project / "batch.npy")]) == 0


def test_a_size_free_net_is_reported_free_and_unguarded_but_for_its_channels(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.MaxPool2d(2))
    conversion = convert(model, random_inputs([(1, 3, 17, 17)]))
    (sizes,) = conversion.sizes
    assert sizes.fixed == [1] and sizes.reasons == []
    guards = [layer for layer in conversion.net.layers if "/size_guard_axis" in layer.name]
    assert [layer.params["reshape_param"]["shape"]["dim"] for layer in guards] == [[0, 3, 0, 0]]


@pytest.fixture(scope="module")
def unet_stride(tmp_path_factory):
    """The zoo's U-Net whose skip cat needs H, W multiples of 16, exported at 64×48."""
    model, shapes = zoo.load("unet_stride")
    path = tmp_path_factory.mktemp("unet_stride")
    report = write(convert(model, random_inputs(shapes)), str(path / "net"))
    return model, report, InputSizes.from_report(report["input_sizes"][0]), path


def test_a_unet_is_reported_valid_at_every_multiple_of_its_stride(unet_stride):
    _, report, sizes, path = unet_stride
    assert (sizes.fixed, sizes.multiple, sizes.free_axes()) == ([1], {2: 16, 3: 16}, [0])
    assert sizes.describe() == "data 1×3×64×48: batch free; H, W any multiple of 16; C = 3 fixed"
    assert sizes.reasons[0].startswith("at 2×3×33×25 the model does not convert: ")
    assert report["input_sizes"][0]["multiple_of"] == {"2": 16, "3": 16}
    assert "#   data 1×3×64×48: batch free; H, W any multiple of 16; C = 3 fixed" in (path / "net.prototxt").read_text()


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 80, 64), (1, 3, 72, 48), (1, 3, 64, 56), (1, 3, 40, 24)],
                         ids=["32x32-batch2", "80x64", "72x48", "64x56", "40x24"])
def test_a_unet_is_exact_at_multiples_of_16_and_refused_at_other_sizes(unet_stride, runtime, shape):
    """Two other multiples of 16 (one with another batch): exact in every runtime; sizes that are not (H, W,
    both): refused by the guards there, although PyTorch itself refuses only some of them. (Larger images
    take MNN's Winograd rounding past the noise floor: 2.7e-4 on the output at 96×80, the same with the
    resize matrices of earlier versions, and its resize blobs within 1.5e-6.)"""
    model, report, sizes, path = unet_stride
    assert sizes.accepts(shape) == (shape[2] % 16 == 0 and shape[3] % 16 == 0)
    _exact_or_refused(model, report, [sizes], path, runtime, [shape], random_inputs([shape], seed=5))
