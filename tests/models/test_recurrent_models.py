"""Recurrent zoo models (CRNN, GRU classifier, LSTMCell decoder loop): every mapped blob in pycaffe, the outputs
in OpenCV, each on two random inputs."""
import pytest

import zoo
from helpers import export_and_compare


@pytest.mark.parametrize("name", zoo.RECURRENT)
def test_recurrent_model(tmp_path, name):
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes), tmp_path)
