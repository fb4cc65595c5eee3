"""Every verdict of the layer forms (pt2caffe.runtimes.forms, the README's runtime table) is measured
here: each layer form runs in pycaffe, OpenCV and MNN against pycaffe's result."""
from pathlib import Path

import numpy as np
import pytest

from pt2caffe.errors import Pt2CaffeError
from pt2caffe.net.proto import read_prototxt
from pt2caffe.runtimes.forms import FORMS, RUNTIMES, YES
from pt2caffe.runtimes.launch import run_mnn, run_opencv, run_pycaffe

RUNNERS = {"pycaffe": run_pycaffe, "opencv": run_opencv, "mnn": run_mnn}
MATCH, MISS = 1e-5, 1e-3  # relative to max |pycaffe|: "yes" within MATCH, anything else beyond MISS


def write_net(form, directory: Path, rng) -> tuple[str, str]:
    """The form as a prototxt with Input layers, and a caffemodel with random weights."""
    inputs = "\n".join(f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ '
                       + " ".join(f"dim: {d}" for d in shape) + " } } }" for name, shape in form.inputs.items())
    prototxt = directory / "form.prototxt"
    prototxt.write_text(inputs + "\n" + form.layers + "\n")
    net = read_prototxt(str(prototxt))
    for layer in net.layer:
        for shape in form.weights.get(layer.name, []):
            blob = layer.blobs.add()
            blob.shape.dim.extend(shape)
            blob.data.extend(rng.standard_normal(shape).astype(np.float32).ravel().tolist())
    caffemodel = directory / "form.caffemodel"
    caffemodel.write_bytes(net.SerializeToString())
    return str(prototxt), str(caffemodel)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """pycaffe's output of every form on random inputs (pycaffe defines the layers)."""
    rng = np.random.default_rng(0)
    results = {}
    for form in FORMS:
        files = write_net(form, tmp_path_factory.mktemp("form"), rng)
        feeds = {name: rng.uniform(0.1, 2.0, shape).astype(np.float32) for name, shape in form.inputs.items()}
        results[form.name] = files, feeds, run_pycaffe(*files, feeds, ["out"])["out"]
    return results


@pytest.mark.parametrize("runtime", [r for r in RUNTIMES if r != "pycaffe"])
@pytest.mark.parametrize("form", FORMS, ids=[form.name for form in FORMS])
def test_verdict(references, form, runtime):
    files, feeds, expected = references[form.name]
    why = "no 'out' blob returned"
    try:
        got = RUNNERS[runtime](*files, feeds, ["out"]).get("out")
    except Pt2CaffeError as failure:
        got, why = None, str(failure)
    if got is not None and got.size == expected.size:
        error = float(np.abs(got.reshape(expected.shape) - expected).max() / np.abs(expected).max())
        why = f"relative error {error:.2e}"
    elif got is not None:
        error, why = float("inf"), f"shape {got.shape} vs {expected.shape}"
    else:
        error = float("inf")
    if form.verdicts[runtime] == YES:
        assert error <= MATCH, f"{runtime} should run {form.name}: {why}"
    else:
        assert not error <= MISS, f"{runtime} runs {form.name} now ({why}): update the table"  # NaN misses
