"""``pt2caffe run MODEL.onnx``: read the ONNX file, export at the given input shapes, print a summary."""
from __future__ import annotations

import functools
import os

from ..console import Progress
from ..conversion.onnx_export import convert_onnx, default_name, provenance
from ..conversion.writing import write
from ..errors import Pt2CaffeError
from ..frontends.onnx.inputs import TORCH_OPTIONS, InputSpec, input_specs, refuse_torch_options, shapes_to_trace
from ..frontends.onnx.interpreter import OnnxModule
from ..frontends.onnx.model_file import read
from ..frontends.torch.shapes import random_inputs
from ..net.targets import TARGETS
from .summary import size_suffix

TORCH_ONLY = (("weights", "WEIGHTS.pth (an ONNX file holds its weights)"),) + TORCH_OPTIONS


def shape_sets(path: str, specs: list[InputSpec], given: list[str] | None) -> list[list[tuple[int, ...]]]:
    """--input-shape as one set of shapes per net: positional values for more inputs than the model has
    are groups of one shape per input (``--input-shape A --input-shape B`` on a one-input model: two nets)."""
    if given and len(given) > len(specs) and all("=" not in text for text in given):
        if len(given) % len(specs):
            raise Pt2CaffeError(f"{len(given)} --input-shape values for a model with {len(specs)} inputs: give "
                                f"{len(specs)} per net (one net per group of {len(specs)})")
        groups = [given[i:i + len(specs)] for i in range(0, len(given), len(specs))]
        return [shapes_to_trace(path, specs, group) for group in groups]
    return [shapes_to_trace(path, specs, given)]


def export_onnx(args, progress: Progress, ssd_config) -> list[tuple[dict, str, str]]:
    """Export ``args.model`` (.onnx) once per shape set; (report, outdir, prefix) of each."""
    refuse_torch_options(args, "run", TORCH_ONLY)
    progress.step(f"reading {args.model}")
    source = read(args.model)
    module = OnnxModule(source).eval()
    sets = shape_sets(args.model, input_specs(source.model), args.input_shape)
    finish = None
    if ssd_config:
        from ..ssd import append_from_config
        finish = functools.partial(append_from_config, config=ssd_config)
    exports = []
    for shapes in sets:
        suffix = size_suffix(shapes) if len(sets) > 1 else ""
        progress.step(f"tracing {source.name} at {' and '.join('x'.join(map(str, s)) for s in shapes)}")
        conversion = convert_onnx(module, random_inputs(shapes), name=(args.name or default_name(args.model)) + suffix,
                                  finish=finish, target=TARGETS[args.target] if args.target else None)
        outdir = args.outdir or os.path.dirname(os.path.abspath(args.model))
        prefix = os.path.join(outdir, conversion.net.name)
        progress.step(f"writing {prefix}.prototxt/.caffemodel/.json")
        exports.append((write(conversion, prefix, provenance(source, shapes, outdir, args.ssd)), outdir, prefix))
    return exports
