"""``pt2caffe add-priorbox CONFIG``: append the SSD head to an existing deploy prototxt.

The layers appended are those of ``run --ssd`` (pt2caffe.ssd.head); they have no weights, so the
caffemodel stays as it is. ``sources`` must name Caffe blobs. When the reference pycaffe is
built, the net is run once (no weights needed) to check the feature map and loc/conf sizes.
"""
from __future__ import annotations

import sys

import numpy as np
from google.protobuf import text_format

from ..errors import Pt2CaffeError
from ..net.builder import Blob, NetBuilder
from ..net.dialect import STOCK_SSD
from ..net.files import write_files
from ..net.proto import layer_proto, read_prototxt
from .config import SsdConfig
from .head import HeadInputs, append_head, check_feature_maps, check_flat_sizes, flat_size
from .priors import clamp_changes
from .reading import load_config


def _net_inputs(proto) -> dict[str, tuple[int, ...]]:
    """Input blobs and their shapes: Input layers, or the legacy ``input`` + ``input_shape``/``input_dim``."""
    inputs = {}
    for i, name in enumerate(proto.input):
        if i < len(proto.input_shape):
            inputs[name] = tuple(proto.input_shape[i].dim)
        else:
            inputs[name] = tuple(proto.input_dim[4 * i:4 * i + 4])
    for layer in proto.layer:
        if layer.type == "Input":
            shapes = list(layer.input_param.shape)
            for j, top in enumerate(layer.top):
                inputs[top] = tuple(shapes[min(j, len(shapes) - 1)].dim) if shapes else ()
    return inputs


def _probe_shapes(prototxt: str, inputs: dict, blobs: list[str]) -> dict | None:
    """Blob shapes from the reference pycaffe (weights not needed); None, with a note, when it cannot run."""
    from ..runtimes.launch import run_pycaffe

    try:
        feeds = {name: np.zeros(shape, np.float32) for name, shape in inputs.items()}
        return {name: array.shape for name, array in run_pycaffe(prototxt, None, feeds, blobs).items()}
    except (Pt2CaffeError, ValueError) as error:
        print(f"pt2caffe: note: feature map sizes and loc/conf sizes not checked ({error})", file=sys.stderr)
        return None


SETTINGS = {"prototxt": ("the input prototxt", "--prototxt"), "loc": ("the loc blob", "--loc"),
            "conf": ("the conf blob", "--conf"), "output": ("the output path", "-o")}


def _setting(args, config: SsdConfig, key: str) -> str:
    """A flag of add-priorbox, else the config's key of the same name."""
    value = getattr(args, key) or config.files.get(key)
    if not value:
        what, flag = SETTINGS[key]
        raise config.error(f"add-priorbox needs {what}: give {flag} or '{key}' in the config")
    return value


def _check_prototxt(config: SsdConfig, proto, prototxt: str, inputs: dict, blobs: dict) -> None:
    """The named blobs exist, the net has an input for PriorBox's image bottom and no SSD head yet."""
    tops = set(inputs) | {top for layer in proto.layer for top in layer.top}
    for what, name in blobs.items():
        if name not in tops:
            raise config.error(f"{what}: no blob named {name!r} in {prototxt}")
    for layer in proto.layer:
        if layer.type in ("PriorBox", "DetectionOutput"):
            raise config.error(f"{prototxt} already has a {layer.type} layer ({layer.name}): give the net without the "
                               "SSD head")
    if not inputs:
        raise config.error(f"{prototxt} has no input blob for PriorBox's image bottom")


def main(args) -> int:
    """``pt2caffe add-priorbox SSD.yml``: append the SSD head to a deploy prototxt."""
    config = load_config(args.config)
    prototxt, loc, conf, output = (_setting(args, config, key) for key in SETTINGS)
    changed = clamp_changes(config)[0] if config.clip is True else 0
    if changed:
        raise config.error(f"clip: true changes {changed} of {config.prior_count} priors, and their exact clamp in "
                           "(cx, cy, w, h) has weights (1×1 convolutions) that add-priorbox cannot add to your "
                           "caffemodel: export with `pt2caffe run --ssd`, or use clip: false / caffe")
    if config.sources is None:
        raise config.error("add-priorbox needs sources: the Caffe blobs of the feature maps the heads read")
    proto = read_prototxt(prototxt)
    inputs = _net_inputs(proto)
    _check_prototxt(config, proto, prototxt, inputs,
                    {"loc": loc, "conf": conf, **{f"sources[{k}]": s for k, s in enumerate(config.sources)}})
    shapes = _probe_shapes(prototxt, inputs, [*config.sources, loc, conf]) or {}
    if shapes:
        check_feature_maps(config, [(name, shapes[name]) for name in config.sources])
        check_flat_sizes(config, (f"loc (blob {loc})", flat_size(shapes[loc])),
                         (f"conf (blob {conf})", flat_size(shapes[conf])))
    if config.num_classes is None:
        raise config.error("num_classes is not in the config and the conf blob's size could not be read: add "
                           "num_classes")
    net = NetBuilder(proto.name, STOCK_SSD)
    for name in [*inputs, *(layer.name for layer in proto.layer), *(top for layer in proto.layer for top in layer.top)]:
        net.unique_name(name)  # the new layers must not reuse a name
    data = next(iter(inputs))
    blobs = {name: Blob(name, shapes.get(name, ())) for name in [*config.sources, loc, conf]}
    append_head(net, config, HeadInputs(Blob(data, inputs[data]), [(name, blobs[name]) for name in config.sources],
                                        blobs[loc], blobs[conf]))
    proto.layer.extend(layer_proto(layer) for layer in net.layers)
    write_files({output: text_format.MessageToString(proto)})
    print(f"wrote {output}: {len(net.layers)} layers appended ({len(config.sources)} PriorBox, Concat mbox_priorbox, "
          f"loc Flatten, conf Reshape/Softmax/Flatten, DetectionOutput detection_out)")
    for note in net.notes:
        print(f"pt2caffe: note: {note}", file=sys.stderr)
    return 0
