"""``pt2caffe run --ssd``: find loc, conf and the sources in the traced model, then append the SSD head.

Found by what they compute, not by their names:

* loc and conf are the model outputs with, per image, priors × 4 and priors × num_classes values,
  in whatever order forward returns them (ssd.pytorch: (loc, conf); pytorch-ssd: (confidences,
  locations)). A constant output (ssd.pytorch's ``priors``) is dropped: the PriorBox head
  replaces it, so no Parameter layer is left (OpenCV has none).
* The per-source heads are what loc/conf are concatenated from (back through cat, view,
  permute, …): their outputs are (N, A·4, H, W) and (N, A·classes, H, W).
* A head's source is the feature map its module reads (the module being the head's own entry of
  its ModuleList: ``loc.0``, ``regression_headers.0`` for a Sequential head). ``sources`` in the
  config may name a feature map by module path (a container such as ``base_net.11`` means the
  output of its last op), by the module before functional ops (``extras.1`` for
  ``F.relu(self.extras[1](x))``) or by Caffe blob name; given, they are checked against the heads.
"""
from __future__ import annotations

import os

import numpy as np

from ..net.builder import Blob
from .config import SsdConfig
from .head import (HeadInputs, append_head, check_feature_maps, check_flat_sizes, check_not_swapped, flat_size,
                   keep_top_k, loc_values_per_prior)
from .priors import PRIOR_TOLERANCE, clamp_changes, corners, expected_caffe_priors
from .reading import load_config, split_spec

PASS_THROUGH = {"view", "reshape", "flatten", "permute", "transpose", "contiguous", "clone", "unsqueeze", "squeeze",
                "to", "float", "detach"}
CONF_WORDS = ("conf", "class", "cls", "score", "logit")


def _parts(path: str) -> list[str]:
    return path.split(".") if path else []


