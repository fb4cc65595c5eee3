"""An SSD config as pt2caffe uses it, in ssd.pytorch's terms whatever the user's spelling: the validated
:class:`SsdConfig` (read by :mod:`.reading`, checked by :mod:`.validation`) and the keys it knows."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import Pt2CaffeError

CLIP_CAFFE = "caffe"  # clip value asking for Caffe's own corner clip
MAX_SIZE_SCALE = 64  # largest k tried to make fractional min/max sizes whole
INT32_MAX = 2**31 - 1

LIST_KEYS = ("feature_maps", "steps", "min_sizes", "max_sizes", "aspect_ratios")
REQUIRED_KEYS = ("min_dim", *LIST_KEYS, "variance", "clip")
FILE_KEYS = ("prototxt", "loc", "conf", "output")  # loc/conf: Caffe blob names; the others for add-priorbox
IGNORED_KEYS = ("name", "lr_steps", "max_iter")  # ssd.pytorch's training keys, accepted when pasted
DETECTION_DEFAULTS = {"conf_thresh": 0.01, "nms_thresh": 0.45, "top_k": 200, "keep_top_k": None,
                      "background_label": 0, "share_location": True}


@dataclass
class SsdConfig:
    """A validated config, in ssd.pytorch's terms whatever the dialect.

    Sizes and steps are in input pixels, ``min_dim`` is the (square) input size, ``variance`` is
    [center, size], ``clip`` is True (the repository's clamp of (cx, cy, w, h) to [0, 1]), False,
    or CLIP_CAFFE (PriorBox's clip of the corners). ``num_classes`` is None when the config does
    not say (pytorch-ssd): it is then read from the conf head.
    """

    path: str  # as the user gave it, to prefix messages
    dialect: str  # "ssd.pytorch" or "pytorch-ssd"
    num_classes: int | None
    min_dim: int
    feature_maps: list[int]
    steps: list[float]
    min_sizes: list[float]
    max_sizes: list[float]
    aspect_ratios: list[list[float]]
    variance: list[float]
    clip: bool | str
    sources: list[str] | None
    detection: dict
    files: dict  # FILE_KEYS given in the config, paths relative to its directory resolved
    module_priors: np.ndarray | None = None  # pytorch-ssd's module-level ``priors`` (P, 4) (cx, cy, w, h)
    size_scale: int = 1  # sizes, steps and img_size are multiplied by it (see priors.size_scale)
    names: dict = field(default_factory=dict)  # ssd.pytorch key → the user's spelling, "{k}" for the source

    def error(self, message: str) -> Pt2CaffeError:
        return Pt2CaffeError(f"{self.path}: {message}")

    def key(self, name: str, k: int | None = None) -> str:
        """``name`` (an ssd.pytorch key) as the user's config spells it, for source ``k``."""
        return spelled(self.names, name, k)

    def priors_per_cell(self, k: int) -> int:
        """The min-size box, the √(min·max) box, and each aspect ratio with its flip."""
        return 2 + 2 * len(self.aspect_ratios[k])

    @property
    def prior_count(self) -> int:
        return sum(f * f * self.priors_per_cell(k) for k, f in enumerate(self.feature_maps))


def spelled(names: dict, key: str, k: int | None = None) -> str:
    """An ssd.pytorch ``key`` (of source ``k``) in the user's spelling: ``names`` maps ``key`` and ``key[]``."""
    if k is None:
        return names.get(key, key)
    return names.get(f"{key}[]", f"{key}[{{k}}]").format(k=k)
