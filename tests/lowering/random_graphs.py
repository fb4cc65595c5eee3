"""Seeded random op graphs over every handler family, for finding silent wrong exports.

``generate(seed)`` draws 3–12 ops (family uniformly, then an op of it and its arguments) applied to the
input or to earlier results, on a small 2-, 3- or 4-D input. Each candidate runs at once on a concrete
tensor and is kept only if PyTorch accepts it and its result is a small finite float tensor, so every graph
is valid PyTorch; a graph's model holds its modules and constants (as buffers), so that ``.double()``
gives its float64 twin. The op makers, one per handler family, are in ``random_ops`` and ``random_layout_ops``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

import random_layout_ops
import random_ops

MAX_ELEMENTS = 20_000  # per value: keeps graphs small and fast
MAKERS = {**random_ops.MAKERS, **random_layout_ops.MAKERS}  # handler family → op maker


class RandomGraph(nn.Module):
    """forward(x): every step in order; returns the last value, and an earlier one too when ``extra``."""

    def __init__(self, steps: list, extra: int | None):
        super().__init__()
        self.calls = [step.call for step in steps]
        self.texts = [step.text for step in steps]
        self.families = [step.family for step in steps]
        self.extra = extra
        self.parts = nn.ModuleDict({f"s{i}": step.module for i, step in enumerate(steps) if step.module is not None})

    def forward(self, x):
        values = [x]
        for i, call in enumerate(self.calls):
            values.append(call(self.parts[f"s{i}"] if f"s{i}" in self.parts else None, values))
        return (values[-1], values[self.extra]) if self.extra is not None else values[-1]

    def describe(self) -> str:
        """The graph as text: v1 = …; v2 = …, with v0 the input."""
        return "; ".join(f"v{i + 1} = {text}" for i, text in enumerate(self.texts))


def _input(rng) -> torch.Tensor:
    rank = int(rng.choice([4, 4, 4, 4, 3, 2]))
    sizes = {4: [(1, 3), (1, 7), (2, 13), (2, 13)], 3: [(1, 3), (2, 9), (2, 9)], 2: [(1, 3), (2, 17)]}[rank]
    shape = tuple(int(rng.integers(low, high)) for low, high in sizes)
    return torch.rand(shape, generator=torch.Generator().manual_seed(int(rng.integers(1 << 31)))) * 2 - 1


def _acceptable(out) -> bool:
    return (isinstance(out, torch.Tensor) and out.is_floating_point() and 0 < out.numel() <= MAX_ELEMENTS
            and out.dim() >= 1 and bool(torch.isfinite(out).all()) and float(out.abs().max()) < 1e4)


def _next_step(rng, values: list[torch.Tensor]):
    """A step that PyTorch accepts on ``values`` (None after 50 draws that do not fit)."""
    families = sorted(MAKERS)
    for _ in range(50):
        step = MAKERS[families[int(rng.integers(len(families)))]](rng, values)
        if step is None:
            continue
        if step.module is not None:
            step.module.eval()
        try:
            out = step.call(step.module, values)
        except (RuntimeError, ValueError, IndexError):  # PyTorch refused these arguments: draw again
            continue
        if _acceptable(out):
            values.append(out)
            return step
    return None


def generate(seed: int) -> tuple[RandomGraph, torch.Tensor]:
    """The graph of ``seed`` in eval mode and its input (the same for the same seed, on any machine)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)  # the modules' initial weights
    x = _input(rng)
    values, steps = [x], []
    with torch.no_grad():
        for _ in range(int(rng.integers(3, 13))):
            step = _next_step(rng, values)
            if step is None:
                break
            steps.append(step)
    extra = int(rng.integers(1, len(steps))) if len(steps) > 1 and rng.random() < 0.2 else None
    return RandomGraph(steps, extra).eval(), x
