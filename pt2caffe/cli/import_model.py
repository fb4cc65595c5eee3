"""``pt2caffe import NET.prototxt NET.caffemodel MODEL.py -o OUT.pth``: printing only (pt2caffe.importer does it)."""
from __future__ import annotations

import os

from ..check.table import describe_first, shown_rows, table
from ..errors import Pt2CaffeError
from ..importer.api import import_model
from ..importer.proof import ATOL, RTOL


def _output_line(rows: list[dict]) -> str:
    said = [f"{row['module'].removeprefix('output ')} = Caffe {row['layer']}" +
            (f" (rel {row['rel']:.1e})" if row["rel"] is not None else f" ({row['verdict']})")
            for row in rows if row["type"] == "output"]
    return "outputs: " + ", ".join(said)


def main(args) -> int:
    outcome = import_model(args.model, args.prototxt, args.caffemodel, args.output, entry=args.entry,
                           shapes=args.input_shape, map_file=args.map, input_file=args.input)
    for note in outcome.imported.notes:
        print(f"note: {note}")
    print(f"paired {len(outcome.imported.pairs)} layers with weights")
    if outcome.skipped:
        print(f"skipped (no PyTorch counterpart): {', '.join(outcome.skipped)}")
    print(f"input: {outcome.input}")
    print(_output_line(outcome.rows))
    if outcome.first is not None:
        print(table(shown_rows(outcome.rows, outcome.first, False), outcome.first))
        print(describe_first(outcome.first, []))
        raise Pt2CaffeError(f"the imported model differs from {os.path.basename(args.prototxt)}: "
                            f"{outcome.why or 'first at Caffe layer ' + outcome.first['layer']}; nothing written")
    worst = max(outcome.rows, key=lambda row: row["rel"] or 0.0)
    print(f"OK: {len(outcome.rows)} blobs within tolerance (atol {ATOL:g}, rtol {RTOL:g}); worst: {worst['layer']} "
          f"rel {worst['rel']:.1e}")
    for path in outcome.written:
        print(f"wrote {path}")
    return 0
