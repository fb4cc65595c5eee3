"""MobileNetV1-SSD(-Lite) 300×300 config in pytorch-ssd's form (vision/ssd/config/mobilenetv1_ssd_config.py).

``pt2caffe run ... --ssd examples/mobilenet_ssd/vision/ssd/config/mobilenetv1_ssd_config.py`` reads
``specs``, ``image_size``, ``center_variance``, ``size_variance`` and ``iou_threshold`` from it,
and checks ``priors`` against them (clamped, as generate_ssd_priors does by default).
"""
import numpy as np

from vision.utils.box_utils import SSDBoxSizes, SSDSpec, generate_ssd_priors

image_size = 300
image_mean = np.array([127, 127, 127])  # RGB layout
image_std = 128.0
iou_threshold = 0.45
center_variance = 0.1
size_variance = 0.2

specs = [
    SSDSpec(19, 16, SSDBoxSizes(60, 105), [2, 3]),
    SSDSpec(10, 32, SSDBoxSizes(105, 150), [2, 3]),
    SSDSpec(5, 64, SSDBoxSizes(150, 195), [2, 3]),
    SSDSpec(3, 100, SSDBoxSizes(195, 240), [2, 3]),
    SSDSpec(2, 150, SSDBoxSizes(240, 285), [2, 3]),
    SSDSpec(1, 300, SSDBoxSizes(285, 330), [2, 3]),
]

priors = generate_ssd_priors(specs, image_size)
