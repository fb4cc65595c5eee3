"""Products of two traced tensors: the form each target's cost model picks (pt2caffe.lowering.ops.products),
exact in the runtimes that target names. Several row/column chunks (K 64: about 32 lines per chunk)."""
import pytest
import torch

from helpers import TOLERANCE, Lambda, random_inputs, relative_error
from pt2caffe.conversion import convert, write
from pt2caffe.net.proto import read_prototxt
from pt2caffe.net.targets import TARGETS
from pt2caffe.runtimes.launch import run_mnn, run_opencv, run_pycaffe

SHAPES = [(2, 80, 64), (2, 72, 64)]  # A (T, M, K), Bᵀ (T, N, K): 3 chunks of rows, 3 of columns
RUNS = {"pycaffe": run_pycaffe, "opencv": run_opencv, "mnn": run_mnn}
# target → (whether its form applies A by a two-bottom Scale, the runtimes that must run it exactly)
CASES = {"opencv": (True, ("pycaffe", "opencv")), "pycaffe": (True, ("pycaffe",)),
         "mnn": (False, ("pycaffe", "mnn")), "portable": (False, ("pycaffe", "opencv", "mnn"))}


@pytest.mark.parametrize("target", CASES)
def test_each_target_gets_its_product_form_exactly(tmp_path, target):
    by_scale, runtimes = CASES[target]
    inputs = random_inputs(SHAPES)
    model = Lambda(lambda s, a, b: a @ b.transpose(1, 2))
    report = write(convert(model, inputs, target=TARGETS[target]), str(tmp_path / "net"))
    layers = read_prototxt(str(tmp_path / "net.prototxt")).layer
    assert any(layer.type == "Scale" and len(layer.bottom) == 2 for layer in layers) == by_scale
    assert sum(layer.type == "Concat" for layer in layers) == 1  # the chunks joined once
    expected = (inputs[0].double() @ inputs[1].double().transpose(1, 2)).numpy()
    feeds = {entry["name"]: tensor.numpy() for entry, tensor in zip(report["inputs"], inputs)}
    name = report["outputs"][0]["name"]
    for runtime in runtimes:
        got = RUNS[runtime](str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"), feeds, [name])[name]
        assert relative_error(got.reshape(expected.shape), expected) <= TOLERANCE, runtime
