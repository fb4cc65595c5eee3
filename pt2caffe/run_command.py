"""``pt2caffe run``: load MODEL.py and WEIGHTS.pth, export, print a summary."""
from __future__ import annotations

import os
import sys

from .convert import convert, write
from .loading import load, random_inputs
from .progress import Progress


def provenance(args, shapes) -> dict:
    """What the export was made from, so that ``pt2caffe check NAME.json`` can redo it alone."""
    return {"model": os.path.abspath(args.model), "entry": args.entry, "weights": os.path.abspath(args.weights),
            "input_shapes": [list(shape) for shape in shapes], "unsafe_pickle": args.unsafe_pickle,
            "non_strict": args.non_strict, "ssd": os.path.abspath(args.ssd) if args.ssd else None}


def _export(args, progress: Progress):
    ssd_config = None
    if args.ssd:  # a config error is reported before the (slow) loading and tracing
        from .ssd import load_config
        ssd_config = load_config(args.ssd)
    progress.step(f"loading {args.model} and {args.weights}")
    model, shapes = load(args.model, args.weights, entry=args.entry, shapes=args.input_shape,
                         unsafe_pickle=args.unsafe_pickle, strict=not args.non_strict)
    progress.step(f"tracing {type(model).__name__} and lowering its ops")
    conversion = convert(model, random_inputs(shapes), name=args.name or type(model).__name__)
    if ssd_config:
        from .ssd import append_from_config
        append_from_config(conversion, ssd_config)
    outdir = args.outdir or os.path.dirname(os.path.abspath(args.model))
    prefix = os.path.join(outdir, conversion.net.name)
    progress.step(f"writing {prefix}.prototxt/.caffemodel/.json")
    return write(conversion, prefix, provenance(args, shapes)), outdir, prefix


def main(args) -> int:
    progress = Progress()
    try:
        report, outdir, prefix = _export(args, progress)
    finally:
        progress.clear()  # before any result or error line
    for output in report["outputs"]:
        origin = f"torch output {output['torch']}" if output["torch"] else "appended output"
        print(f"{origin}: {output['shape']} -> caffe blob {output['name']}")
    print(f"{len(report['layers'])} layers, {report['parameters']:,} weight values, target {report['target']}")
    for ext in ("prototxt", "caffemodel", "json"):
        print(f"wrote {os.path.join(outdir, report['files'][ext])}")
    for note in report["notes"]:
        print(f"pt2caffe: note: {note}", file=sys.stderr)
    if args.graph:
        from .drawing import draw_report
        for path in draw_report(report, prefix, formats=args.graph_format):
            print(f"wrote {path}")
    return 0
