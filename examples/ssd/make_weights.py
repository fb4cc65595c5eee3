"""Deterministic weights for the SSD example: ``python examples/ssd/make_weights.py [OUT]``.

Writes a state_dict (ssd.pytorch key names) to ``examples/ssd/ssd300.pth`` unless OUT
(or ``--out OUT``) is given.

Random weights make random detections: thousands of scores near the 0.01 threshold,
ties, NMS decisions on a knife edge.  A Caffe-vs-PyTorch comparison of
DetectionOutput needs the opposite, so the weights are built in three steps:

1. vgg, extras: seeded Kaiming-normal weights (std sqrt(2 / fan_in)), biases
   N(0, 0.05^2); L2Norm weight = 20 (ssd.pytorch's init).
2. loc heads: seeded random weights, then rescaled so that, on ``example_input(0)``,
   each head's outputs have mean 0 and std LOC_STD (boxes move moderately off the priors).
3. conf heads: seeded random weights, then every output channel (one anchor x class)
   gets an affine rescale (still a plain conv) so that on ``example_input(0)``:

   * background logits are 0 (zero weights and bias);
   * every non-detection class channel peaks at logit LOGIT_FLOOR (= -8): all of those
     scores are < 4e-4, far below conf_thresh = 0.01;
   * a planned handful of (prior, class) pairs get exactly the scores in TARGETS:
     six single detections at the maxima of channels with a clear top-1 gap, on the
     38/19/10/5/3 maps, plus on the 1x1 map two nested boxes of one class (the lower
     one is removed by NMS, IoU far above 0.45) and a border-crossing wide box (its
     unclipped corners leave [0, 1]).

   Candidate scores are >= 0.05 apart from each other and from the threshold, every
   other score is < 4e-4, and the one IoU that NMS thresholds is ~0.64 (> 0.45 + 0.1),
   so the Caffe result has no near-ties (also at any keep_top_k cut) and no borderline
   NMS decision.

``make_state_dict`` checks all of this with a real forward pass and raises otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "ssd300.pth")

if __package__:
    from . import model as ssd_model
else:  # run as a script: load the sibling model.py under a name that cannot clash
    _spec = importlib.util.spec_from_file_location("pt2caffe_example_ssd_model",
                                                   os.path.join(HERE, "model.py"))
    ssd_model = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = ssd_model
    _spec.loader.exec_module(ssd_model)

SEED = 0
INPUT_SEED = 0
WEIGHT_GAIN = math.sqrt(2.0)
BIAS_STD = 0.05
LOC_STD = 0.5
LOGIT_FLOOR = -8.0
MIN_TOP_GAP = 0.25     # top-1 minus top-2 of a detection channel, in channel stds
MAX_SLOPE = 20.0       # cap on the logit gain of a detection channel

# Scores of the planned candidates: 6 single detections (sources 0..4), then on the
# 1x1 map: class A anchor 0 (kept), class A anchor 1 (suppressed by NMS), class B
# anchor 2 (wide, border-crossing).  Class A / B are the classes of the 1st / 2nd single.
TARGETS_SINGLE = [0.93, 0.36, 0.61, 0.18, 0.79, 0.06]
SINGLE_SOURCES = [0, 1, 2, 3, 4, 0]
TARGET_A_KEPT = 0.50
TARGET_A_SUPPRESSED = 0.43
TARGET_B_WIDE = 0.27


def _normal_(t: torch.Tensor, g: torch.Generator, std: float) -> None:
    t.copy_(torch.empty(t.shape, dtype=torch.float64).normal_(0.0, std, generator=g).to(t.dtype))


def _init_conv(conv: nn.Conv2d, g: torch.Generator) -> None:
    fan_in = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
    _normal_(conv.weight, g, WEIGHT_GAIN / math.sqrt(fan_in))
    _normal_(conv.bias, g, BIAS_STD)


def _head_inputs(model, x: torch.Tensor) -> List[torch.Tensor]:
    """The 6 source feature maps (inputs of the loc convs) for input ``x``."""
    feats: List[Optional[torch.Tensor]] = [None] * len(model.loc)
    handles = []
    for k, conv in enumerate(model.loc):
        def hook(_m, inp, _out, k=k):
            feats[k] = inp[0].detach().clone()
        handles.append(conv.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return feats


def _prior_index(offsets: List[int], anchors: List[int], k: int, pos: int, a: int) -> int:
    """Row of the prior for source k, cell pos (= i * W + j), anchor a."""
    return offsets[k] + pos * anchors[k] + a


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def make_state_dict(seed: int = SEED, input_seed: int = INPUT_SEED, verbose: bool = False
                    ) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Build the weights; returns (state_dict, report).  Deterministic for given seeds."""
    g = torch.Generator().manual_seed(seed)
    model = ssd_model.build_model("export")
    cfg = model.cfg
    num_classes = model.num_classes
    det_cfg = cfg["detection"]
    conf_thresh = det_cfg["conf_thresh"]
    nms_thresh = det_cfg["nms_thresh"]
    x = ssd_model.example_input(input_seed)

    with torch.no_grad():
        for conv in list(model.vgg) + list(model.extras) + list(model.loc) + list(model.conf):
            if isinstance(conv, nn.Conv2d):
                _init_conv(conv, g)
        model.L2Norm.weight.fill_(20.0)

    feats = _head_inputs(model, x)
    anchors = [conv.out_channels // 4 for conv in model.loc]
    sizes = [f.shape[2] * f.shape[3] for f in feats]
    offsets = [0]
    for a, s in zip(anchors, sizes):
        offsets.append(offsets[-1] + a * s)
    if offsets[-1] != model.priors.shape[0]:
        raise RuntimeError("prior count does not match the heads")

    with torch.no_grad():
        # ---- loc heads: mean 0, std LOC_STD on the example input
        for conv, f in zip(model.loc, feats):
            out = conv(f)
            mean, std = float(out.mean()), float(out.std())
            conv.weight.mul_(LOC_STD / std)
            conv.bias.copy_((conv.bias - mean) * (LOC_STD / std))

        # ---- conf heads: standardized channel responses z (C_out, H*W)
        zs: List[torch.Tensor] = []
        stats: List[Tuple[torch.Tensor, torch.Tensor]] = []
        for conv, f in zip(model.conf, feats):
            r = conv(f)[0].flatten(1).double()
            mu = r.mean(1)
            sd = r.std(1) if r.shape[1] > 1 else torch.ones_like(mu)
            sd = torch.where(sd > 1e-12, sd, torch.ones_like(sd))
            zs.append((r - mu[:, None]) / sd[:, None])
            stats.append((mu, sd))

        def prior_index(k: int, pos: int, a: int) -> int:
            return _prior_index(offsets, anchors, k, pos, a)

        # ---- plan the detections: (source, anchor, class, position, target score)
        plan: List[Tuple[int, int, int, int, float]] = []
        used_priors = set()
        classes = (torch.randperm(num_classes - 1, generator=g) + 1).tolist()
        for k, target in zip(SINGLE_SOURCES, TARGETS_SINGLE):
            # first (class, anchor) in seeded order whose channel has a clear maximum
            found = None
            for c in classes:
                for a in torch.randperm(anchors[k], generator=g).tolist():
                    top2 = torch.topk(zs[k][a * num_classes + c], 2)
                    gap = float(top2.values[0] - top2.values[1])
                    pos = int(top2.indices[0])
                    slope = (_logit(target) - LOGIT_FLOOR) / max(gap, 1e-12)
                    if gap >= MIN_TOP_GAP and slope <= MAX_SLOPE \
                            and prior_index(k, pos, a) not in used_priors:
                        found = (k, a, c, pos, target)
                        break
                if found is not None:
                    break
            if found is None:
                raise RuntimeError(f"no usable conf channel on source {k}")
            plan.append(found)
            classes.remove(found[2])
            used_priors.add(prior_index(found[0], found[3], found[1]))
        last = len(feats) - 1
        if sizes[last] != 1:
            raise RuntimeError("expected a 1x1 last feature map")
        class_a, class_b = plan[0][2], plan[1][2]
        plan.append((last, 0, class_a, 0, TARGET_A_KEPT))
        plan.append((last, 1, class_a, 0, TARGET_A_SUPPRESSED))
        plan.append((last, 2, class_b, 0, TARGET_B_WIDE))
        det_channels = {(k, a * num_classes + c): (pos, target) for k, a, c, pos, target in plan}

        # ---- rescale the conf channels: logits l = slope * z + shift
        for k, conv in enumerate(model.conf):
            z = zs[k]
            slope = torch.ones(z.shape[0], dtype=torch.float64)
            shift = LOGIT_FLOOR - z.max(1).values
            for ch in range(z.shape[0]):
                if ch % num_classes == 0:  # background: constant logit 0
                    slope[ch] = 0.0
                    shift[ch] = 0.0
            logits = slope[:, None] * z + shift[:, None]
            # detection channels: top-1 -> T, top-2 -> LOGIT_FLOOR (T solved exactly
            # below against the softmax denominator at that prior)
            for (kk, ch), (pos, target) in det_channels.items():
                if kk != k:
                    continue
                a = ch // num_classes
                others = logits.view(anchors[k], num_classes, -1)[a, :, pos].clone()
                others[ch % num_classes] = -math.inf
                others[0] = -math.inf
                rest = float(torch.exp(others).sum())  # sum of exp(other class logits)
                t = math.log(target / (1.0 - target) * (1.0 + rest))
                if z.shape[1] > 1:
                    top2 = torch.topk(z[ch], 2).values
                    s = (t - LOGIT_FLOOR) / float(top2[0] - top2[1])
                else:
                    s = 1.0
                slope[ch] = s
                shift[ch] = t - s * float(z[ch, pos])
                logits[ch] = slope[ch] * z[ch] + shift[ch]
            mu, sd = stats[k]
            gain = slope / sd
            conv.weight.copy_((conv.weight.double() * gain[:, None, None, None]).float())
            conv.bias.copy_((gain * (conv.bias.double() - mu) + shift).float())

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    report = _verify(state, plan, offsets, anchors, conf_thresh, nms_thresh, input_seed, verbose)
    return state, report


def _verify(state, plan, offsets, anchors, conf_thresh, nms_thresh, input_seed, verbose) -> Dict:
    """Forward the final weights and check the planned detections and their margins."""
    model = ssd_model.build_model("train")
    model.load_state_dict(state)
    x = ssd_model.example_input(input_seed)
    with torch.no_grad():
        loc, conf, priors = model(x)
        scores = torch.softmax(conf[0].double(), dim=-1)
        model.phase = "test"
        det = model(x)
    fg = scores[:, 1:]
    candidates = (fg > conf_thresh).nonzero().tolist()
    planned = {(_prior_index(offsets, anchors, k, pos, a), c): t for k, a, c, pos, t in plan}
    got = {(p, c + 1): float(fg[p, c]) for p, c in candidates}
    if set(got) != set(planned):
        raise RuntimeError(f"candidates {sorted(got)} != planned {sorted(planned)}")
    for key, t in planned.items():
        if abs(got[key] - t) > 1e-4:
            raise RuntimeError(f"score {got[key]} of {key} misses its target {t}")
    below = fg[fg <= conf_thresh]
    max_below = float(below.max())
    if max_below > conf_thresh / 10:
        raise RuntimeError(f"a non-detection score {max_below} is close to the threshold")
    vals = sorted(got.values())
    min_gap = min([b - a for a, b in zip(vals, vals[1:])] + [vals[0] - conf_thresh])
    if min_gap < 0.02:
        raise RuntimeError(f"scores too close: gap {min_gap}")
    # IoU of every same-class candidate pair (the only pairs NMS compares)
    boxes_now = ssd_model.decode(loc[0], priors, model.cfg["variance"])
    ious = []
    keys = sorted(got)
    for i, (p1, c1) in enumerate(keys):
        for p2, c2 in keys[i + 1:]:
            if c1 == c2:
                iou = float(ssd_model.box_iou(boxes_now[p1], boxes_now[p2:p2 + 1])[0])
                ious.append(((p1, p2, c1), iou))
                if abs(iou - nms_thresh) < 0.1:
                    raise RuntimeError(f"IoU {iou} of priors {p1}, {p2} is close to {nms_thresh}")
    rows = ssd_model.detections_as_caffe(det, keep_top_k=model.cfg["detection"]["keep_top_k"])
    if not any(iou > nms_thresh for _, iou in ious):
        raise RuntimeError("no NMS suppression in the plan")
    if len(rows) != len(got) - sum(iou > nms_thresh for _, iou in ious):
        raise RuntimeError("unexpected number of detections after NMS")
    by_score = sorted(rows[:, 2].tolist(), reverse=True)
    if rows[:, 2].tolist() == by_score:
        raise RuntimeError("label order equals score order: the ordering is not exercised")
    if not ((rows[:, 3:] < 0) | (rows[:, 3:] > 1)).any():
        raise RuntimeError("no border-crossing detection")
    report = {
        "candidates": {f"prior {p} class {c}": s for (p, c), s in sorted(got.items())},
        "pair_ious": {f"priors {a},{b} class {c}": v for (a, b, c), v in ious},
        "max_non_detection_score": max_below,
        "min_score_gap": min_gap,
        "detections": rows,
    }
    if verbose:
        for k, v in report.items():
            print(f"{k}: {v}")
    return report


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=None, help=f"output path (default {DEFAULT_OUT})")
    parser.add_argument("--out", dest="out_opt", default=None, help="output path (same as OUT)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    out = args.out_opt or args.out or DEFAULT_OUT
    state, report = make_state_dict(args.seed, verbose=args.verbose)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.save(state, out)
    print(f"wrote {out}: {len(report['detections'])} detections on example_input({INPUT_SEED}), "
          f"scores {sorted(report['detections'][:, 2].tolist(), reverse=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
