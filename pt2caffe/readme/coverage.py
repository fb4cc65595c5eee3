"""The README's coverage table (op → Caffe layers, exact or not), generated from the handler registry.

    python -m pt2caffe.readme.coverage README.md    # rewrite the table between its markers
"""
from __future__ import annotations

import sys

from ..lowering import ops  # noqa: F401  (imports every op family, filling the registry)
from ..lowering.registry import HANDLERS
from .tables import rewrite, with_block

BEGIN, END = "<!-- coverage:begin -->", "<!-- coverage:end -->"


def coverage_table() -> str:
    """One row per handler function: its op kinds, family, lowering, exactness and portability
    (✓: pycaffe, OpenCV and MNN all run it; otherwise the cases one of them cannot run)."""
    rows: dict[int, list] = {}
    for handler in HANDLERS.values():
        rows.setdefault(id(handler.fn), [handler, []])[1].append(handler.kind)
    lines = ["| torch op | family | Caffe layers (stock SSD Caffe) | exact | pycaffe · OpenCV · MNN |",
             "|---|---|---|---|---|"]
    for handler, kinds in sorted(rows.values(), key=lambda row: (row[0].family, row[1][0])):
        names = ", ".join(f"`{kind}`" for kind in kinds)
        portable = "✓" if handler.portable is True else handler.portable
        lines.append(f"| {names} | {handler.family} | {handler.lowering} | {'yes' if handler.exact else 'no'} "
                     f"| {portable} |")
    return "\n".join(lines)


def with_table(text: str) -> str:
    """``text`` with the part between the markers replaced by the current table."""
    return with_block(text, BEGIN, END, coverage_table())


if __name__ == "__main__":
    rewrite(sys.argv[1] if len(sys.argv) > 1 else "README.md", with_table)
