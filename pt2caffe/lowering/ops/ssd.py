"""SSD's ops: ssd.pytorch's L2Norm module and F.normalize over channels, as Caffe's Normalize.

Normalize (across_spatial false) computes, per position, y = x / √(Σ_c x² + eps_caffe) · scale[c].
L2Norm computes x / (n + ε) · weight[c] and F.normalize x / max(n, ε), with n = ‖x‖₂ over the
channels at that position. The ε sits in a different place, so no eps_caffe is equal for every
n; eps_caffe = ε² (what is written) makes Caffe's factor n/√(n² + ε²) and torch's n/(n + ε) or
n/max(n, ε) all lie in [1 − ε/n, 1], so per position, relative to the scale:

  L2Norm:       |y_caffe − y_torch| ≤ ε/n · |weight|
  F.normalize:  |y_caffe − y_torch| ≤ (ε/n)²/2   (n ≥ ε)

At a position where x = 0 both give 0. With ssd.pytorch's ε = 1e-10 the deviation is ≤ 1e-6 of
the scale wherever n ≥ 1e-4, and in float32 it vanishes for n > 2e-3 (ε is below half of n's
ulp, so torch's n + ε is n). Only for ε ≤ EPS_LIMIT is Normalize used: an L2Norm with a larger
ε is traced op by op (pow, sum, sqrt, add, div, mul) and lowered exactly by those ops' handlers;
an F.normalize with a larger ε is refused.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ...graph import Const
from ...net.builder import Blob
from ..compose import normalize_dim
from ..registry import handles, handles_module

EPS_LIMIT = 1e-6


def _is_l2norm(module: nn.Module) -> bool:
    """ssd.pytorch's L2Norm: a per-channel ``weight`` Parameter and a small float ``eps``."""
    weight, eps = getattr(module, "weight", None), getattr(module, "eps", None)
    return (isinstance(weight, nn.Parameter) and weight.dim() == 1 and isinstance(eps, float)
            and 0 <= eps <= EPS_LIMIT)


def _normalize(ctx, x, eps: float, scale) -> Blob:
    params = {"across_spatial": False, "channel_shared": False, "eps": float(eps) ** 2}
    return ctx.layer("Normalize", [ctx.blob(x)], {"norm_param": params}, weights=[scale])


def _computes_l2norm(module: nn.Module, channels: int) -> bool:
    """Whether ``module`` really computes x / (‖x‖₂ over channels + eps) · weight (on a random input)."""
    probe = torch.randn(1, channels, 2, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = module(probe)
        norm = probe.pow(2).sum(1, keepdim=True).sqrt() + module.eps
        expected = probe / norm * module.weight.reshape(1, -1, 1, 1)
    return isinstance(got, torch.Tensor) and got.shape == expected.shape and \
        torch.allclose(got, expected, rtol=1e-5, atol=1e-6 * float(expected.abs().max()))


@handles_module("L2Norm", matches=_is_l2norm,
                lowering="Normalize (across_spatial/channel_shared false, eps², scale = weight): deviates ≤ "
                         "eps/‖x‖; eps > 1e-6: traced op by op, exact", exact=False)
def l2norm(op, ctx):
    module, x = op.module, op.arg(0, "x")
    shape = ctx.shape(x)
    if len(shape) != 4 or shape[1] != module.weight.numel():
        raise ctx.fail(f"expected an (N, {module.weight.numel()}, H, W) input, got {list(shape)}")
    if not _computes_l2norm(module, shape[1]):
        raise ctx.fail("the module is called L2Norm and has weight and eps, but does not compute "
                       "x / (‖x‖₂ over channels + eps) · weight")
    key = f"{op.module_path}.weight" if op.module_path else "weight"
    return _normalize(ctx, x, module.eps, ctx.weight(Const(module.weight.detach(), (key,), key)))


@handles("normalize", lowering="Normalize (across_spatial/channel_shared false, eps², scale 1): p = 2 over "
                               "the channels; deviates ≤ (eps/‖x‖)²/2", exact=False)
def functional_normalize(op, ctx):
    x, p = op.arg(0, "input"), float(op.arg(1, "p", 2.0))
    shape = ctx.shape(x)
    dim, eps = normalize_dim(int(op.arg(2, "dim", 1)), len(shape)), float(op.arg(3, "eps", 1e-12))
    if p != 2 or dim != 1 or len(shape) not in (2, 4):
        raise ctx.fail(f"only p=2 over dim 1 of a 2-D or 4-D tensor maps to Normalize (got p={p:g}, dim={dim}, "
                       f"{len(shape)}-D)")
    if eps > EPS_LIMIT:
        raise ctx.fail(f"eps {eps:g} > {EPS_LIMIT:g}: Caffe's Normalize adds eps inside the square root, "
                       "torch clamps the norm at eps; they differ for norms near eps")
    return _normalize(ctx, x, eps, ctx.constant(np.ones(shape[1]), "F.normalize has no scale: 1 per channel"))
