"""Zoo models built around constructs other converters refuse: every mapped blob in pycaffe, the outputs in
OpenCV and MNN, on two inputs (the harness adds the second)."""
import pytest

import zoo
from helpers import export_and_compare


@pytest.mark.parametrize("name", zoo.CONSTRUCTS)
def test_construct_model(tmp_path, name):
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes), tmp_path, exceptions=zoo.RUNTIME_EXCEPTIONS.get(name))
