"""``pt2caffe run``: load MODEL.py and WEIGHTS.pth, export, print a summary."""
from __future__ import annotations

import functools
import inspect
import os

from ..console import Progress, print_note
from ..conversion.pipeline import convert
from ..conversion.report import portable_paths
from ..conversion.writing import write
from ..errors import Pt2CaffeError
from ..frontends.torch.loading import load
from ..frontends.torch.shapes import random_inputs
from ..net.targets import TARGETS
from .run_onnx import export_onnx
from .summary import check_name, check_outdir, size_suffix, summarise


def provenance(args, shapes, outdir: str) -> dict:
    """What the export was made from, so that ``pt2caffe check NAME.json`` can redo it alone; its files
    relative to OUTDIR, where the report goes, with the absolute paths beside (portable_paths)."""
    files = portable_paths({"model": args.model, "weights": args.weights, "ssd": args.ssd}, outdir)
    return {"model": files["model"], "entry": args.entry, "weights": files["weights"],
            "input_shapes": [list(shape) for shape in shapes], "unsafe_pickle": args.unsafe_pickle,
            "non_strict": args.non_strict, "ssd": files["ssd"], "absolute": files["absolute"]}


def shape_sets(model, shapes: list[tuple[int, ...]]) -> list[list[tuple[int, ...]]]:
    """--input-shape values as one set per net: one shape per input of ``model.forward``, or several
    sets in a row (``--input-shape A --input-shape B`` on a one-input model: one net at A, one at B)."""
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return [shapes]
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return [shapes]
    count = sum(1 for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    if count <= 0 or len(shapes) <= count:
        return [shapes]
    if len(shapes) % count:
        raise Pt2CaffeError(f"{len(shapes)} --input-shape values for a model with {count} inputs: give "
                            f"{count} per net (one net per group of {count})")
    return [shapes[i:i + count] for i in range(0, len(shapes), count)]


def _export(args, model, shapes, suffix: str, ssd_config, progress: Progress):
    progress.step(f"tracing {type(model).__name__} at {' and '.join('x'.join(map(str, s)) for s in shapes)}")
    finish = None
    if ssd_config:
        from ..ssd import append_from_config
        finish = functools.partial(append_from_config, config=ssd_config)
    conversion = convert(model, random_inputs(shapes), name=(args.name or type(model).__name__) + suffix,
                         target=TARGETS[args.target] if args.target else None,
                         finish=finish)
    outdir = args.outdir or os.path.dirname(os.path.abspath(args.model))
    prefix = os.path.join(outdir, conversion.net.name)
    progress.step(f"writing {prefix}.prototxt/.caffemodel/.json")
    return write(conversion, prefix, provenance(args, shapes, outdir)), outdir, prefix


def main(args) -> int:
    progress = Progress()
    try:
        if args.name is not None:
            check_name(args.name)
        if args.outdir is not None:
            check_outdir(args.outdir)
        ssd_config = None
        if args.ssd:  # a config error is reported before the (slow) loading and tracing
            from ..ssd import load_config
            ssd_config = load_config(args.ssd)
        if args.model.lower().endswith(".onnx"):
            for exported in export_onnx(args, progress, ssd_config):
                summarise(args, *exported, progress)
            return 0
        if args.weights is None:
            raise Pt2CaffeError(f"run {args.model} needs WEIGHTS.pth (or give an ONNX file, MODEL.onnx)")
        progress.step(f"loading {args.model} and {args.weights}")
        model, shapes, notes = load(args.model, args.weights, entry=args.entry, shapes=args.input_shape,
                                    unsafe_pickle=args.unsafe_pickle, strict=not args.non_strict)
        for note in notes:
            print_note(note, progress)
        sets = shape_sets(model, shapes)
        for shape_set in sets:
            suffix = size_suffix(shape_set) if len(sets) > 1 else ""
            summarise(args, *_export(args, model, shape_set, suffix, ssd_config, progress), progress)
    finally:
        progress.clear()  # before any result or error line
    return 0
