"""Deterministic weights for the MobileNet-SSD-Lite example: ``python examples/mobilenet_ssd/make_weights.py [OUT]``.

No download: every weight is made here, from seeds, so that the detections on ``example_input(0)``
and ``example_input(1)`` are few and far from every knife edge a float32 runtime could fall on:

1. convolutions: Kaiming-normal weights, biases N(0, 0.05²); BatchNorm: affine U(0.8, 1.2) /
   N(0, 0.1²), running statistics those of the two example images, then perturbed (mean + N(0,
   (0.05·std)²), variance × U(0.9, 1.1), at least VARIANCE_FLOOR × the layer's mean), so that activations stay O(1) through the 14 blocks;
2. regression headers: rescaled to outputs of std LOC_STD (boxes move moderately off the priors);
3. classification headers: rescaled to logits of std LOGIT_STD, the background logit raised by
   the smallest BACKGROUND_BIAS (in steps of 0.25) for which each image has 5 to 40 candidates.

``make_state_dict`` then checks, per image, that no class score is within SCORE_MARGIN of
conf_thresh, that every class has fewer than top_k candidates (no top_k cut), and that no two
candidates of a class have an IoU within IOU_MARGIN of iou_threshold; it raises otherwise.
"""
import argparse
import os
import sys

import numpy
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import model as example  # noqa: E402
from vision.ssd.config import mobilenetv1_ssd_config as config  # noqa: E402
from vision.utils import box_utils  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "mobilenet_ssd_lite.pth")
SEED = 0
LOC_STD = 0.5
LOGIT_STD = 1.5
CONF_THRESH = 0.01
TOP_K = 200
VARIANCE_FLOOR = 0.25  # × the layer's mean variance: near-constant channels would amplify float32 noise
SCORE_MARGIN = 1e-4
IOU_MARGIN = 1e-3
CANDIDATES = (5, 40)


def _init(net: nn.Module, generator: torch.Generator) -> None:
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
                module.weight.normal_(0, (2 / fan_in) ** 0.5, generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0, 0.05, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.8, 1.2, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)


def _calibrate_batch_norm(net: nn.Module, images: torch.Tensor, generator: torch.Generator) -> None:
    """Running statistics of the images themselves, then perturbed (so that they are not trivially batch stats)."""
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.train()
        norm.momentum = 1.0
    with torch.no_grad():
        net(images)
        for norm in norms:
            std = norm.running_var.sqrt()
            norm.running_mean += torch.randn(norm.num_features, generator=generator) * 0.05 * std
            norm.running_var *= torch.empty(norm.num_features).uniform_(0.9, 1.1, generator=generator)
            norm.running_var.clamp_(min=float(norm.running_var.mean()) * VARIANCE_FLOOR)
            norm.momentum = 0.1
    net.eval()


def _last_conv(header: nn.Module) -> nn.Conv2d:
    return header[-1] if isinstance(header, nn.Sequential) else header


def _rescale_headers(net, images: torch.Tensor) -> None:
    """Regression outputs to std LOC_STD, class logits to std LOGIT_STD (mean 0), on the example images."""
    outputs = {}
    hooks = [_last_conv(h).register_forward_hook(lambda m, i, o: outputs.__setitem__(m, o))
             for h in [*net.regression_headers, *net.classification_headers]]
    with torch.no_grad():
        net(images)
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        for headers, std in ((net.regression_headers, LOC_STD), (net.classification_headers, LOGIT_STD)):
            for header in headers:
                conv = _last_conv(header)
                out = outputs[conv]
                gain = std / float(out.std())
                conv.weight.mul_(gain)
                conv.bias.copy_((conv.bias - out.mean()) * gain)


def _raise_background(net, amount: float) -> None:
    with torch.no_grad():
        for header in net.classification_headers:
            _last_conv(header).bias[::net.num_classes] += amount


def _problems(scores: torch.Tensor, boxes: torch.Tensor) -> tuple[int, int, str | None]:
    """(fewest, most) candidates per image, and the first margin that fails (None if all hold)."""
    counts = [int((scores[image, :, 1:] > CONF_THRESH).sum()) for image in range(scores.shape[0])]
    problem = None
    if max(counts) > CANDIDATES[1]:
        return min(counts), max(counts), "too many candidates"
    for image in range(scores.shape[0]):
        foreground = scores[image, :, 1:]
        gaps = (foreground - CONF_THRESH).abs()
        if float(gaps.min()) < SCORE_MARGIN:
            problem = problem or f"a score within {float(gaps.min()):.2g} of conf_thresh"
        for label in range(foreground.shape[1]):
            chosen = torch.nonzero(foreground[:, label] > CONF_THRESH).flatten()
            if len(chosen) >= TOP_K:
                problem = problem or f"class {label + 1} has {len(chosen)} candidates"
            picked = boxes[image, chosen]
            for a in range(len(chosen) - 1):
                ious = box_utils.iou_of(picked[a + 1:], picked[a:a + 1], eps=0.0)
                if float((ious - config.iou_threshold).abs().min()) < IOU_MARGIN:
                    problem = problem or f"an IoU near {config.iou_threshold} in class {label + 1}"
    return min(counts), max(counts), problem


def make_state_dict(seed: int = SEED) -> dict:
    """The weights (state_dict, pytorch-ssd key names); deterministic for a seed. Raises RuntimeError if no
    background bias gives well-separated detections."""
    generator = torch.Generator().manual_seed(seed)
    net = example.build_model()
    images = torch.cat([example.example_input(0), example.example_input(1)])
    _init(net, generator)
    _calibrate_batch_norm(net, images, generator)
    _rescale_headers(net, images)
    with torch.no_grad():
        logits, _ = net(images)
        _, boxes = example.build_test_model_from(net)(images)
    logits = logits.double()
    for step in range(1, 81):  # the background logit only moves: its bias is searched on the logits
        bias = 4.0 + 0.25 * step
        scores = torch.softmax(torch.cat([logits[..., :1] + bias, logits[..., 1:]], -1), -1)
        fewest, most, problem = _problems(scores, boxes.double())
        if most <= CANDIDATES[1]:
            if fewest < CANDIDATES[0]:
                break
            if problem is None:
                _raise_background(net, bias)
                return {key: value.detach().clone() for key, value in net.state_dict().items()}
    raise RuntimeError(f"seed {seed}: no background bias gives {CANDIDATES} candidates per image with the margins")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    state = make_state_dict(args.seed)
    torch.save(state, args.out)
    image = os.path.join(os.path.dirname(os.path.abspath(args.out)), "example_input.npy")
    numpy.save(image, example.example_input(0).numpy())
    print(f"wrote {args.out} and {image} (example_input(0), for `pt2caffe check --input`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
