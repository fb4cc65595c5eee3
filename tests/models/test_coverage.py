"""Zoo group 2 (coverage models): every mapped blob in pycaffe, the outputs in OpenCV and MNN (its Caffe importer
has every layer these nets use; it lacks only Tile and Deconvolution's dilation, which none of them needs)."""
import pytest

import zoo
from helpers import export_and_compare


@pytest.mark.parametrize("name", zoo.GROUP2)
def test_coverage_model(tmp_path, name):
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes), tmp_path)
