"""The README's runtime table, from the measured layer forms (pt2caffe.runtimes.forms). Regenerate it with

    python -m pt2caffe.readme.runtime_table README.md
"""
from __future__ import annotations

import sys

from ..runtimes.forms import FORMS, RUNTIMES, YES
from .tables import rewrite, with_block

BEGIN, END = "<!-- runtimes:begin -->", "<!-- runtimes:end -->"


def _verdict_cell(verdict: str) -> str:
    return "✓" if verdict == YES else "✗ " + verdict.removeprefix("no: ")


def runtime_table() -> str:
    """The README table: one row per form, a column per runtime, and pt2caffe's use of the form."""
    lines = ["| layer form | stock SSD pycaffe | OpenCV 4.14 | MNN 3.6.1 | pt2caffe |", "|---|---|---|---|---|"]
    for form in FORMS:
        cells = [_verdict_cell(form.verdicts[runtime]) for runtime in RUNTIMES]
        lines.append(f"| {form.name} | {' | '.join(cells)} | {form.pt2caffe} |")
    return "\n".join(lines)


def with_table(text: str) -> str:
    """``text`` with the part between the runtime-table markers replaced by the current table."""
    return with_block(text, BEGIN, END, runtime_table())


if __name__ == "__main__":
    rewrite(sys.argv[1] if len(sys.argv) > 1 else "README.md", with_table)
