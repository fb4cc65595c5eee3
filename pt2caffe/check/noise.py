"""A model's own float32 noise: how far its float32 forward is from a float64 forward of a copy.

OpenCV and MNN compute k×k convolutions with Winograd transforms, which round far more than a direct
float32 sum (measured on one 5×5 Convolution, 32 channels, 20×20: MNN 4.3e-4 and OpenCV 4e-7 relative,
against a float32 noise of 6.3e-7: a ratio of about 700). pycaffe (in this machine's build or the Docker
image) sums directly, in another order than PyTorch: where a model's float32 arithmetic is itself noisy
(nearly cancelling sums, sharp softmaxes: SKNet-50 with pytorchcv's init misses 1e-4 by 1.5× while its own
float32 forward is 9.5e-4 from a float64 one), the two float32 results differ by about that noise. Results
are therefore judged against their backend's factor (NOISE_FLOORS) × that noise where they miss the plain tolerance,
never against a blanket looser one.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..frontends.torch.trace import trace
from ..lowering.registry import is_atomic

NOISE_FACTOR = 1000  # × the float32-vs-float64 relative error: covers the measured ratio of ~700
_WINOGRAD = (NOISE_FACTOR, "the runtime's Winograd convolutions")
_DIRECT = (10, "sums in another order")  # direct float32 sums: the random-graph tests' factor
# backend → (factor, why its results round differently from PyTorch's float32 ones)
NOISE_FLOORS = {"opencv": _WINOGRAD, "mnn": _WINOGRAD, "pycaffe": _DIRECT, "docker": _DIRECT}


def relative_error(values: np.ndarray, reference: np.ndarray) -> float:
    """max |values − reference| / max |reference| (the plain max |difference| when the reference is 0)."""
    if not reference.size:
        return 0.0
    scale, difference = float(np.abs(reference).max()), float(np.abs(values - reference).max())
    return difference / scale if scale > 0 else difference


def float32_noise(model: torch.nn.Module, inputs: list[torch.Tensor], references: dict[str, tuple[int, np.ndarray]]
                  ) -> dict[str, float]:
    """{blob: relative error of its float32 value against the float64 trace} for ``references``
    ({blob: (traced value index, float32 array)}). Empty when the model cannot run in float64."""
    try:
        graph = trace(copy.deepcopy(model).double(), [tensor.double() for tensor in inputs], capture=True,
                      is_atomic=is_atomic)
    except Exception:  # noqa: BLE001 — a model that does not run in float64 has no floor
        return {}
    noise = {}
    for blob, (index, single) in references.items():
        value = graph.values[index] if index < len(graph.values) else None
        if value is not None and value.tensor is not None and tuple(value.tensor.shape) == single.shape:
            noise[blob] = relative_error(single.astype(np.float64), value.tensor.numpy())
    return noise
