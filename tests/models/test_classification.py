"""Zoo group 1 (classification models): every mapped blob in pycaffe, the outputs in OpenCV and MNN."""
import pytest

import zoo
from helpers import export_and_compare


@pytest.mark.parametrize("name", zoo.GROUP1)
def test_classification_model(tmp_path, name):
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes), tmp_path)
