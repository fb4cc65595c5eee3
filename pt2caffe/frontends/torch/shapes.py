"""Input shapes and example inputs: ``--input-shape`` texts, INPUT_SHAPE(S) in MODEL.py, random tensors."""
from __future__ import annotations

import math
import operator

import torch

from ...errors import Pt2CaffeError, one_line, short


def _positive_shape(dims) -> tuple[int, ...] | None:
    """``dims`` as a shape if it is a non-empty sequence of positive integers, else None."""
    try:
        shape = tuple(operator.index(d) for d in dims)
    except TypeError:
        return None
    return shape if shape and all(d > 0 for d in shape) else None


def parse_shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224`` (or ``1x3x224x224``) as a shape; Pt2CaffeError for anything else (an empty or
    non-integer part, a non-positive size)."""
    try:
        shape = _positive_shape([int(part) for part in text.replace("x", ",").split(",")])
    except ValueError:
        shape = None
    if shape is None:
        raise Pt2CaffeError(f"bad --input-shape {short(text)}: expected positive integers like 1,3,224,224")
    return shape


def _declared_shape(value, name: str, path: str) -> tuple[int, ...]:
    shape = _positive_shape(value)
    if shape is None:
        raise Pt2CaffeError(f"bad {name} in {path}: expected positive integers like (1, 3, 224, 224), got {short(value)}")
    return shape


def input_shapes(module, path: str, given: list[str] | None) -> list[tuple[int, ...]]:
    """--input-shape (repeated), else INPUT_SHAPES / INPUT_SHAPE from MODEL.py."""
    if given:
        return [parse_shape(text) for text in given]
    if hasattr(module, "INPUT_SHAPES"):
        shapes = module.INPUT_SHAPES
        if not isinstance(shapes, (list, tuple)) or not shapes:
            raise Pt2CaffeError(f"bad INPUT_SHAPES in {path}: expected a list of shapes like "
                                f"[(1, 3, 224, 224), (1, 10)], got {short(shapes)}")
        return [_declared_shape(shape, f"INPUT_SHAPES[{i}]", path) for i, shape in enumerate(shapes)]
    if hasattr(module, "INPUT_SHAPE"):
        return [_declared_shape(module.INPUT_SHAPE, "INPUT_SHAPE", path)]
    raise Pt2CaffeError(f"no input shape: pass --input-shape N,C,H,W or define INPUT_SHAPE in {path}")


def random_inputs(shapes: list[tuple[int, ...]], seed: int = 0) -> list[torch.Tensor]:
    """Deterministic non-zero inputs in [-1, 1]; Pt2CaffeError when one cannot be allocated."""
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for shape in shapes:
        size = "x".join(map(str, shape))
        try:
            inputs.append(torch.rand(shape, generator=generator) * 2 - 1)
        except (RuntimeError, MemoryError, OverflowError) as error:
            values = math.prod(shape)
            raise Pt2CaffeError(f"cannot allocate an input of shape {size} ({values:,} float32 values, "
                                f"{values * 4 / 2 ** 30:,.1f} GiB): {type(error).__name__}: "
                                f"{one_line(str(error), 200)}") from None
    return inputs
