"""The PyTorch-side detections: decode + per-class NMS of the model's own loc/conf on the same priors.

What Caffe's DetectionOutput computes (src/caffe/layers/detection_output_layer.cpp and
src/caffe/util/bbox_util.cpp: DecodeBBox CENTER_SIZE, ApplyNMSFast, JaccardOverlap), and what
ssd.pytorch's ``Detect`` / pytorch-ssd's ``Predictor`` compute, in float64 with torch:

* scores: softmax over the classes of each prior;
* boxes: centre = prior centre + v0 · loc_xy · prior size, size = prior size · exp(v1 · loc_wh), as corners;
* per image and class c ≠ background: scores > conf_thresh, the ``top_k`` best (stable order),
  greedy NMS keeping a box whose IoU with every kept one is ≤ nms_thresh;
* if more than ``keep_top_k`` survive in an image, the best keep_top_k over all classes.

Rows [image, label, score, xmin, ymin, xmax, ymax], per image by ascending label, each label by
descending score: Caffe's order.
"""
from __future__ import annotations

import numpy as np
import torch


def decode(loc: torch.Tensor, priors: torch.Tensor, variance: list[float]) -> torch.Tensor:
    """(P, 4) loc offsets on (P, 4) corner priors → (P, 4) corner boxes (not clipped)."""
    size = priors[:, 2:] - priors[:, :2]
    center = (priors[:, :2] + priors[:, 2:]) / 2 + variance[0] * loc[:, :2] * size
    size = size * torch.exp(variance[1] * loc[:, 2:])
    return torch.cat([center - size / 2, center + size / 2], 1)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one corner box with each of (K, 4) boxes; 0 where they do not overlap (Caffe's JaccardOverlap)."""
    low, high = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), 1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), 1)
    union = area + areas - inter
    return np.where(inter > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, conf_thresh: float, nms_thresh: float, top_k: int) -> list[int]:
    """Indices kept for one class, best first."""
    candidates = np.flatnonzero(scores > conf_thresh)
    order = candidates[np.argsort(-scores[candidates], kind="stable")][:top_k]
    kept: list[int] = []
    for index in order:
        if not kept or (iou(boxes[index], boxes[kept]) <= nms_thresh).all():
            kept.append(int(index))
    return kept


def detections(loc: np.ndarray, conf: np.ndarray, priors: np.ndarray, variance: list[float], num_classes: int,
               detection: dict, tie: float = 1e-4) -> tuple[np.ndarray, dict]:
    """(R, 7) rows for the (N, P·4) loc, (N, P·classes) conf logits and (P, 4) corner priors, and the knife
    edges: per (image, label), the candidate scores within ``tie`` of another candidate's, of the top_k cut
    or of conf_thresh, where a float32 runtime may keep other rows (their order, or NMS, decides).

    ``detection`` holds conf_thresh, nms_thresh, top_k, keep_top_k (None: no cut), background_label.
    """
    count = priors.shape[0]
    loc64 = torch.as_tensor(loc, dtype=torch.float64).reshape(-1, count, 4)
    scores = torch.softmax(torch.as_tensor(conf, dtype=torch.float64).reshape(-1, count, num_classes), -1).numpy()
    priors64 = torch.as_tensor(priors, dtype=torch.float64)
    rows, edges = [], {}
    for image in range(loc64.shape[0]):
        boxes = decode(loc64[image], priors64, variance).numpy()
        kept = {c: nms(boxes, scores[image, :, c], detection["conf_thresh"], detection["nms_thresh"],
                       detection["top_k"])
                for c in range(num_classes) if c != detection["background_label"]}
        for c in kept:
            edges[(image, c)] = knife_edges(scores[image, :, c], detection, tie)
        kept = _keep_top_k(kept, scores[image], detection.get("keep_top_k"))
        rows += [[image, c, scores[image, i, c], *boxes[i]] for c in sorted(kept) for i in kept[c]]
    return np.array(rows, dtype=np.float64).reshape(-1, 7), edges


def knife_edges(scores: np.ndarray, detection: dict, tie: float) -> np.ndarray:
    """Candidate scores of one class that a rounding difference can reorder, cut or drop."""
    near = scores[np.abs(scores - detection["conf_thresh"]) <= tie]
    candidates = np.sort(scores[scores > detection["conf_thresh"] - tie])[::-1]
    close = np.diff(candidates) >= -tie  # descending: a step smaller than tie
    tied = candidates[np.r_[False, close] | np.r_[close, False]] if len(candidates) else candidates
    cut = candidates[detection["top_k"] - 1:detection["top_k"] + 1] if len(candidates) > detection["top_k"] else []
    return np.concatenate([near, tied, cut])


def _keep_top_k(kept: dict, scores: np.ndarray, keep: int | None) -> dict:
    total = sum(len(indices) for indices in kept.values())
    if keep is None or keep < 0 or total <= keep:
        return kept
    pairs = sorted(((scores[i, c], c, i) for c, indices in kept.items() for i in indices), key=lambda t: -t[0])
    cut: dict = {}
    for _, c, i in pairs[:keep]:
        cut.setdefault(c, []).append(i)
    return cut
