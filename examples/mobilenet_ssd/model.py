"""MODEL.py for pt2caffe: MobileNetV1-SSD-Lite (pytorch-ssd layout, VOC: 21 classes) at 300×300.

``build_model()`` returns the net as trained (``is_test=False``): forward gives
``(confidences, locations)``, which ``pt2caffe run --ssd vision/ssd/config/mobilenetv1_ssd_config.py``
finds by their sizes and turns into PriorBox + DetectionOutput. ``build_test_model()`` is
pytorch-ssd's test mode (softmax scores and decoded boxes) for the PyTorch-side detections.
"""
import torch

from vision.ssd.mobilenetv1_ssd_lite import create_mobilenetv1_ssd_lite

NUM_CLASSES = 21
INPUT_SHAPE = (1, 3, 300, 300)


def build_model():
    return create_mobilenetv1_ssd_lite(NUM_CLASSES).eval()


def build_test_model():
    return create_mobilenetv1_ssd_lite(NUM_CLASSES, is_test=True).eval()


def example_input(seed: int = 0, batch: int = 1) -> torch.Tensor:
    """A deterministic smooth 'image' in [-1, 1] (pytorch-ssd normalises (pixel − 127) / 128)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, 10, 10, generator=generator) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=(300, 300), mode="bilinear", align_corners=False)


def build_test_model_from(net) -> torch.nn.Module:
    """pytorch-ssd's test mode (softmax scores, corner boxes) with ``net``'s weights."""
    test = build_test_model()
    test.load_state_dict(net.state_dict())
    return test
