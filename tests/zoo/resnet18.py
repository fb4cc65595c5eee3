"""ResNet-18 of examples/resnet18 (BasicBlock, layers [2, 2, 2, 2]); widths reduced 4x (16..128), 64x64
input, 10 classes."""

import importlib.util
import os

_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "resnet18", "model.py")
_spec = importlib.util.spec_from_file_location("resnet18_example_model", _EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

INPUT_SHAPE = (1, 3, 64, 64)


def build_model():
    return example.ResNet18(num_classes=10, widths=(16, 32, 64, 128))
