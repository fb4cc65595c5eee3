"""VGG16-SSD300 in the ssd.pytorch layout (PyTorch side of the SSD example).

The module tree and parameter names follow ssd.pytorch (amdegroot/ssd.pytorch), so a
checkpoint trained there loads with ``load_state_dict``:

* ``vgg``      nn.ModuleList, 35 entries: conv1_1 ... conv5_3 each followed by a
               ReLU(inplace), max-pools 2/2 (the third one with ``ceil_mode=True``,
               75 -> 38), pool5 = MaxPool(3, 1, 1), conv6 = 3x3 dilation 6 padding 6
               (1024), conv7 = 1x1 (1024), each followed by a ReLU(inplace).
               Index map: conv4_3 = vgg.21 (its ReLU vgg.22), pool5 = vgg.30,
               conv6 = vgg.31, conv7 = vgg.33 (its ReLU vgg.34).
* ``L2Norm``   L2Norm(512, 20) applied to the ReLU'd conv4_3 output.
* ``extras``   8 convs (1x1 / 3x3, alternating); the ReLU after each one is
               functional (``F.relu`` in ``forward``), not a module.
* ``loc``, ``conf``  3x3 convs on the 6 sources, mbox = [4, 6, 6, 6, 4, 4].

The 6 sources (feature maps 38, 19, 10, 5, 3, 1):

  0. output of ``L2Norm``                     (512 x 38 x 38)
  1. output of ``vgg.34`` (ReLU after conv7)  (1024 x 19 x 19)
  2. F.relu(``extras.1``(...))                (512 x 10 x 10)
  3. F.relu(``extras.3``(...))                (256 x 5 x 5)
  4. F.relu(``extras.5``(...))                (256 x 3 x 3)
  5. F.relu(``extras.7``(...))                (256 x 1 x 1)

Phases of ``SSD.forward``:

* ``"export"`` (what the exporter traces): ``(loc_flat, conf_flat)`` with
  ``loc_flat`` (N, P*4) and ``conf_flat`` (N, P*num_classes), P = 8732: the per-source
  head outputs permuted to NHWC, flattened per image and concatenated, i.e. exactly the
  2-D tensors ssd.pytorch's ``torch.cat`` produces before its final ``view``.  The
  confidences are raw logits (no softmax); the Caffe side adds Reshape/Softmax/Flatten,
  PriorBox and DetectionOutput.
* ``"train"``: ``(loc (N, P, 4), conf (N, P, num_classes) logits, priors (P, 4))``.
* ``"test"``: ssd.pytorch's ``Detect`` output (N, num_classes, top_k, 5), rows
  ``[score, xmin, ymin, xmax, ymax]`` (unclipped, normalized), zero-padded.
  ``detections_as_caffe`` turns it into what Caffe's DetectionOutput returns.

Nothing here imports torchvision.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_PATH = os.path.join(HERE, "ssd.yml")

INPUT_SHAPE = (1, 3, 300, 300)


def _config_module():
    """examples/ssd/config.py, loaded by path (ssd.pytorch's model imports it as ``from data import voc``)."""
    spec = importlib.util.spec_from_file_location("ssd_example_config", os.path.join(HERE, "config.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The prior keys are config.py's ``voc`` (ssd.yml holds the same values for ``--ssd ssd.yml``); the sources
# and detection settings are what pt2caffe's config adds.
VOC_CFG: Dict = {
    **_config_module().voc,
    "sources": ["L2Norm", "vgg.34", "extras.1", "extras.3", "extras.5", "extras.7"],
    "detection": {
        "conf_thresh": 0.01,
        "nms_thresh": 0.45,
        "top_k": 200,
        "keep_top_k": 200,
        "background_label": 0,
        "share_location": True,
    },
}

# ssd.pytorch's layer recipes for SSD300.
BASE_300 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512]
# (in, out, kernel, stride, padding) of extras.0 ... extras.7
EXTRAS_300 = [
    (1024, 256, 1, 1, 0), (256, 512, 3, 2, 1),
    (512, 128, 1, 1, 0), (128, 256, 3, 2, 1),
    (256, 128, 1, 1, 0), (128, 256, 3, 1, 0),
    (256, 128, 1, 1, 0), (128, 256, 3, 1, 0),
]
MBOX_300 = [4, 6, 6, 6, 4, 4]
# Indices into ``vgg`` of the convs feeding the first two heads: conv4_3 and conv7.
VGG_SOURCE_CONVS = [21, 33]


def load_config(path: str = CONFIG_PATH) -> Dict:
    """Read ssd.yml (needs PyYAML)."""
    import yaml

    with open(path, "r", encoding="utf-8") as f:
        return yaml.safe_load(f)


def example_input(seed: int = 0) -> torch.Tensor:
    """The deterministic test image: uniform in [-1, 1), shape INPUT_SHAPE.

    Recipe: ``g = torch.Generator().manual_seed(seed)``;
    ``torch.rand(1, 3, 300, 300, generator=g) * 2 - 1`` (float32).  This equals
    ``torch.manual_seed(seed); torch.rand(1, 3, 300, 300) * 2 - 1`` but leaves the
    global RNG untouched.
    """
    g = torch.Generator().manual_seed(seed)
    return torch.rand(INPUT_SHAPE, generator=g) * 2 - 1


# --------------------------------------------------------------------------- layers


class L2Norm(nn.Module):
    """Per-position L2 normalization over channels with a learned per-channel scale."""

    def __init__(self, n_channels: int, scale: float):
        super().__init__()
        self.n_channels = n_channels
        self.gamma = scale
        self.eps = 1e-10
        self.weight = nn.Parameter(torch.empty(n_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.weight, self.gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        x = torch.div(x, norm)
        out = self.weight.unsqueeze(0).unsqueeze(2).unsqueeze(3).expand_as(x) * x
        return out


class PriorBox:
    """SSD default boxes in center-size form (cx, cy, w, h), normalized to [0, 1].

    Order: feature map k, then row i, column j, then per cell: the min-size box, the
    sqrt(min * max) box, then for each aspect ratio ar the (ar, 1/ar) pair.  Matches
    Caffe's PriorBox with ``step = steps[k]``, ``offset = 0.5``, ``flip: true``.
    ``clip`` clamps the center-size values (ssd.pytorch semantics), not the corners.
    """

    def __init__(self, cfg: Dict):
        self.image_size = cfg["min_dim"]
        self.feature_maps = list(cfg["feature_maps"])
        self.steps = list(cfg["steps"])
        self.min_sizes = list(cfg["min_sizes"])
        self.max_sizes = list(cfg["max_sizes"])
        self.aspect_ratios = [list(a) for a in cfg["aspect_ratios"]]
        self.variance = list(cfg.get("variance", [0.1, 0.2]))
        self.clip = bool(cfg.get("clip", False))
        for v in self.variance:
            if v <= 0:
                raise ValueError("variances must be positive")

    def num_anchors(self, k: int) -> int:
        return 2 + 2 * len(self.aspect_ratios[k])

    def forward(self) -> torch.Tensor:
        values: List[float] = []
        for k, f in enumerate(self.feature_maps):
            f_k = self.image_size / self.steps[k]
            s_k = self.min_sizes[k] / self.image_size
            s_k_prime = math.sqrt(s_k * (self.max_sizes[k] / self.image_size))
            for i, j in itertools.product(range(f), repeat=2):
                cx = (j + 0.5) / f_k
                cy = (i + 0.5) / f_k
                values += [cx, cy, s_k, s_k]
                values += [cx, cy, s_k_prime, s_k_prime]
                for ar in self.aspect_ratios[k]:
                    r = math.sqrt(ar)
                    values += [cx, cy, s_k * r, s_k / r]
                    values += [cx, cy, s_k / r, s_k * r]
        output = torch.tensor(values, dtype=torch.float32).view(-1, 4)
        if self.clip:
            output.clamp_(max=1, min=0)
        return output

    __call__ = forward


# ----------------------------------------------------------------------- box maths


def point_form(boxes: torch.Tensor) -> torch.Tensor:
    """(cx, cy, w, h) -> (xmin, ymin, xmax, ymax)."""
    return torch.cat((boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2), 1)


def decode(loc: torch.Tensor, priors: torch.Tensor, variances: Sequence[float]) -> torch.Tensor:
    """Decode (P, 4) offsets against center-size priors; returns corner boxes (unclipped).

    cx = p_cx + l_x * v0 * p_w, cy likewise, w = p_w * exp(l_w * v1), h likewise.
    """
    centers = priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:]
    sizes = priors[:, 2:] * torch.exp(loc[:, 2:] * variances[1])
    return torch.cat((centers - sizes / 2, centers + sizes / 2), 1)


def box_iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of one corner box (4,) against (K, 4) boxes, normalized coordinates (no +1)."""
    iw = (torch.minimum(boxes[:, 2], box[2]) - torch.maximum(boxes[:, 0], box[0])).clamp(min=0)
    ih = (torch.minimum(boxes[:, 3], box[3]) - torch.maximum(boxes[:, 1], box[1])).clamp(min=0)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, overlap: float = 0.5, top_k: int = 200
        ) -> Tuple[torch.Tensor, int]:
    """Greedy NMS over the ``top_k`` highest-scoring boxes.

    Returns (indices into ``boxes`` in descending score order, count).  A candidate is
    kept when its IoU with every already-kept box is <= ``overlap`` (Caffe's
    ApplyNMSFast with eta = 1; ssd.pytorch's ``nms`` drops IoU > overlap).  Ties in
    score keep the lower index first (Caffe uses std::stable_sort).
    """
    if scores.numel() == 0:
        return scores.new_empty(0, dtype=torch.long), 0
    order = torch.sort(scores, descending=True, stable=True).indices
    if top_k is not None and top_k > -1:
        order = order[:top_k]
    keep: List[int] = []
    while order.numel() > 0:
        best = int(order[0])
        keep.append(best)
        if order.numel() == 1:
            break
        rest = order[1:]
        iou = box_iou(boxes[best], boxes[rest])
        order = rest[iou <= overlap]
    return torch.tensor(keep, dtype=torch.long), len(keep)


class Detect:
    """ssd.pytorch's test-time layer: decode, per-class threshold + NMS.

    Input: loc (N, P, 4), conf (N, P, num_classes) softmax scores, priors (P, 4)
    center-size.  Output (N, num_classes, top_k, 5), rows [score, xmin, ymin, xmax,
    ymax] in descending score order per class, zero rows after the last detection;
    the background class stays all zero.  ``top_k`` limits both the NMS input and the
    rows per class.
    """

    def __init__(self, num_classes: int, bkg_label: int = 0, top_k: int = 200,
                 conf_thresh: float = 0.01, nms_thresh: float = 0.45,
                 variance: Sequence[float] = (0.1, 0.2)):
        if nms_thresh <= 0:
            raise ValueError("nms_threshold must be positive")
        self.num_classes = num_classes
        self.background_label = bkg_label
        self.top_k = top_k
        self.conf_thresh = conf_thresh
        self.nms_thresh = nms_thresh
        self.variance = list(variance)

    def forward(self, loc_data: torch.Tensor, conf_data: torch.Tensor, prior_data: torch.Tensor
                ) -> torch.Tensor:
        num = loc_data.size(0)
        num_priors = prior_data.size(0)
        output = torch.zeros(num, self.num_classes, self.top_k, 5, dtype=loc_data.dtype)
        conf_preds = conf_data.view(num, num_priors, self.num_classes).transpose(2, 1)
        for i in range(num):
            decoded = decode(loc_data[i], prior_data, self.variance)
            conf_scores = conf_preds[i]
            for cl in range(self.num_classes):
                if cl == self.background_label:
                    continue
                mask = conf_scores[cl] > self.conf_thresh
                scores = conf_scores[cl][mask]
                if scores.numel() == 0:
                    continue
                boxes = decoded[mask]
                ids, count = nms(boxes, scores, self.nms_thresh, self.top_k)
                ids = ids[:count]
                output[i, cl, :count] = torch.cat((scores[ids].unsqueeze(1), boxes[ids]), 1)
        return output

    __call__ = forward


def detections_as_caffe(det_tensor: torch.Tensor, keep_top_k: int = 200,
                        background_label: int = 0) -> np.ndarray:
    """What Caffe's (SSD branch) DetectionOutput returns for ``Detect``'s output.

    Returns a float32 array (K, 7), rows [image_id, label, score, xmin, ymin, xmax,
    ymax] (Caffe's top blob is (1, 1, K, 7)).  Behaviour of
    weiliu89/caffe ``detection_output_layer.cpp`` (Forward_cpu), also in inisis/caffe:

    * per image, the per-class NMS results are kept in a ``map<int, vector<int>>``
      (label -> indices in NMS order = descending score); if the image has more than
      ``keep_top_k`` (> -1) detections in total, all of them are sorted by score
      (std::sort, descending), cut to ``keep_top_k`` and regrouped into a new map.
    * output iterates images, then that map: labels ascending, each label's
      detections in descending score order -- also after the keep_top_k cut (the
      global sort only selects which detections survive).  Images without detections
      contribute no rows.
    * if the whole batch has no detection: N rows ``[i, -1, -1, -1, -1, -1, -1]``
      (the image id is set, everything else is -1).  Older revisions of the SSD
      branch instead returned a single all -1 row.
    * boxes are not clipped (``clip_bbox = false`` when decoding, raw box written out).

    Rows of ``det_tensor`` with score <= 0 are padding.  Ties in score at the
    keep_top_k cut are resolved here by (label, NMS order); Caffe's std::sort leaves
    that unspecified.
    """
    det = det_tensor.detach().to(torch.float32).cpu().numpy()
    if det.ndim != 4 or det.shape[-1] != 5:
        raise ValueError("expected Detect output (N, num_classes, top_k, 5)")
    num, num_classes = det.shape[0], det.shape[1]
    rows: List[List[float]] = []
    for i in range(num):
        per_label: Dict[int, List[np.ndarray]] = {}
        for c in range(num_classes):
            if c == background_label:
                continue
            valid = det[i, c][det[i, c][:, 0] > 0]
            if len(valid):
                per_label[c] = list(valid)
        num_det = sum(len(v) for v in per_label.values())
        if keep_top_k > -1 and num_det > keep_top_k:
            pool = [(float(r[0]), c, r) for c in sorted(per_label) for r in per_label[c]]
            pool.sort(key=lambda t: -t[0])  # stable
            per_label = {}
            for _, c, r in pool[:keep_top_k]:
                per_label.setdefault(c, []).append(r)
        for c in sorted(per_label):
            for r in per_label[c]:
                rows.append([float(i), float(c), float(r[0]), float(r[1]), float(r[2]),
                             float(r[3]), float(r[4])])
    if not rows:
        out = np.full((num, 7), -1.0, dtype=np.float32)
        out[:, 0] = np.arange(num, dtype=np.float32)
        return out
    return np.asarray(rows, dtype=np.float32)


# -------------------------------------------------------------------------- network


def vgg(cfg: Sequence, i: int, batch_norm: bool = False) -> List[nn.Module]:
    """VGG16 base for SSD: returns the list of layers (35 for SSD300)."""
    layers: List[nn.Module] = []
    in_channels = i
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "C":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        else:
            conv = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv, nn.ReLU(inplace=True)]
            in_channels = v
    pool5 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
    conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=6, dilation=6)
    conv7 = nn.Conv2d(1024, 1024, kernel_size=1)
    layers += [pool5, conv6, nn.ReLU(inplace=True), conv7, nn.ReLU(inplace=True)]
    return layers


def add_extras(spec: Sequence[Tuple[int, int, int, int, int]] = None) -> List[nn.Module]:
    """The 8 extra convs of SSD300, given as (in, out, kernel, stride, padding).

    1x1 and 3x3 alternate; the 3x3 ones are the sources (19 -> 10 -> 5 -> 3 -> 1).
    """
    return [nn.Conv2d(cin, cout, kernel_size=k, stride=s, padding=p)
            for cin, cout, k, s, p in (spec if spec is not None else EXTRAS_300)]


def multibox(vgg_layers: List[nn.Module], extra_layers: List[nn.Module], mbox: Sequence[int],
             num_classes: int):
    """The loc / conf heads (3x3 convs) on conv4_3, conv7 and every second extra conv."""
    loc_layers: List[nn.Module] = []
    conf_layers: List[nn.Module] = []
    in_channels = [vgg_layers[idx].out_channels for idx in VGG_SOURCE_CONVS]
    in_channels += [layer.out_channels for layer in extra_layers[1::2]]
    if len(in_channels) != len(mbox):
        raise ValueError("mbox must give one anchor count per source")
    for ch, a in zip(in_channels, mbox):
        loc_layers.append(nn.Conv2d(ch, a * 4, kernel_size=3, padding=1))
        conf_layers.append(nn.Conv2d(ch, a * num_classes, kernel_size=3, padding=1))
    return vgg_layers, extra_layers, (loc_layers, conf_layers)


class SSD(nn.Module):
    """Single Shot MultiBox Detector (VGG16 base), ssd.pytorch layout.

    ``phase``: "export" | "train" | "test" (see the module docstring).
    """

    PHASES = ("train", "test", "export")

    def __init__(self, phase: str, size: int, base, extras, head, num_classes: int,
                 cfg: Optional[Dict] = None):
        super().__init__()
        if phase not in self.PHASES:
            raise ValueError(f"phase must be one of {self.PHASES}, got {phase!r}")
        self.phase = phase
        self.num_classes = num_classes
        self.size = size
        self.cfg = copy.deepcopy(cfg if cfg is not None else VOC_CFG)
        if self.cfg["num_classes"] != num_classes:
            raise ValueError("num_classes differs from the config")
        self.priorbox = PriorBox(self.cfg)
        with torch.no_grad():
            # A plain attribute, not a buffer: the state_dict keys stay ssd.pytorch's.
            self.priors = self.priorbox.forward()

        self.vgg = nn.ModuleList(base)
        self.L2Norm = L2Norm(512, 20)
        self.extras = nn.ModuleList(extras)
        self.loc = nn.ModuleList(head[0])
        self.conf = nn.ModuleList(head[1])

        det = self.cfg.get("detection", {})
        self.detect = Detect(num_classes, det.get("background_label", 0), det.get("top_k", 200),
                             det.get("conf_thresh", 0.01), det.get("nms_thresh", 0.45),
                             self.cfg["variance"])

    def forward(self, x: torch.Tensor):
        sources: List[torch.Tensor] = []

        # vgg up to and including the ReLU after conv4_3
        for k in range(23):
            x = self.vgg[k](x)
        sources.append(self.L2Norm(x))

        # rest of vgg: conv5, pool5, conv6, conv7
        for k in range(23, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)

        for k, layer in enumerate(self.extras):
            x = F.relu(layer(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)

        locs: List[torch.Tensor] = []
        confs: List[torch.Tensor] = []
        for feat, l_head, c_head in zip(sources, self.loc, self.conf):
            locs.append(l_head(feat).permute(0, 2, 3, 1).contiguous())
            confs.append(c_head(feat).permute(0, 2, 3, 1).contiguous())
        loc = torch.cat([o.view(o.size(0), -1) for o in locs], 1)
        conf = torch.cat([o.view(o.size(0), -1) for o in confs], 1)

        if self.phase == "export":
            return loc, conf
        n = loc.size(0)
        if self.phase == "test":
            return self.detect(
                loc.view(n, -1, 4),
                F.softmax(conf.view(n, -1, self.num_classes), dim=-1),
                self.priors.to(dtype=loc.dtype, device=loc.device),
            )
        return loc.view(n, -1, 4), conf.view(n, -1, self.num_classes), self.priors


def build_ssd(phase: str, size: int = 300, num_classes: int = 21,
              cfg: Optional[Dict] = None) -> SSD:
    if size != 300:
        raise ValueError("only SSD300 is supported")
    base, extras, head = multibox(vgg(BASE_300, 3), add_extras(EXTRAS_300), MBOX_300,
                                  num_classes)
    return SSD(phase, size, base, extras, head, num_classes, cfg)


def build_model(phase: str = "export") -> SSD:
    """VGG16-SSD300 for VOC (21 classes), input INPUT_SHAPE, eval mode, default init."""
    return build_ssd(phase, 300, VOC_CFG["num_classes"]).eval()


def build_train_model() -> SSD:
    """The same net in ssd.pytorch's "train" phase: forward returns (loc, conf, priors); ``--ssd`` replaces
    the constant priors output by the PriorBox head (after checking that they are the config's)."""
    return build_ssd("train", 300, VOC_CFG["num_classes"]).eval()
