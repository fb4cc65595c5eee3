"""The target's layer types are the stock SSD Caffe build's own, and every export uses only those."""
import subprocess
import sys

import pytest

import zoo
from pt2caffe.conversion import convert
from pt2caffe.net.dialect import STOCK_SSD
from pt2caffe.frontends.torch.shapes import random_inputs
from pt2caffe.runtimes.launch import worker_environment
from pt2caffe.net.proto import net_proto

# Registered in stock SSD Caffe but of no use in a deploy net: data sources, losses, evaluation.
NOT_FOR_INFERENCE = {
    "Accuracy", "AnnotatedData", "ContrastiveLoss", "Data", "DetectionEvaluate", "EuclideanLoss",
    "HDF5Data", "HDF5Output", "HingeLoss", "InfogainLoss", "MemoryData", "MultiBoxLoss",
    "MultinomialLogisticLoss", "SigmoidCrossEntropyLoss", "SmoothL1Loss", "SoftmaxWithLoss",
}


@pytest.fixture(scope="module")
def stock_layer_types() -> set[str]:
    """``caffe.layer_type_list()`` of the reference build, read in a child process."""
    code = "import caffe; print(' '.join(caffe.layer_type_list()))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=worker_environment("caffe"))
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_dialect_is_the_stock_build_less_training_layers(stock_layer_types):
    assert NOT_FOR_INFERENCE <= stock_layer_types
    assert set(STOCK_SSD.layers) == stock_layer_types - NOT_FOR_INFERENCE


@pytest.mark.parametrize("name", zoo.ZOO)
def test_zoo_model_uses_only_stock_ssd_layers(name, stock_layer_types):
    model, shapes = zoo.load(name)
    types = {layer.type for layer in net_proto(convert(model, random_inputs(shapes)).net).layer}
    assert types <= stock_layer_types - NOT_FOR_INFERENCE, types - stock_layer_types
