"""Prior boxes: the repositories' maths, Caffe's PriorBox settings, and the exact clamp of (cx, cy, w, h).

ssd.pytorch's ``PriorBox.forward`` and pytorch-ssd's ``generate_ssd_priors`` compute the same
priors, per source k and cell (row i, column j), in this order: the min-size box, the √(min·max)
box, then per aspect ratio ar the pair (ar, 1/ar); centres ((j, i) + 0.5) · step / image size,
sizes / image size, as (cx, cy, w, h). That is also the order of Caffe's PriorBox
(src/caffe/layers/prior_box_layer.cpp), which writes corners (xmin, ymin, xmax, ymax) in channel
0 of its (1, 2, H·W·A·4) top and the variances in channel 1.

Their clip (``clip: True``, ``clamp=True``) clamps (cx, cy, w, h) to [0, 1]; PriorBox's ``clip``
clamps the corners, which is another box wherever a prior crosses the border. So PriorBox is
written without clip and, when the clamp changes any prior, a short composition of stock layers
on the concatenated blob (:func:`center_clamp`) does the repositories' clamp exactly.
"""
from __future__ import annotations

import math

import numpy as np

from ..net.builder import Blob, NetBuilder, Weight
from .config import CLIP_CAFFE, INT32_MAX, MAX_SIZE_SCALE, SsdConfig

PRIOR_TOLERANCE = 1e-6  # what "the same prior" means here (float32 rounding is ~1e-7)


def repository_priors(config: SsdConfig, *, clamp: bool) -> np.ndarray:
    """The (P, 4) priors (cx, cy, w, h) of ssd.pytorch / pytorch-ssd, float64, clamped to [0, 1] if ``clamp``."""
    result = []
    for k, size in enumerate(config.feature_maps):
        scale = config.min_sizes[k] / config.min_dim
        boxes = [(scale, scale), (math.sqrt(scale * config.max_sizes[k] / config.min_dim),) * 2]
        for ratio in config.aspect_ratios[k]:
            boxes += [(scale * math.sqrt(ratio), scale / math.sqrt(ratio)),
                      (scale / math.sqrt(ratio), scale * math.sqrt(ratio))]
        centers = (np.arange(size) + 0.5) * config.steps[k] / config.min_dim
        cy, cx = np.meshgrid(centers, centers, indexing="ij")
        grid = np.broadcast_to(np.stack([cx, cy], -1)[:, :, None, :], (size, size, len(boxes), 2))
        result.append(np.concatenate([grid, np.broadcast_to(np.array(boxes), grid.shape)], -1).reshape(-1, 4))
    priors = np.concatenate(result)
    return np.clip(priors, 0, 1) if clamp else priors


def corners(center_size: np.ndarray) -> np.ndarray:
    """(P, 4) (cx, cy, w, h) → (xmin, ymin, xmax, ymax)."""
    half = center_size[:, 2:] / 2
    return np.concatenate([center_size[:, :2] - half, center_size[:, :2] + half], 1)


def expected_caffe_priors(config: SsdConfig) -> np.ndarray:
    """The (P, 4) corners the exported net's ``mbox_priorbox`` channel 0 holds for ``config.clip``."""
    if config.clip == CLIP_CAFFE:
        return np.clip(corners(repository_priors(config, clamp=False)), 0, 1)
    return corners(repository_priors(config, clamp=config.clip is True))


def clamp_changes(config: SsdConfig) -> tuple[int, float]:
    """How many priors the repositories' clamp changes, and by how much at most (corner form)."""
    raw = corners(repository_priors(config, clamp=False))
    gap = np.abs(corners(repository_priors(config, clamp=True)) - raw).max(1)
    return int((gap > PRIOR_TOLERANCE).sum()), float(gap.max())


def size_scale(config: SsdConfig) -> int:
    """The smallest k making every min/max size × k whole: some Caffe versions cast the sizes to int."""
    sizes = config.min_sizes + config.max_sizes
    for k in range(1, MAX_SIZE_SCALE + 1):
        if all(abs(s * k - round(s * k)) < 1e-9 * max(1.0, s * k) for s in sizes):
            if max(round(a * k) * round(b * k) for a, b in zip(config.min_sizes, config.max_sizes)) > INT32_MAX:
                break
            return k
    raise config.error(f"min_sizes / max_sizes {sizes} cannot be written exactly: Caffe versions that cast them to "
                       f"int need them whole after scaling by at most {MAX_SIZE_SCALE}")


def prior_box_param(config: SsdConfig, k: int) -> dict:
    """PriorBox settings for source ``k``: explicit step, offset, flip and clip (defaults differ between Caffe
    versions), variances [v0, v0, v1, v1]; sizes × size_scale with img_size when that is > 1."""
    v_center, v_size = config.variance
    scale = config.size_scale
    param = {"min_size": [round(config.min_sizes[k] * scale)], "max_size": [round(config.max_sizes[k] * scale)],
             "aspect_ratio": list(config.aspect_ratios[k]), "flip": True, "clip": config.clip == CLIP_CAFFE,
             "variance": [v_center, v_center, v_size, v_size], "step": config.steps[k] * scale, "offset": 0.5}
    if scale > 1:
        param["img_size"] = config.min_dim * scale
    return param


