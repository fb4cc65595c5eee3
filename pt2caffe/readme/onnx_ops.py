"""The README's list of ONNX op types the front end converts, per family, generated from its converter registry.

    python -m pt2caffe.readme.onnx_ops README.md    # rewrite the list between its markers
"""
from __future__ import annotations

import sys

from ..frontends.onnx import blocks  # noqa: F401  (imports every converter family, filling the registry)
from ..frontends.onnx.registry import FAMILIES
from .tables import block_writer, rewrite

BEGIN, END = "<!-- onnx-ops:begin -->", "<!-- onnx-ops:end -->"
CONTROL = "`If` (its condition a constant, e.g. a test of a shape: the chosen branch runs inline)"


def onnx_ops_table() -> str:
    """One row per converter module: its op types."""
    families: dict[str, list[str]] = {}
    for op_type, family in FAMILIES.items():
        families.setdefault(family, []).append(op_type)
    lines = ["| family | ONNX op types (opsets 7–21) |", "|---|---|"]
    lines += [f"| {family} | {', '.join(f'`{op}`' for op in sorted(ops))} |" for family, ops in sorted(families.items())]
    lines.append(f"| control | {CONTROL} |")
    return "\n".join(lines)


with_table = block_writer(BEGIN, END, onnx_ops_table)  # README text → the same with the current list

if __name__ == "__main__":
    rewrite(sys.argv[1] if len(sys.argv) > 1 else "README.md", with_table)
