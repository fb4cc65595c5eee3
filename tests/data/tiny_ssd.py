"""A tiny SSD in ssd.pytorch's layout (vgg, L2Norm, extras, loc, conf) for fast tests of --ssd and add-priorbox.

32×32 input, sources 8×8 (L2Norm), 4×4, 2×2, 1×1 (F.relu of extras.0/1/2), CONFIG below.
The L2Norm is the SSD example's (examples/ssd/model.py), i.e. ssd.pytorch's.
"""
import importlib.util
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

_EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "ssd", "model.py")
_spec = importlib.util.spec_from_file_location("tiny_ssd_example_model", _EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)

INPUT_SHAPE = (1, 3, 32, 32)
MBOX = [4, 6, 4, 4]
CONFIG = {
    "num_classes": 4, "min_dim": 32, "feature_maps": [8, 4, 2, 1], "steps": [4, 8, 16, 32],
    "min_sizes": [6, 12, 20, 26], "max_sizes": [12, 20, 26, 32], "aspect_ratios": [[2], [2, 3], [2], [2]],
    "variance": [0.1, 0.2], "clip": False,
    "detection": {"conf_thresh": 0.5, "nms_thresh": 0.45, "top_k": 50, "keep_top_k": 20},
}


class TinySSD(nn.Module):
    def __init__(self, phase: str = "export", num_classes: int = 4, clip: bool = False):
        super().__init__()
        self.phase, self.num_classes = phase, num_classes
        self.vgg = nn.ModuleList([nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(inplace=True)])
        self.L2Norm = example.L2Norm(16, 20)
        self.extras = nn.ModuleList([nn.Conv2d(16, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 2, 1), nn.Conv2d(16, 16, 2)])
        self.loc = nn.ModuleList([nn.Conv2d(16, a * 4, 3, padding=1) for a in MBOX])
        self.conf = nn.ModuleList([nn.Conv2d(16, a * num_classes, 3, padding=1) for a in MBOX])
        self.priors = example.PriorBox({**CONFIG, "clip": clip}).forward()  # a plain attribute, as in ssd.pytorch

    def forward(self, x):
        for layer in self.vgg:
            x = layer(x)
        sources = [self.L2Norm(x)]
        for layer in self.extras:
            x = F.relu(layer(x), inplace=True)
            sources.append(x)
        loc = torch.cat([head(s).permute(0, 2, 3, 1).contiguous().view(s.size(0), -1)
                         for head, s in zip(self.loc, sources)], 1)
        conf = torch.cat([head(s).permute(0, 2, 3, 1).contiguous().view(s.size(0), -1)
                          for head, s in zip(self.conf, sources)], 1)
        if self.phase == "export":
            return loc, conf
        n = loc.size(0)  # "train": per-prior rows and the priors, as ssd.pytorch returns them
        return loc.view(n, -1, 4), conf.view(n, -1, self.num_classes), self.priors


def build_model(phase: str = "export", clip: bool = False) -> TinySSD:
    torch.manual_seed(0)
    return TinySSD(phase, clip=clip).eval()


def build_train_phase() -> TinySSD:
    return build_model("train")


def build_train_phase_clip() -> TinySSD:
    """Priors clamped in (cx, cy, w, h) as ssd.pytorch's ``clip: True`` does."""
    return build_model("train", clip=True)