def _inside(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def _names_of(value, blobs: dict) -> list[str]:
    """What a config may call a traced value: its Caffe blob, the module that made it and every module
    holding that one, or, through one-input functional ops of a parent's forward (``F.relu(self.extras[1](x))``),
    the module before them."""
    names = [blobs[value.index].name] if value.index in blobs else []
    while value.producer is not None:
        path = value.producer.module_path
        if path:
            parts = _parts(path)
            names += [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
            break
        inputs = value.producer.inputs
        if len(inputs) != 1:
            break
        value = inputs[0]
    return names


def resolve(config: SsdConfig, name: str, conversion):
    """The last traced value known by ``name``: a module's (or container's) final output, or a Caffe blob."""
    for value in reversed(conversion.graph.values):
        if value.index in conversion.blobs and name in _names_of(value, conversion.blobs):
            return value
    raise config.error(f"unknown source {name!r}: no module path or Caffe blob of that name in the traced model")


def head_outputs(value) -> list:
    """The per-source head outputs that ``value`` (loc or conf) is reshaped and concatenated from, in order."""
    op = value.producer
    if op is None:
        return [value]
    if op.kind == "cat":
        return [head for part in op.inputs for head in head_outputs(part)]
    if op.kind in PASS_THROUGH and len(op.inputs) == 1:
        return head_outputs(op.inputs[0])
    return [value]


def _head_module(path: str, others: list[str]) -> str:
    """The shortest prefix of ``path`` holding none of the other heads (``regression_headers.0``)."""
    parts = _parts(path)
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if not any(_inside(other, prefix) for other in others):
            return prefix
    return path


def head_source(graph, head, others: list) -> object:
    """The feature map read by the module that computes ``head`` (its first input from outside the module)."""
    path = head.producer.module_path
    if not path:
        return head.producer.inputs[0]
    module = _head_module(path, [other.producer.module_path for other in others if other is not head])
    for op in graph.ops:
        if _inside(op.module_path, module):
            outside = [v for v in op.inputs if v.producer is None or not _inside(v.producer.module_path, module)]
            if outside:
                return outside[0]
    return head.producer.inputs[0]


def _is_constant(value) -> bool:
    return value.producer is not None and value.producer.kind == "constant"


def _heads_4d(value) -> list | None:
    heads = head_outputs(value)
    return heads if all(len(h.shape) == 4 for h in heads) else None


def _by_head_ratio(config: SsdConfig, first, second):
    """Two outputs built from heads on the same sources: conf's heads have classes/4 times loc's channels."""
    heads = [_heads_4d(first), _heads_4d(second)]
    if None in heads or len(heads[0]) != len(heads[1]):
        return None
    ratios = {b.shape[1] / a.shape[1] for a, b in zip(*heads)}
    if len(ratios) != 1:
        return None
    ratio = ratios.pop()
    if ratio == 1:
        return _by_names(config, first, second)
    return (first, second) if ratio > 1 else (second, first)


def _by_names(config: SsdConfig, first, second):
    """loc and conf of the same size (4 classes): the head module names, else the dialect's return order."""
    for value, other in ((first, second), (second, first)):
        path = head_outputs(value)[0].producer.module_path.lower()
        if any(word in path for word in CONF_WORDS):
            return other, value
    return (first, second) if config.dialect == "ssd.pytorch" else (second, first)


def find_loc_conf(config: SsdConfig, conversion) -> tuple:
    """The traced loc and conf values: named by the config's ``loc``/``conf`` blobs, else found by size."""
    by_name = {conversion.blobs[v.index].name: v for v in conversion.graph.values if v.index in conversion.blobs}
    if "loc" in config.files or "conf" in config.files:
        found = []
        for key in ("loc", "conf"):
            if config.files.get(key) not in by_name:
                raise config.error(f"{key}: no Caffe blob named {config.files.get(key)!r} in the exported net "
                                   "(give both loc and conf, or neither)")
            found.append(by_name[config.files[key]])
        return tuple(found)
    outputs = [v for v in conversion.graph.outputs if not _is_constant(v)]
    count, per_prior = config.prior_count, loc_values_per_prior(config)
    sizes = [flat_size(v.shape) for v in outputs]
    locs = [v for v, s in zip(outputs, sizes) if s == count * per_prior]
    confs = [v for v, s in zip(outputs, sizes) if s != count * per_prior and
             (s == count * config.num_classes if config.num_classes else s % count == 0 and s // count >= 2)]
    if len(locs) == 1 and len(confs) == 1:
        return locs[0], confs[0]
    if len(outputs) == 2:
        pair = _by_head_ratio(config, *outputs)
        if pair:
            return pair
    classes = config.num_classes or "num_classes"
    raise config.error(f"cannot find loc and conf among the model's outputs: they have {sizes} values per image, "
                       f"but the config's {count} priors need loc {count} × {per_prior} = {count * per_prior} and conf "
                       f"{count} × {classes}; or name the Caffe blobs with loc: and conf:")


def _check_heads(config: SsdConfig, loc_heads: list, conf_heads: list) -> None:
    """Per source, loc has priors × 4 channels and conf priors × num_classes, on the configured map size."""
    for what, heads in (("loc", loc_heads), ("conf", conf_heads)):
        if len(heads) != len(config.feature_maps):
            raise config.error(f"{config.key('feature_maps')} has {len(config.feature_maps)} entries, but {what} is "
                               f"concatenated from {len(heads)} heads")
    per_prior = loc_values_per_prior(config)
    for k, head in enumerate(loc_heads):
        priors, channels = config.priors_per_cell(k), head.shape[1]
        if channels != priors * per_prior:
            raise config.error(f"{config.key('aspect_ratios', k)} gives {priors} priors per cell "
                               f"(2 + 2 × {len(config.aspect_ratios[k])}), but {_where(head)} has {channels} "
                               f"channels, not {priors} × {per_prior}")
    for k, head in enumerate(conf_heads):
        priors, channels = config.priors_per_cell(k), head.shape[1]
        if config.num_classes is None and channels % priors == 0:
            config.num_classes = channels // priors
        if channels != priors * config.num_classes:
            actual = f" = {priors} × {channels // priors}" if channels % priors == 0 else ""
            raise config.error(f"num_classes {config.num_classes} does not match the conf head: {_where(head)} has "
                               f"{channels} channels{actual} for {priors} priors per cell")


def _where(value) -> str:
    return value.producer.module_path or value.producer.source


def _sources(config: SsdConfig, conversion, loc_heads: list | None) -> list[tuple[str, object]]:
    """(name, traced value) per source: what the loc heads read, checked against ``sources`` if given."""
    graph, blobs = conversion.graph, conversion.blobs
    if loc_heads is None:
        if config.sources is None:
            raise config.error("sources is not given and loc is not concatenated from (N, A·4, H, W) heads to infer "
                               "them from: list the source feature maps by module path or Caffe blob name")
        return [(name, resolve(config, name, conversion)) for name in config.sources]
    feeds = [head_source(graph, head, loc_heads) for head in loc_heads]
    if config.sources is None:  # named by the module that made them (PriorBox layer names), else the blob
        return [(_names_of(value, blobs)[min(1, len(_names_of(value, blobs)) - 1)], value) for value in feeds]
    if len(feeds) != len(config.sources):
        raise config.error(f"sources has {len(config.sources)} entries, but loc is concatenated from {len(feeds)} heads")
    for k, (name, value) in enumerate(zip(config.sources, feeds)):
        if resolve(config, name, conversion) is not value:
            names = _names_of(value, blobs)
            raise config.error(f"sources[{k}] {name!r} is not the feature map that {_where(loc_heads[k])} reads "
                               f"({' = '.join(reversed(names))})")
    return list(zip(config.sources, feeds))


def _drop_constant_outputs(config: SsdConfig, conversion) -> int | None:
    """Forget constant outputs (no longer outputs, their layers are dropped as dead by settle_outputs); return
    the value index of the model's priors if it returns them (a (P, 4) constant), after checking them against
    the config's (the same clip, sizes and steps)."""
    priors = None
    for value in conversion.graph.outputs:
        if not _is_constant(value) or value.index not in conversion.blobs:
            continue
        conversion.blobs.pop(value.index)
        if value.shape == (config.prior_count, 4):
            _check_model_priors(config, value.producer.arg(0, "tensor").tensor.double().numpy())
            priors = value.index
    return priors


def _check_model_priors(config: SsdConfig, model_priors) -> None:
    """The priors forward returns must be the config's: a different clip or size would deploy other boxes."""
    expected = expected_caffe_priors(config)
    gap = np.abs(corners(model_priors) - expected).max(1)
    wrong = int((gap > PRIOR_TOLERANCE).sum())
    if wrong:
        raise config.error(f"the model's priors output differs from the config's priors ({config.key('clip')}: "
                           f"{config.clip}) on {wrong} of {config.prior_count} priors, by up to {gap.max():.3g}: "
                           "is clip (or a size) the one the model was built with?")


def append_from_config(conversion, config: SsdConfig | str) -> None:
    """Validate the config (an SsdConfig, or its spec for load_config) against the traced model and append the
    SSD head; the net's only output becomes detection_out. Raises a one-line Pt2CaffeError (nothing is
    written) on any mismatch."""
    config = load_config(config) if isinstance(config, str) else config
    loc_value, conf_value = find_loc_conf(config, conversion)
    check_not_swapped(config, (f"loc (blob {conversion.blobs[loc_value.index].name})", flat_size(loc_value.shape)),
                      (f"conf (blob {conversion.blobs[conf_value.index].name})", flat_size(conf_value.shape)))
    loc_heads, conf_heads = _heads_4d(loc_value), _heads_4d(conf_value)
    sources = _sources(config, conversion, loc_heads)
    check_feature_maps(config, [(name, value.shape) for name, value in sources])
    if loc_heads is not None and conf_heads is not None:
        _check_heads(config, loc_heads, conf_heads)
    loc, conf = conversion.blobs[loc_value.index], conversion.blobs[conf_value.index]
    check_flat_sizes(config, (f"loc (blob {loc.name})", flat_size(loc.shape)),
                     (f"conf (blob {conf.name})", flat_size(conf.shape)))
    priors_value = _drop_constant_outputs(config, conversion)
    inputs = HeadInputs(conversion.net.inputs[0], [(name, conversion.blobs[v.index]) for name, v in sources],
                        loc, conf)
    conversion.output_blobs = [append_head(conversion.net, config, inputs)]
    conversion.ssd = summary(config, loc, conf, priors_value)


def summary(config: SsdConfig, loc: Blob, conf: Blob, priors_value: int | None) -> dict:
    """What ``check`` needs to decode and compare the detections (the report's "ssd" entry)."""
    changed, largest = clamp_changes(config)
    path, name = split_spec(config.path)
    absolute = os.path.abspath(path) + (f":{name}" if name else "")  # check may run in another directory
    return {"config": absolute, "dialect": config.dialect, "loc": loc.name, "conf": conf.name,
            "priors_value": priors_value, "num_classes": config.num_classes, "prior_count": config.prior_count,
            "clip": config.clip, "clamp_changes": changed, "clamp_max_change": largest,
            "detection": {**config.detection, "keep_top_k": keep_top_k(config)}}
