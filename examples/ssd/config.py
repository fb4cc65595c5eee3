"""ssd.pytorch's ``data/config.py`` form: the SSD300 configs as plain dicts (``--ssd examples/ssd/config.py:voc``).

pt2caffe reads the dict you name and ignores the training keys (``lr_steps``, ``max_iter``,
``name``); ``clip: True`` is exported exactly (PriorBox + the clamp of (cx, cy, w, h)).
"""
import os.path

HOME = os.path.expanduser("~")
MEANS = (104, 117, 123)

voc = {
    "num_classes": 21,
    "lr_steps": (80000, 100000, 120000),
    "max_iter": 120000,
    "feature_maps": [38, 19, 10, 5, 3, 1],
    "min_dim": 300,
    "steps": [8, 16, 32, 64, 100, 300],
    "min_sizes": [30, 60, 111, 162, 213, 264],
    "max_sizes": [60, 111, 162, 213, 264, 315],
    "aspect_ratios": [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
    "variance": [0.1, 0.2],
    "clip": True,
    "name": "VOC",
}

coco = {
    "num_classes": 201,
    "lr_steps": (280000, 360000, 400000),
    "max_iter": 400000,
    "feature_maps": [38, 19, 10, 5, 3, 1],
    "min_dim": 300,
    "steps": [8, 16, 32, 64, 100, 300],
    "min_sizes": [21, 45, 99, 153, 207, 261],
    "max_sizes": [45, 99, 153, 207, 261, 315],
    "aspect_ratios": [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
    "variance": [0.1, 0.2],
    "clip": True,
    "name": "COCO",
}
