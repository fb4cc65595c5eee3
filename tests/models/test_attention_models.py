"""Zoo group 3 (attention models): every mapped blob in pycaffe; the outputs in pycaffe, OpenCV and MNN on
two different random inputs."""
import pytest
import torch

import zoo
from helpers import export_and_compare


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", zoo.ATTENTION)
def test_attention_model(tmp_path, name, seed):
    """Two different random inputs per model (and pycaffe's outputs on a third inside export_and_compare)."""
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes, seed=seed), tmp_path)


@pytest.mark.parametrize("fast_path", [True, False])
def test_transformer_encoder_matches_both_torch_paths(tmp_path, fast_path):
    """PyTorch's fused fast path (eval + no_grad) and its plain path give the numbers Caffe reproduces."""
    model, shapes = zoo.load("transformer_encoder")
    inputs = zoo.example_inputs(shapes, seed=3)
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(fast_path)
    try:
        export_and_compare(model, inputs, tmp_path)
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)
