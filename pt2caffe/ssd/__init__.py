"""SSD heads from the user's own config: PriorBox per source, exact prior clamp, conf Softmax, DetectionOutput.

``pt2caffe run ... --ssd CONFIG`` appends them to the exported net (:func:`append_from_config`),
``pt2caffe add-priorbox CONFIG`` to an existing prototxt (:func:`main`). The parts:

* :mod:`.config`, :mod:`.reading`, :mod:`.validation`: the config, reading ``ssd.yml``, ``config.py:voc``
  (ssd.pytorch) or a pytorch-ssd config module, and checking its values;
* :mod:`.priors`: the repositories' prior maths, PriorBox settings, the exact (cx, cy, w, h) clamp;
* :mod:`.head`: the layers (loc/conf reshapes, DetectionOutput and its "no cut" keep_top_k);
* :mod:`.traced`: finding loc, conf, heads and sources in a traced model;
* :mod:`.add_priorbox`: the command on a prototxt;
* :mod:`.reference`, :mod:`.compare`: the PyTorch-side decode + NMS that ``check`` compares with.
"""
from .add_priorbox import main
from .config import SsdConfig
from .reading import load_config
from .traced import append_from_config

__all__ = ["SsdConfig", "append_from_config", "load_config", "main"]
