"""Zoo models built around constructs other converters refuse: every mapped blob in pycaffe, the outputs in
OpenCV and MNN, on two inputs (the harness adds the second)."""
import pytest

import zoo
from helpers import export_and_compare

# Measured: MNN 3.6.1 runs these nets but returns empty (0, 0, 0, 0) outputs once MAX Pooling's second top
# (the argmax mask that MaxUnpool2d needs) is read; pycaffe and OpenCV compute them exactly.
UNPOOLING_IN_MNN = "MNN 3.6.1 gives an empty output for a net that reads MAX Pooling's argmax mask (second top)"
EXCEPTIONS = {"enet": {"mnn": UNPOOLING_IN_MNN}, "segnet": {"mnn": UNPOOLING_IN_MNN}}


@pytest.mark.parametrize("name", zoo.CONSTRUCTS)
def test_construct_model(tmp_path, name):
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes), tmp_path, exceptions=EXCEPTIONS.get(name))
