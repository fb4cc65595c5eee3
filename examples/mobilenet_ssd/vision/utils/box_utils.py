"""Prior boxes and detection post-processing with pytorch-ssd's names and conventions (written here).

``generate_ssd_priors(specs, image_size, clamp=True)`` returns (P, 4) priors (cx, cy, w, h)
relative to the image: per spec (feature_map_size, shrinkage, box_sizes (min, max),
aspect_ratios) and cell (row j, column i), centre ((i, j) + 0.5) · shrinkage / image_size, the
min box, the √(min·max) box, then per ratio r the boxes (w·√r, h/√r) and (w/√r, h·√r);
``clamp`` clamps all four values to [0, 1].
"""
import collections
import itertools
import math

import torch

SSDBoxSizes = collections.namedtuple("SSDBoxSizes", ["min", "max"])
SSDSpec = collections.namedtuple("SSDSpec", ["feature_map_size", "shrinkage", "box_sizes", "aspect_ratios"])


def generate_ssd_priors(specs, image_size, clamp=True) -> torch.Tensor:
    rows = []
    for spec in specs:
        scale = image_size / spec.shrinkage
        for row, column in itertools.product(range(spec.feature_map_size), repeat=2):
            cx, cy = (column + 0.5) / scale, (row + 0.5) / scale
            small = spec.box_sizes.min / image_size
            big = math.sqrt(spec.box_sizes.max * spec.box_sizes.min) / image_size
            rows += [[cx, cy, small, small], [cx, cy, big, big]]
            for ratio in spec.aspect_ratios:
                root = math.sqrt(ratio)
                rows += [[cx, cy, small * root, small / root], [cx, cy, small / root, small * root]]
    priors = torch.tensor(rows)
    return priors.clamp(0.0, 1.0) if clamp else priors


def convert_locations_to_boxes(locations, priors, center_variance, size_variance):
    """(N, P, 4) offsets on (P, 4) center-form priors → (N, P, 4) center-form boxes."""
    priors = priors.unsqueeze(0) if priors.dim() + 1 == locations.dim() else priors
    return torch.cat([locations[..., :2] * center_variance * priors[..., 2:] + priors[..., :2],
                      torch.exp(locations[..., 2:] * size_variance) * priors[..., 2:]], dim=-1)


def center_form_to_corner_form(boxes):
    return torch.cat([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], dim=-1)


def area_of(left_top, right_bottom):
    size = torch.clamp(right_bottom - left_top, min=0.0)
    return size[..., 0] * size[..., 1]


def iou_of(boxes0, boxes1, eps=1e-5):
    """IoU of corner boxes (pytorch-ssd adds eps to the union)."""
    overlap = area_of(torch.max(boxes0[..., :2], boxes1[..., :2]), torch.min(boxes0[..., 2:], boxes1[..., 2:]))
    return overlap / (area_of(boxes0[..., :2], boxes0[..., 2:]) + area_of(boxes1[..., :2], boxes1[..., 2:])
                      - overlap + eps)


def hard_nms(box_scores, iou_threshold, top_k=-1, candidate_size=200):
    """Greedy NMS on (K, 5) rows [xmin, ymin, xmax, ymax, score]: the candidate_size best enter, best first."""
    order = torch.argsort(box_scores[:, 4], descending=True, stable=True)[:candidate_size]
    picked = []
    while len(order):
        best = order[0]
        picked.append(int(best))
        if 0 < top_k == len(picked):
            break
        rest = order[1:]
        order = rest[iou_of(box_scores[rest, :4], box_scores[best, :4].unsqueeze(0)) <= iou_threshold]
    return box_scores[picked]
