"""Which input sizes an exported net is valid for (InputSizes: per input, free axes, fixed ones and axes
valid at every multiple of a stride), as the report, the prototxt's header and ``check`` state it.

How the sizes are found: pt2caffe.net.probes; how a runtime is made to refuse the others:
pt2caffe.net.guards.
"""
from __future__ import annotations

from dataclasses import dataclass, field

AXIS_NAMES = {2: ["batch", "F"], 3: ["batch", "C", "L"], 4: ["batch", "C", "H", "W"], 5: ["batch", "C", "D", "H", "W"]}


@dataclass
class InputSizes:
    """What sizes one net input accepts: ``shape`` as exported; ``fixed`` axes (0 = batch) must keep
    their exported size; ``multiple`` axes take any multiple of their stride (axis → k); the others may
    change freely; ``reasons`` say why the axes that are not free are not (probe results, each starting
    "at SHAPE")."""

    name: str
    shape: tuple[int, ...]
    fixed: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    multiple: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_report(cls, entry: dict) -> InputSizes:
        """From a report's ``input_sizes`` entry (as_report); reports before strides have no "multiple_of"."""
        return cls(entry["name"], tuple(entry["shape"]), list(entry["fixed_axes"]), list(entry["why"]),
                   {int(axis): int(k) for axis, k in (entry.get("multiple_of") or {}).items()})

    def describe(self) -> str:
        """One line, e.g. ``data 1×3×64×48: batch free; H, W any multiple of 16; C = 3 fixed``."""
        names = AXIS_NAMES.get(len(self.shape)) or [f"axis{axis}" for axis in range(len(self.shape))]
        free = [names[axis] for axis in self.free_axes()]
        parts = [f"{', '.join(free)} free"] if free else []
        for k in sorted(set(self.multiple.values())):
            parts.append(f"{', '.join(names[a] for a in sorted(self.multiple) if self.multiple[a] == k)} "
                         f"any multiple of {k}")
        if self.fixed:
            parts.append(f"{'×'.join(names[a] for a in self.fixed)} = "
                         f"{'×'.join(str(self.shape[a]) for a in self.fixed)} fixed")
        return f"{self.name} {'×'.join(map(str, self.shape))}: " + "; ".join(parts)

    def why(self) -> str:
        """``why: <the first reason>`` ("" when every probed axis is free), as the prototxt's header says it."""
        return f"why: {self.reasons[0]}" if self.reasons else ""

    def free_axes(self) -> list[int]:
        return [axis for axis in range(len(self.shape)) if axis not in self.fixed and axis not in self.multiple]

    def as_report(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "fixed_axes": self.fixed,
                "free_axes": self.free_axes(), "multiple_of": {str(axis): k for axis, k in self.multiple.items()},
                "why": self.reasons}

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """True when ``shape`` keeps the rank and every fixed axis of the export, and every stride axis is a
        (positive) multiple of its stride."""
        return (len(shape) == len(self.shape) and all(shape[axis] == self.shape[axis] for axis in self.fixed)
                and all(shape[axis] > 0 and shape[axis] % k == 0 for axis, k in self.multiple.items()))


def header_comment(sizes: list[InputSizes]) -> str:
    """The prototxt's first lines: which input sizes the net is valid for (``#`` comments)."""
    lines = ["# pt2caffe: valid input sizes (any other size fails in the guard Reshape layers)"]
    for entry in sizes:
        lines.append(f"#   {entry.describe()}")
        lines.extend(f"#     why: {reason}" for reason in entry.reasons)
    return "\n".join(lines) + "\n"
