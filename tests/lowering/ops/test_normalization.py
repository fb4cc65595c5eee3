"""BatchNorm (with random running statistics), LRN, and GroupNorm / InstanceNorm / LayerNorm compositions."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers import Lambda, export_and_compare, random_inputs


def randomized(bn):
    with torch.no_grad():
        bn.running_mean.normal_(0, 0.5)
        bn.running_var.uniform_(0.3, 3)
        if bn.affine:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0, 0.3)
    return bn


@pytest.mark.parametrize("bn,shape", [
    (nn.BatchNorm2d(5), (1, 5, 4, 6)),
    (nn.BatchNorm2d(5, eps=1e-3, affine=False), (1, 5, 4, 6)),
    (nn.BatchNorm1d(5), (2, 5)),
    (nn.BatchNorm1d(5), (1, 5, 7)),
], ids=str)
def test_batch_norm(tmp_path, bn, shape):
    export_and_compare(nn.Sequential(randomized(bn)), random_inputs([shape]), tmp_path)


@pytest.mark.parametrize("k", [1.0, 2.0])
def test_local_response_norm(tmp_path, k):
    """OpenCV ignores LRN's k (measured: 0.68 relative error at k=2), so it only checks k=1."""
    export_and_compare(nn.Sequential(nn.LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=k)),
                       random_inputs([(1, 7, 5, 5)]), tmp_path)


def random_affine(norm):
    with torch.no_grad():
        for name in ("weight", "bias"):
            param = getattr(norm, name, None)
            if param is not None:
                param.copy_(torch.randn(param.shape) * 0.5 + (1.0 if name == "weight" else 0.0))
    return norm


EPS = [1e-5, 1e-3]


@pytest.mark.parametrize("eps", EPS)
@pytest.mark.parametrize("norm,shape", [
    (lambda eps: nn.GroupNorm(3, 12, eps=eps), (2, 12, 5, 7)),
    (lambda eps: nn.GroupNorm(1, 6, eps=eps, affine=False), (1, 6, 4, 4)),
    (lambda eps: nn.GroupNorm(4, 8, eps=eps), (1, 8, 9)),  # 1-D feature maps
    (lambda eps: nn.GroupNorm(2, 4, eps=eps), (3, 4)),
    (lambda eps: nn.InstanceNorm2d(5, eps=eps, affine=True), (2, 5, 6, 7)),
    (lambda eps: nn.InstanceNorm2d(5, eps=eps), (1, 5, 6, 7)),
    (lambda eps: nn.InstanceNorm1d(5, eps=eps, affine=True), (2, 5, 11)),
    (lambda eps: nn.LayerNorm(7, eps=eps), (1, 9, 7)),
    (lambda eps: nn.LayerNorm([4, 5, 6], eps=eps), (2, 4, 5, 6)),
    (lambda eps: nn.LayerNorm(6, eps=eps, elementwise_affine=False), (4, 6)),
    (lambda eps: nn.LayerNorm(6, eps=eps, bias=False), (2, 3, 6)),
], ids=lambda item: repr(item(1e-5)).replace("eps=1e-05, ", "") if callable(item) else str(item))
def test_input_statistics_norms(tmp_path, norm, shape, eps):
    """An offset, and spreads from 0.02 to 3 over the first two axes: with variances near eps, a wrong
    eps placement (MVN's σ + eps) or a wrong variance shows up."""
    spread = torch.logspace(math.log10(0.02), math.log10(3.0), math.prod(shape[:2])).reshape(shape[:2])
    x = random_inputs([shape])[0] * spread.reshape(shape[:2] + (1,) * (len(shape) - 2)) + 1.5
    export_and_compare(nn.Sequential(random_affine(norm(eps))), [x], tmp_path)


def test_instance_norm_with_running_stats(tmp_path):
    norm = randomized(nn.InstanceNorm2d(5, affine=True, track_running_stats=True))
    export_and_compare(nn.Sequential(norm), random_inputs([(1, 5, 4, 6)]), tmp_path)


def test_layer_norm_functional_and_constant_variance(tmp_path):
    """F.layer_norm with a plain int shape; a constant row (variance 0) gives 0 · 1/sqrt(eps)."""
    model = Lambda(lambda self, x: F.layer_norm(torch.cat([x, x * 0 + 2], 1), (8,), eps=1e-3))
    export_and_compare(model, random_inputs([(1, 3, 8)]), tmp_path)