def emit_priors(net: NetBuilder, config: SsdConfig, sources: list[tuple[str, Blob]], data: Blob,
                meta: dict) -> Blob:
    """PriorBox per (name, feature map) source, their Concat ``mbox_priorbox`` (1, 2, 4P), clamped as the
    repositories clamp when ``clip`` is true and the clamp changes a prior."""
    count = config.prior_count
    priors = [net.layer(f"{name}_mbox_priorbox", "PriorBox", [blob, data],
                        [(1, 2, config.feature_maps[k] ** 2 * config.priors_per_cell(k) * 4)],
                        {"prior_box_param": prior_box_param(config, k)}, **meta)[0]
              for k, (name, blob) in enumerate(sources)]
    if config.clip is not True or clamp_changes(config)[0] == 0:
        return net.layer("mbox_priorbox", "Concat", priors, [(1, 2, count * 4)], {"concat_param": {"axis": 2}},
                         **meta)[0]
    unclamped = net.layer("mbox_priorbox_unclamped", "Concat", priors, [(1, 2, count * 4)],
                          {"concat_param": {"axis": 2}}, **meta)[0]
    return center_clamp(net, unclamped, count, meta)


# corners → (cx, cy, w, h), and (cx, cy, w, h) → corners, as 1×1 convolution weights (out, in)
TO_CENTER = np.array([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5], [-1, 0, 1, 0], [0, -1, 0, 1]])
TO_CORNERS = np.array([[1, 0, -0.5, 0], [0, 1, 0, -0.5], [1, 0, 0.5, 0], [0, 1, 0, 0.5]])


def center_clamp(net: NetBuilder, priors: Blob, count: int, meta: dict) -> Blob:
    """Clamp each prior's (cx, cy, w, h) to [0, 1] and write it back as corners; variances untouched.

    Slice (coordinates | variances) → Reshape (1, P, 4, 1) → Permute (1, 4, P, 1) → 1×1 Convolution
    to 8 channels [c, c − 1] with c = (cx, cy, w, h) → ReLU → 1×1 Convolution [M, −M] → Permute →
    Reshape (1, 1, 4P, 1) → Concat with the variances (as (1, 1, 4P, 1): MNN's converter refuses the
    3-D Concat) → Reshape (1, 2, 4P). clamp(c, 0, 1) = ReLU(c) − ReLU(c − 1) exactly
    for c ≤ 2 (Sterbenz), and M maps it back to corners. Every layer is one pycaffe, OpenCV and MNN
    all run (no Eltwise coefficients, no Reduction/Tile/Parameter).
    """
    coords, variances = net.layer("mbox_priorbox_parts", "Slice", [priors], [(1, 1, 4 * count)] * 2,
                                  {"slice_param": {"axis": 1, "slice_point": [1]}}, **meta)
    rows = net.layer("mbox_priorbox_rows", "Reshape", [coords], [(1, count, 4, 1)],
                     {"reshape_param": {"shape": {"dim": [1, count, 4, 1]}}}, **meta)[0]
    columns = net.layer("mbox_priorbox_columns", "Permute", [rows], [(1, 4, count, 1)],
                        {"permute_param": {"order": [0, 2, 1, 3]}}, **meta)[0]
    to_center = np.concatenate([TO_CENTER, TO_CENTER])[:, :, None, None]
    center = net.layer("mbox_priorbox_center", "Convolution", [columns], [(1, 8, count, 1)],
                       {"convolution_param": {"num_output": 8, "kernel_size": [1], "bias_term": True}},
                       [_constant(to_center, "corners → (cx, cy, w, h), twice"),
                        _constant(np.array([0, 0, 0, 0, -1, -1, -1, -1]), "0 for c, −1 for c − 1")], **meta)[0]
    center = net.layer("mbox_priorbox_relu", "ReLU", [center], [center.shape], **meta)[0]
    back = np.concatenate([TO_CORNERS, -TO_CORNERS], 1)[:, :, None, None]
    clamped = net.layer("mbox_priorbox_clamped", "Convolution", [center], [(1, 4, count, 1)],
                        {"convolution_param": {"num_output": 4, "kernel_size": [1], "bias_term": False}},
                        [_constant(back, "ReLU(c) − ReLU(c − 1) → corners")], **meta)[0]
    rows = net.layer("mbox_priorbox_clamped_rows", "Permute", [clamped], [(1, count, 4, 1)],
                     {"permute_param": {"order": [0, 2, 1, 3]}}, **meta)[0]
    parts = [net.layer(f"mbox_priorbox_{what}_4d", "Reshape", [blob], [(1, 1, 4 * count, 1)],
                       {"reshape_param": {"shape": {"dim": [1, 1, 4 * count, 1]}}}, **meta)[0]
             for what, blob in (("clamped", rows), ("variances", variances))]
    joined = net.layer("mbox_priorbox_4d", "Concat", parts, [(1, 2, 4 * count, 1)], {"concat_param": {"axis": 1}},
                       **meta)[0]
    return net.layer("mbox_priorbox", "Reshape", [joined], [(1, 2, 4 * count)],
                     {"reshape_param": {"shape": {"dim": [1, 2, 4 * count]}}}, **meta)[0]


def _constant(array: np.ndarray, what: str) -> Weight:
    return Weight(np.ascontiguousarray(array, dtype=np.float32), None, what)
