"""Caffe's conventions, undone: the blobs of a user's unit as the PyTorch-side unit's blobs.

Each function returns {(PyTorch-side layer name, blob index): array} plus the transform said in words.
Sources: Caffe's batch_norm_layer.cpp (mean and variance are stored multiplied by the scale-factor
blob; Caffe divides by it, and uses 0 when it is 0), scale_layer.cpp (``bias_term`` false: no β),
inner_product_layer.cpp (weight (N, K) applied to the input flattened from ``axis``: a Convolution
with N outputs and fan-in K on a (K, 1, 1) or (C, H, W) input is the same map).
"""
from __future__ import annotations

import numpy as np

from ..errors import Pt2CaffeError
from .units import Unit

Blobs = dict  # (PyTorch-side layer name, blob index) → (array, user layer[blob] it came from, transform)


def _zeros_like(array: np.ndarray) -> np.ndarray:
    return np.zeros(array.shape, np.float32)


def factor_inverse(blob: np.ndarray) -> np.float32:
    """1 / scale factor as Caffe computes it (float32), 0 for a zero factor (batch_norm_layer.cpp)."""
    factor = np.float32(blob.reshape(-1)[0])
    return np.float32(0) if factor == 0 else np.float32(1) / factor


def linear_map(mine: Unit, theirs: Unit) -> tuple[Blobs, np.ndarray | None]:
    """Weights (reshaped when the layouts differ) and bias; returns the user's bias when the PyTorch
    unit has none (to be folded into the BatchNorm that follows)."""
    target, source = mine.layers[0], theirs.layers[0]
    weight = source.blobs[0]
    how = "" if weight.shape == target.blobs[0].shape else (
        f"{'×'.join(map(str, weight.shape))} reshaped to {'×'.join(map(str, target.blobs[0].shape))}")
    out = {(target.name, 0): (weight.reshape(target.blobs[0].shape), f"{source.name}[0]", how)}
    if len(target.blobs) > 1:
        if len(source.blobs) > 1:
            out[(target.name, 1)] = (source.blobs[1].reshape(target.blobs[1].shape), f"{source.name}[1]", "")
        else:
            out[(target.name, 1)] = (_zeros_like(target.blobs[1]), "(none)", f"{source.name} has no bias: 0")
        return out, None
    return out, source.blobs[1].reshape(-1) if len(source.blobs) > 1 else None


def batch_norm(mine: Unit, theirs: Unit) -> Blobs:
    """BatchNorm (+ Scale) → PyTorch running stats (divided by the scale factor) and γ, β."""
    norm, user = mine.layers[0], theirs.layers[0]
    if len(user.blobs) < 3:
        raise Pt2CaffeError(f"Caffe BatchNorm {user.name} has {len(user.blobs)} blobs, expected mean, variance and "
                            "scale factor")
    inverse = factor_inverse(user.blobs[2])
    said = f"÷ {user.name}'s scale factor {float(user.blobs[2].reshape(-1)[0]):g}"
    out = {(norm.name, 0): (user.blobs[0].reshape(-1) * inverse, f"{user.name}[0]", said),
           (norm.name, 1): (user.blobs[1].reshape(-1) * inverse, f"{user.name}[1]", said)}
    if len(mine.layers) > 1:
        affine = mine.layers[1]
        if len(theirs.layers) > 1:
            scale = theirs.layers[1]
            out[(affine.name, 0)] = (scale.blobs[0].reshape(-1), f"{scale.name}[0]", "")
            out[(affine.name, 1)] = ((scale.blobs[1].reshape(-1), f"{scale.name}[1]", "") if len(scale.blobs) > 1 else
                                     (_zeros_like(affine.blobs[1]), "(none)", f"{scale.name} has no bias_term: 0"))
        else:
            out[(affine.name, 0)] = (np.ones(affine.blobs[0].shape, np.float32), "(none)", f"no Scale after {user.name}: 1")
            out[(affine.name, 1)] = (_zeros_like(affine.blobs[1]), "(none)", f"no Scale after {user.name}: 0")
    return out


def same_layout(mine: Unit, theirs: Unit) -> Blobs:
    """PReLU, Normalize, Scale, Bias, Embed: blob for blob (reshaped by count)."""
    target, source = mine.layers[0], theirs.layers[0]
    if len(source.blobs) != len(target.blobs):
        raise Pt2CaffeError(f"Caffe {source.type} {source.name} has {len(source.blobs)} blobs where PyTorch's "
                            f"{target.name} needs {len(target.blobs)}")
    out = {}
    for i, (want, have) in enumerate(zip(target.blobs, source.blobs)):
        if have.size == want.size:
            out[(target.name, i)] = (have.reshape(want.shape), f"{source.name}[{i}]", "")
        elif have.size == 1:
            out[(target.name, i)] = (np.full(want.shape, have.reshape(-1)[0], np.float32), f"{source.name}[{i}]",
                                     "one shared value repeated")
        else:
            raise Pt2CaffeError(f"Caffe {source.type} {source.name} blob {i} has {have.size} values where PyTorch's "
                                f"{target.name} needs {want.size}")
    return out


def unit_blobs(mine: Unit, theirs: Unit) -> tuple[Blobs, np.ndarray | None]:
    """The PyTorch-side blobs of a pair, and a bias left to fold (or None)."""
    if mine.kind == "batch norm":
        return batch_norm(mine, theirs), None
    if mine.kind in ("linear map", "transposed convolution"):
        return linear_map(mine, theirs)
    return same_layout(mine, theirs), None


def fold_bias(blobs: Blobs, bias: np.ndarray, norm: Unit, owner: str) -> None:
    """A convolution bias the PyTorch conv lacks, moved into the next BatchNorm: BN(x + b) has running
    mean μ − b (the normalisation subtracts the mean)."""
    key = (norm.layers[0].name, 0)
    mean, origin, how = blobs[key]
    blobs[key] = (mean - bias, origin, f"{how}; − {owner}[1] (Caffe's convolution bias; the PyTorch one has none)".lstrip("; "))
