"""The input data of ``pt2caffe check``: random, an array file, or an image, with a note saying
exactly what was fed (printed and stored in the JSON, so that a run can be reproduced).

Images are read with OpenCV (an optional dependency, imported only here) and fed as the
model's first input: decoded to RGB (PyTorch models are almost always trained on RGB; a
one-channel input gets grayscale), resized to the input's H×W with bilinear interpolation,
scaled to [0, 1] and laid out as N×C×H×W float32, the same image in every batch item. No
mean/std normalisation is applied: the comparison holds for any input, and the model's own
normalisation is unknown here.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import Pt2CaffeError
from ..frontends.torch.shapes import random_inputs

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Not the export's input (seed 0): anything the export fixed at the example input's values shows.
CHECK_SEED = 1
RANDOM_NOTE = f"random uniform in [-1, 1), seed {CHECK_SEED}"


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def load_inputs(path: str | None, shapes: list[tuple[int, ...]], names: list[str], refuse_shape=None
                ) -> tuple[list[torch.Tensor], str]:
    """The model inputs (one tensor per shape) and a one-line note of how they were made.

    An input file's arrays must have ``shapes``, unless ``refuse_shape(index, shape)`` is given: then
    it decides (it raises Pt2CaffeError for a shape the net cannot take, e.g. pt2caffe.net.sizes').
    """
    if path is None:
        return random_inputs(shapes, CHECK_SEED), RANDOM_NOTE
    if not os.path.isfile(path):
        raise Pt2CaffeError(f"--input: file not found: {path}")
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        arrays, note = [_load_npy(path, shapes)], f"{path} (.npy as is)"
    elif extension == ".npz":
        arrays, note = _load_npz(path, shapes, names), f"{path} (.npz as is)"
    elif extension in IMAGE_EXTENSIONS:
        array, note = load_image(path, _single(shapes, path))
        arrays = [array]
    else:
        raise Pt2CaffeError(f"--input {path}: expected .npy, .npz or an image ({', '.join(IMAGE_EXTENSIONS)})")
    for index, (array, shape, name) in enumerate(zip(arrays, shapes, names)):
        if refuse_shape is not None:
            refuse_shape(index, tuple(array.shape))
        elif tuple(array.shape) != tuple(shape):
            raise Pt2CaffeError(f"--input {path}: input {name} has shape {_shape_text(array.shape)}, "
                                f"the model takes {_shape_text(shape)}")
    return [torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)) for array in arrays], note


def _single(shapes: list[tuple[int, ...]], path: str) -> tuple[int, ...]:
    if len(shapes) != 1:
        raise Pt2CaffeError(f"--input {path}: the model has {len(shapes)} inputs; give an .npz with one "
                            "array per input")
    return shapes[0]


def _load_npy(path: str, shapes) -> np.ndarray:
    _single(shapes, path)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise Pt2CaffeError(f"--input {path}: not a readable .npy file: {error}") from None


def _load_npz(path: str, shapes, names: list[str]) -> list[np.ndarray]:
    """Arrays named like the net's inputs, or ``np.savez`` positional ones (arr_0, arr_1, ...)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise Pt2CaffeError(f"--input {path}: not a readable .npz file: {error}") from None
    for keys in (names, [f"arr_{i}" for i in range(len(shapes))]):
        if all(key in stored for key in keys):
            return [stored[key] for key in keys]
    raise Pt2CaffeError(f"--input {path}: expected arrays named {', '.join(names)} (it holds "
                        f"{', '.join(stored) or 'none'})")


def load_image(path: str, shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """An image as an N×C×H×W float32 array in [0, 1] (see the module docstring) and its note."""
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise Pt2CaffeError(f"--input {path}: an image can feed an N×3×H×W or N×1×H×W input, "
                            f"not {_shape_text(shape)}")
    try:
        import cv2
    except ImportError:
        raise Pt2CaffeError("--input with an image needs OpenCV: pip install opencv-python-headless "
                            "(or give the array as .npy)") from None
    batch, channels, height, width = shape
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
    if image is None:
        raise Pt2CaffeError(f"--input {path}: OpenCV cannot decode this image")
    original = f"{image.shape[1]}x{image.shape[0]}"
    if channels == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    chw = resized.reshape(height, width, channels).transpose(2, 0, 1).astype(np.float32) / 255.0
    colour = "RGB" if channels == 3 else "grayscale"
    note = (f"{path}: {original} image as {colour}, resized to {width}x{height} (bilinear), scaled to [0, 1], "
            f"no mean/std, {_shape_text(shape)} float32")
    return np.repeat(chw[None], batch, axis=0), note
