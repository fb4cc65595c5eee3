"""One axis of ONNX Resize as an (out × in) matrix, in float32 arithmetic as onnxruntime computes it."""
from __future__ import annotations

import math

import numpy as np

f32 = np.float32


def output_length(length: int, scale: float) -> int:
    """floor(scale · length) with the product in float32."""
    return int(math.floor(f32(scale) * f32(length)))


def original_coordinates(mode: str, out_length: int, length: int, scale: float, roi=(0.0, 1.0)) -> np.ndarray:
    """The input coordinate of every output index (ONNX Resize coordinate_transformation_mode): computed in
    float64 from ``scale`` (the float32 value given in ``scales``, or out/in exactly for ``sizes``) and rounded
    to float32, which is what onnxruntime's choices of nearest pixels match."""
    x = np.arange(out_length, dtype=np.float64)
    if scale == 1:
        return x.astype(f32)
    if mode == "asymmetric":
        y = x / scale
    elif mode == "half_pixel":
        y = (x + 0.5) / scale - 0.5
    elif mode == "pytorch_half_pixel":
        y = (x + 0.5) / scale - 0.5 if out_length > 1 else np.zeros_like(x)
    elif mode == "tf_half_pixel_for_nn":
        y = (x + 0.5) / scale
    elif mode == "align_corners":
        y = np.zeros_like(x) if out_length == 1 else x * (length - 1) / (out_length - 1)
    elif mode == "tf_crop_and_resize":
        start, end = (f32(v) for v in roi)  # float32 as onnxruntime
        xf, last_in, last_out = x.astype(f32), f32(length - 1), f32(out_length - 1)
        y = (start * last_in + (xf * (end - start) * last_in) / last_out if out_length > 1
             else np.full_like(x, 0.5 * float(start + end) * (length - 1)))
    elif mode == "half_pixel_symmetric":
        adjustment = f32(out_length) / (f32(scale) * f32(length))  # float32 as onnxruntime
        offset = f32(length) / f32(2) * (f32(1) - adjustment)
        y = float(offset) + (x + 0.5) / float(f32(scale)) - 0.5
    else:
        raise ValueError(f"unknown coordinate_transformation_mode {mode!r}")
    return y.astype(f32)


def _nearest(x: np.ndarray, rounding: str, downsample: bool) -> np.ndarray:
    if rounding == "simple":
        return np.ceil(x) if downsample else np.trunc(x)
    if rounding == "floor":
        return np.floor(x)
    if rounding == "ceil":
        return np.ceil(x)
    away = np.sign(x) * np.floor(np.abs(x) + f32(0.5))  # std::round: halves away from zero
    if rounding == "round_prefer_ceil":
        return away
    halfway = x == np.trunc(x) + f32(0.5)
    return np.where(halfway, np.floor(x), away)


def _cubic(s: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic kernel at distances 1+s, s, 1−s, 2−s (ONNX Resize cubic), float32."""
    a = f32(a)
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1
    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.stack([far(s + 1), near(s), near(1 - s), far(2 - s)], axis=1).astype(f32)


def axis_matrix(length: int, out_length: int, scale: float, mode: str, coordinates: str, rounding: str,
                cubic_a: float = -0.75, exclude_outside: bool = False, roi=(0.0, 1.0),
                extrapolate: bool = False) -> np.ndarray:
    x = original_coordinates(coordinates, out_length, length, scale, roi)
    matrix = np.zeros((out_length, length), dtype=np.float64)
    rows = np.arange(out_length)
    outside = (x < 0) | (x > length - 1) if extrapolate else np.zeros(out_length, bool)
    if mode == "nearest":
        index = np.clip(_nearest(x, rounding, scale < 1), 0, length - 1).astype(np.int64)
        matrix[rows, index] = 1.0
    elif mode == "linear":
        clamped = np.clip(x, f32(0), f32(length - 1)).astype(f32)
        left = np.minimum(clamped.astype(np.int64), length - 1)
        right = np.minimum(left + 1, length - 1)
        to_right = np.abs(clamped - left.astype(f32)).astype(f32)
        to_left = np.abs(clamped - right.astype(f32)).astype(f32)
        same = left == right
        to_left[same] = to_right[same] = f32(0.5)
        np.add.at(matrix, (rows, left), to_left.astype(np.float64))
        np.add.at(matrix, (rows, right), to_right.astype(np.float64))
    elif mode == "cubic":
        base = np.floor(x).astype(np.int64)
        coefficients = _cubic((x - base.astype(f32)).astype(f32), cubic_a).astype(np.float64)
        for k in range(4):
            index = base - 1 + k
            weight = coefficients[:, k].copy()
            if exclude_outside:
                weight[(index < 0) | (index >= length)] = 0.0
            np.add.at(matrix, (rows, np.clip(index, 0, length - 1)), weight)
        if exclude_outside:
            matrix /= matrix.sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    matrix[outside] = 0.0
    return matrix


def _filter(t: np.ndarray, mode: str, a: float) -> np.ndarray:
    """The interpolation kernel at distances ``t`` in float32: the triangle (linear) or Keys' cubic with ``a``."""
    t, a = np.abs(t).astype(f32), f32(a)
    if mode == "linear":
        return np.maximum(f32(1) - t, f32(0)).astype(f32)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = (((t - 5) * t + 8) * t - 4) * a
    return np.where(t < 1, near, np.where(t < 2, far, f32(0))).astype(f32)


def antialias_matrix(length: int, out_length: int, scale: float, mode: str, coordinates: str,
                     cubic_a: float = -0.75, exclude_outside: bool = False) -> np.ndarray:
    """One axis of Resize with antialias=1 (linear or cubic; ONNX Resize-18): the kernel stretched by the
    shrink factor 1/scale when downsampling (Pillow's resampling), in float32 as onnxruntime's
    upsample_antialias computes it (its matrices measured equal, 168 cases). Output i is centred at
    c = x(i) + 0.5 (x: the coordinate transform); the support is s = 1 (linear) or 2 (cubic) times
    max(1/scale, 1); the taps j = floor(c − s + 0.5) … floor(c + s + 0.5) − 1 (at most 2⌈s⌉ + 1) weigh
    kernel((j − c + 0.5) · min(scale, 1)), normalised to sum 1. Taps outside the input are dropped with
    exclude_outside, else their weight goes to the edge cell they fall beyond."""
    shrink = f32(1) / f32(scale)
    support = f32(1 if mode == "linear" else 2) * (shrink if shrink >= 1 else f32(1))
    stretch = f32(1) / shrink if shrink >= 1 else f32(1)
    window = int(math.ceil(support)) * 2 + 1
    centres = original_coordinates(coordinates, out_length, length, scale) + f32(0.5)
    matrix = np.zeros((out_length, length), dtype=np.float64)
    for row, centre in enumerate(centres.astype(f32)):
        first = int(math.floor(centre - support + f32(0.5)))
        last = int(math.floor(centre + support + f32(0.5)))
        taps = np.arange(first, first + min(max(last - first, 0), window))
        if exclude_outside:
            taps = taps[(taps >= 0) & (taps < length)]
        weights = _filter((taps.astype(f32) - centre + f32(0.5)) * stretch, mode, cubic_a)
        total = f32(0)
        for weight in weights:  # onnxruntime's order of the float32 sum
            total = f32(total + weight)
        weights = weights * (f32(1) / total if total != 0 else f32(1))
        np.add.at(matrix[row], np.clip(taps, 0, length - 1), weights.astype(np.float64))
    return matrix
