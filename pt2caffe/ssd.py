"""The SSD detection head from an ssd.pytorch config: PriorBox per source, conf Softmax, DetectionOutput.

``pt2caffe run ... --ssd ssd.yml`` appends it to the exported net (:func:`append_from_config`),
``pt2caffe add-priorbox ssd.yml`` to an existing prototxt (:func:`main`); these layers have no
weights, so the caffemodel stays as it is. The config uses ssd.pytorch's keys (see
examples/ssd/ssd.yml) and is validated before anything is built: every problem is one line
naming the key.

What makes the Caffe head equal to ssd.pytorch's ``PriorBox`` + ``Detect``:

* PriorBox gets an explicit ``step`` (without it Caffe uses image / feature size: 300/38 ≠ 8),
  ``offset: 0.5``, ``flip: true``, an explicit ``clip`` (its default differs between Caffe
  versions) and the variances [v0, v0, v1, v1]. It normalises by the image's size, ssd.pytorch
  by min_dim: the input must be min_dim × min_dim.
* Some Caffe versions (the reference build among them) cast min/max sizes to int. Fractional
  sizes are multiplied, with the steps, by the smallest integer k that makes them whole, and
  ``img_size: k·min_dim`` is written, which leaves every prior unchanged in any Caffe; OpenCV's
  PriorBox ignores img_size, so such a net is not for OpenCV (a note says so).
* ssd.pytorch's ``clip`` clamps (cx, cy, w, h) to [0, 1], Caffe's clamps the corners. With
  ``clip: true`` both are computed here and the Caffe setting that reproduces ssd.pytorch's
  priors within PRIOR_TOLERANCE is written; if neither does, the export is refused with the
  number of priors that differ, where and by how much.
* DetectionOutput decodes with ``code_type: CENTER_SIZE`` (the default, CORNER, is not SSD's)
  and always has ``nms_param`` (without it the reference build skips NMS).
"""
from __future__ import annotations

import difflib
import math
import os
import sys
from dataclasses import dataclass

import numpy as np
from google.protobuf import text_format

from .builder import Blob, NetBuilder
from .dialect import STOCK_SSD
from .errors import Pt2CaffeError
from .serialize import layer_proto, read_prototxt, write_files

PRIOR_TOLERANCE = 1e-6
MAX_SIZE_SCALE = 64  # largest k tried to make fractional min/max sizes whole
INT32_MAX = 2**31 - 1

LIST_KEYS = ("feature_maps", "steps", "min_sizes", "max_sizes", "aspect_ratios")
REQUIRED_KEYS = ("num_classes", "min_dim", *LIST_KEYS, "variance", "clip")
FILE_KEYS = ("prototxt", "loc", "conf", "output")  # for add-priorbox
IGNORED_KEYS = ("name", "lr_steps", "max_iter")  # ssd.pytorch's training keys, accepted when pasted
DETECTION_DEFAULTS = {"conf_thresh": 0.01, "nms_thresh": 0.45, "top_k": 200, "keep_top_k": -1,
                      "background_label": 0, "share_location": True}


@dataclass
class SsdConfig:
    path: str  # as the user gave it, to prefix messages
    num_classes: int
    min_dim: int
    feature_maps: list[int]
    steps: list[float]
    min_sizes: list[float]
    max_sizes: list[float]
    aspect_ratios: list[list[float]]
    variance: list[float]
    clip: bool
    sources: list[str] | None
    detection: dict
    files: dict  # FILE_KEYS given in the config, paths relative to its directory resolved
    prior_clip: bool = False  # the PriorBox clip that gives ssd.pytorch's priors (see caffe_clip)
    size_scale: int = 1  # sizes, steps and img_size are multiplied by it (see size_scale)

    def error(self, message: str) -> Pt2CaffeError:
        return Pt2CaffeError(f"{self.path}: {message}")

    def priors_per_cell(self, k: int) -> int:
        """The min-size box, the √(min·max) box, and each aspect ratio with its flip."""
        return 2 + 2 * len(self.aspect_ratios[k])

    @property
    def prior_count(self) -> int:
        return sum(f * f * self.priors_per_cell(k) for k, f in enumerate(self.feature_maps))


# --- reading and validating the config ---------------------------------------------------------

def load_config(path: str) -> SsdConfig:
    """Read and validate SSD.yml; raise a one-line Pt2CaffeError naming the first bad key."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except OSError as error:
        raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise Pt2CaffeError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(raw, dict):
        raise Pt2CaffeError(f"{path}: expected a mapping of ssd.pytorch config keys, got {type(raw).__name__}")
    return _validated(path, raw)


def _unknown_key(path: str, key, known) -> Pt2CaffeError:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return Pt2CaffeError(f"{path}: unknown key {key!r}{hint}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(path: str, key: str, value, *, integer: bool = False):
    if not _is_number(value) or value <= 0 or (integer and value != int(value)):
        kind = "a positive integer" if integer else "a positive number"
        raise Pt2CaffeError(f"{path}: {key} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _positive_list(path: str, key: str, value, *, integer: bool = False) -> list:
    if not isinstance(value, list) or not value:
        raise Pt2CaffeError(f"{path}: {key} must be a non-empty list, got {value!r}")
    return [_positive(path, f"{key}[{i}]", item, integer=integer) for i, item in enumerate(value)]


def _aspect_ratios(path: str, value) -> list[list[float]]:
    """Caffe's PriorBox skips a ratio of 1 and any ratio equal to an earlier one or its flip; ssd.pytorch does not."""
    if not isinstance(value, list) or not value:
        raise Pt2CaffeError(f"{path}: aspect_ratios must be a non-empty list of lists, got {value!r}")
    result = []
    for k, ratios in enumerate(value):
        if not isinstance(ratios, list):
            raise Pt2CaffeError(f"{path}: aspect_ratios[{k}] must be a list (like [2, 3]), got {ratios!r}")
        ratios = _positive_list(path, f"aspect_ratios[{k}]", ratios) if ratios else []
        seen = [1.0]
        for ratio in ratios:
            if any(abs(ratio - other) < 1e-6 or abs(1 / ratio - other) < 1e-6 for other in seen):
                raise Pt2CaffeError(f"{path}: aspect_ratios[{k}] repeats {ratio:g} (ratio 1, or a ratio or its "
                                    "flip given twice): Caffe's PriorBox would drop it and count fewer priors")
            seen += [ratio, 1 / ratio]
        result.append(ratios)
    return result


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# detection key: (test of its value given num_classes, what it must be)
DETECTION_RULES = {
    "conf_thresh": (lambda v, n: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "nms_thresh": (lambda v, n: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "top_k": (lambda v, n: _is_int(v) and v > 0, "a positive integer"),
    "keep_top_k": (lambda v, n: _is_int(v) and (v == -1 or v > 0), "-1 or a positive integer"),
    "background_label": (lambda v, n: _is_int(v) and 0 <= v < n, "a class in [0, num_classes)"),
    "share_location": (lambda v, n: isinstance(v, bool), "true or false"),
}


def _detection(path: str, raw, num_classes: int) -> dict:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise Pt2CaffeError(f"{path}: detection must be a mapping, got {raw!r}")
    for key in raw:
        if key not in DETECTION_DEFAULTS:
            raise _unknown_key(path, key, list(DETECTION_DEFAULTS))
    detection = {**DETECTION_DEFAULTS, **raw}
    for key, (is_valid, wanted) in DETECTION_RULES.items():
        if not is_valid(detection[key], num_classes):
            raise Pt2CaffeError(f"{path}: detection.{key} must be {wanted}, got {detection[key]!r}")
    return detection


def _validated(path: str, raw: dict) -> SsdConfig:
    known = [*REQUIRED_KEYS, "sources", "detection", *FILE_KEYS, *IGNORED_KEYS]
    for key in raw:
        if key not in known:
            raise _unknown_key(path, key, known)
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise Pt2CaffeError(f"{path}: missing key {key}")
    num_classes = _positive(path, "num_classes", raw["num_classes"], integer=True)
    if num_classes < 2:
        raise Pt2CaffeError(f"{path}: num_classes must count the background too (≥ 2), got {num_classes}")
    variance = _positive_list(path, "variance", raw["variance"])
    if len(variance) != 2:
        raise Pt2CaffeError(f"{path}: variance must be two numbers [center, size] like [0.1, 0.2], "
                            f"got {raw['variance']!r}")
    if not isinstance(raw["clip"], bool):
        raise Pt2CaffeError(f"{path}: clip must be true or false, got {raw['clip']!r}")
    sources = raw.get("sources")
    if sources is not None and (not isinstance(sources, list) or not sources
                                or not all(isinstance(s, str) and s for s in sources)):
        raise Pt2CaffeError(f"{path}: sources must be a list of module paths or Caffe blob names, got {sources!r}")
    config = SsdConfig(
        path=path, num_classes=num_classes, min_dim=_positive(path, "min_dim", raw["min_dim"], integer=True),
        feature_maps=_positive_list(path, "feature_maps", raw["feature_maps"], integer=True),
        steps=_positive_list(path, "steps", raw["steps"]),
        min_sizes=_positive_list(path, "min_sizes", raw["min_sizes"]),
        max_sizes=_positive_list(path, "max_sizes", raw["max_sizes"]),
        aspect_ratios=_aspect_ratios(path, raw["aspect_ratios"]), variance=variance, clip=raw["clip"],
        sources=sources, detection=_detection(path, raw.get("detection"), num_classes), files=_files(path, raw))
    _check_lengths(config)
    for k, (low, high) in enumerate(zip(config.min_sizes, config.max_sizes)):
        if high <= low:
            raise config.error(f"max_sizes[{k}] ({high:g}) must be larger than min_sizes[{k}] ({low:g})")
    config.prior_clip, config.size_scale = caffe_clip(config), size_scale(config)
    return config


def _files(path: str, raw: dict) -> dict:
    files = {}
    for key in FILE_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise Pt2CaffeError(f"{path}: {key} must be a name, got {value!r}")
        is_path = key in ("prototxt", "output")
        files[key] = os.path.join(os.path.dirname(os.path.abspath(path)), value) if is_path else value
    return files


def _check_lengths(config: SsdConfig) -> None:
    """Every per-source list has one entry per source (per feature map when sources are inferred)."""
    reference = "sources" if config.sources is not None else "feature_maps"
    count = len(getattr(config, reference))
    for key in (*LIST_KEYS, "sources"):
        values = getattr(config, key)
        if values is not None and len(values) != count:
            raise config.error(f"{key} has {len(values)} entries, {reference} has {count}")


# --- priors ------------------------------------------------------------------------------------

def pytorch_priors(config: SsdConfig) -> list[np.ndarray]:
    """ssd.pytorch's PriorBox before its clip, per source: (f·f·A, 4) rows (cx, cy, w, h), float64.

    Row order: cell row, cell column, then the min-size box, the √(min·max) box and per aspect
    ratio ar the (ar, 1/ar) pair; that is also Caffe's PriorBox order.
    """
    result = []
    for k, size in enumerate(config.feature_maps):
        scale = config.min_sizes[k] / config.min_dim
        boxes = [(scale, scale), (math.sqrt(scale * config.max_sizes[k] / config.min_dim),) * 2]
        for ratio in config.aspect_ratios[k]:
            boxes += [(scale * math.sqrt(ratio), scale / math.sqrt(ratio)),
                      (scale / math.sqrt(ratio), scale * math.sqrt(ratio))]
        centers = (np.arange(size) + 0.5) * config.steps[k] / config.min_dim
        cy, cx = np.meshgrid(centers, centers, indexing="ij")
        wh = np.array(boxes)
        grid = np.broadcast_to(np.stack([cx, cy], -1)[:, :, None, :], (size, size, len(boxes), 2))
        result.append(np.concatenate([grid, np.broadcast_to(wh, grid.shape)], -1).reshape(-1, 4))
    return result


def corners(center_size: np.ndarray) -> np.ndarray:
    """(cx, cy, w, h) → (xmin, ymin, xmax, ymax)."""
    half = center_size[:, 2:] / 2
    return np.concatenate([center_size[:, :2] - half, center_size[:, :2] + half], 1)


def caffe_clip(config: SsdConfig) -> bool:
    """The PriorBox ``clip`` whose priors equal ssd.pytorch's (corner form) within PRIOR_TOLERANCE, or a refusal."""
    if not config.clip:
        return False
    priors = pytorch_priors(config)
    wanted = [corners(np.clip(p, 0, 1)) for p in priors]
    clamped = [np.clip(corners(p), 0, 1) for p in priors]
    for clip, caffe in ((True, clamped), (False, [corners(p) for p in priors])):
        if all(np.abs(a - b).max() <= PRIOR_TOLERANCE for a, b in zip(caffe, wanted)):
            return clip
    differing = [int((np.abs(a - b).max(1) > PRIOR_TOLERANCE).sum()) for a, b in zip(clamped, wanted)]
    gaps = [float(np.abs(a - b).max()) for a, b in zip(clamped, wanted)]
    worst = int(np.argmax(gaps))
    per_source = ", ".join(f"{n} on source {k} ({config.feature_maps[k]}×{config.feature_maps[k]})"
                           for k, n in enumerate(differing) if n)
    raise config.error(
        f"clip: true has no exact Caffe equivalent: ssd.pytorch clamps the priors' (cx, cy, w, h) to [0, 1], "
        f"Caffe's PriorBox their corners; {sum(differing)} of {config.prior_count} priors differ ({per_source}), "
        f"by up to {gaps[worst]:.4g} on source {worst}; clip: false exports the unclamped priors, not those the "
        "model was trained with")


def size_scale(config: SsdConfig) -> int:
    """The smallest k making every min/max size × k whole: some Caffe versions cast the sizes to int."""
    sizes = config.min_sizes + config.max_sizes
    for k in range(1, MAX_SIZE_SCALE + 1):
        if all(abs(s * k - round(s * k)) < 1e-9 * max(1.0, s * k) for s in sizes):
            if max(round(a * k) * round(b * k) for a, b in zip(config.min_sizes, config.max_sizes)) > INT32_MAX:
                break
            return k
    raise config.error(f"min_sizes / max_sizes {sizes} cannot be written exactly: Caffe versions that cast them to "
                       f"int need them whole after scaling by at most {MAX_SIZE_SCALE}")


def prior_box_param(config: SsdConfig, k: int) -> dict:
    v_center, v_size = config.variance
    clip, scale = config.prior_clip, config.size_scale
    param = {"min_size": [round(config.min_sizes[k] * scale)], "max_size": [round(config.max_sizes[k] * scale)],
             "aspect_ratio": list(config.aspect_ratios[k]), "flip": True, "clip": clip,
             "variance": [v_center, v_center, v_size, v_size], "step": config.steps[k] * scale, "offset": 0.5}
    if scale > 1:
        param["img_size"] = config.min_dim * scale
    return param


# --- the layers ----------------------------------------------------------------------------------

@dataclass
class HeadInputs:
    """The blobs the SSD layers read."""

    data: Blob  # the image (PriorBox's second bottom)
    sources: list[tuple[str, Blob]]  # (name for the layer, feature map), one per source
    loc: Blob
    conf: Blob


def append_head(net: NetBuilder, config: SsdConfig, inputs: HeadInputs) -> Blob:
    """Append PriorBox per source, their Concat, the loc Flatten, the conf Reshape/Softmax/Flatten and
    DetectionOutput."""
    image = inputs.data.shape
    if len(image) == 4 and image[2:] != (config.min_dim, config.min_dim):
        raise config.error(f"min_dim is {config.min_dim}, but the image input {inputs.data.name} is "
                           f"{image[2]}×{image[3]}: ssd.pytorch's priors are relative to min_dim, PriorBox's to "
                           "the image")
    if config.size_scale > 1:
        net.notes.append(f"{config.path}: min/max sizes and steps are multiplied by {config.size_scale} (img_size "
                         f"{config.min_dim * config.size_scale}) for Caffe versions that cast sizes to int; "
                         "OpenCV ignores img_size, so its priors will differ")
    batch, count, classes = inputs.data.shape[0] if inputs.data.shape else 1, config.prior_count, config.num_classes
    meta = {"source": config.path}
    priors = [net.layer(f"{name}_mbox_priorbox", "PriorBox", [blob, inputs.data],
                        [(1, 2, config.feature_maps[k] ** 2 * config.priors_per_cell(k) * 4)],
                        {"prior_box_param": prior_box_param(config, k)}, **meta)[0]
              for k, (name, blob) in enumerate(inputs.sources)]
    mbox_priorbox = net.layer("mbox_priorbox", "Concat", priors, [(1, 2, count * 4)],
                              {"concat_param": {"axis": 2}}, **meta)[0]
    # Always: add-priorbox may not know the loc shape, and on an (N, K) loc the Flatten is an identity.
    loc_size = count * _loc_values_per_prior(config)
    loc = net.layer("mbox_loc_flatten", "Flatten", [inputs.loc], [(batch, loc_size)], {"flatten_param": {"axis": 1}},
                    **meta)[0]
    conf = net.layer("mbox_conf_reshape", "Reshape", [inputs.conf], [(batch, count, classes)],
                     {"reshape_param": {"shape": {"dim": [0, -1, classes]}}}, **meta)[0]
    conf = net.layer("mbox_conf_softmax", "Softmax", [conf], [conf.shape], {"softmax_param": {"axis": 2}}, **meta)[0]
    conf = net.layer("mbox_conf_flatten", "Flatten", [conf], [(batch, count * classes)],
                     {"flatten_param": {"axis": 1}}, **meta)[0]
    det = config.detection
    params = {"num_classes": classes, "share_location": det["share_location"],
              "background_label_id": det["background_label"],
              "nms_param": {"nms_threshold": det["nms_thresh"], "top_k": det["top_k"]},
              "code_type": "CENTER_SIZE", "keep_top_k": det["keep_top_k"],
              "confidence_threshold": det["conf_thresh"]}
    return net.layer("detection_out", "DetectionOutput", [loc, conf, mbox_priorbox], [(1, 1, -1, 7)],
                     {"detection_output_param": params}, **meta)[0]


def _loc_values_per_prior(config: SsdConfig) -> int:
    return 4 if config.detection["share_location"] else 4 * config.num_classes


def check_flat_sizes(config: SsdConfig, loc: tuple[str, int], conf: tuple[str, int]) -> None:
    """loc holds 4 (× classes, unshared) values per prior and image, conf num_classes."""
    count = config.prior_count
    (loc_name, loc_size), (conf_name, conf_size) = loc, conf
    per_prior = _loc_values_per_prior(config)
    if loc_size != count * per_prior:
        raise config.error(f"{loc_name} has {loc_size} values per image, but the {count} priors of feature_maps and "
                           f"aspect_ratios need {count} × {per_prior} = {count * per_prior}")
    if conf_size != count * config.num_classes:
        found = f" ({conf_size // count} per prior)" if conf_size % count == 0 else ""
        raise config.error(f"num_classes {config.num_classes} does not match {conf_name}: it has {conf_size} values "
                           f"per image{found}, not {count} priors × {config.num_classes}")


def check_feature_maps(config: SsdConfig, shapes: list[tuple[str, tuple[int, ...]]]) -> None:
    for k, (name, shape) in enumerate(shapes):
        if len(shape) != 4:
            raise config.error(f"source {k} ({name}) is {len(shape)}-D {list(shape)}, not a 4-D feature map")
        if shape[2] != shape[3] or shape[2] != config.feature_maps[k]:
            raise config.error(f"feature_maps[{k}] is {config.feature_maps[k]}, but source {k} ({name}) is "
                               f"{shape[2]}×{shape[3]}")


# --- run --ssd: the head on a traced conversion ----------------------------------------------------

def _head_convs(graph, head: str) -> list | None:
    """The convolutions of ModuleList ``head`` (``loc.0``, ``loc.1``, …) in index order; None without one."""
    found = {}
    for op in graph.ops:
        parts = op.module_path.split(".")
        if op.kind == "conv2d" and len(parts) >= 2 and parts[-2] == head and parts[-1].isdigit():
            found.setdefault(int(parts[-1]), op)
    if not found or sorted(found) != list(range(len(found))):
        return None
    return [found[i] for i in range(len(found))]


def _names_of(value, blobs: dict) -> list[str]:
    """What a config may call a traced feature map: its Caffe blob, the module that made it, or, through
    one-input functional ops of a parent's forward (``F.relu(self.extras[1](x))``), the module before them."""
    names = [blobs[value.index].name]
    while value.producer is not None:
        if value.producer.module_path:
            names.append(value.producer.module_path)
            break
        inputs = value.producer.inputs
        if len(inputs) != 1:
            break
        value = inputs[0]
    return names


def _resolve(config: SsdConfig, name: str, conversion):
    """The last traced value known by ``name`` (its module's final output)."""
    for value in reversed(conversion.graph.values):
        if value.index in conversion.blobs and name in _names_of(value, conversion.blobs):
            return value
    raise config.error(f"unknown source {name!r}: no module path or Caffe blob of that name in the traced model")


def _sources(config: SsdConfig, conversion, loc_convs) -> list[tuple[str, object]]:
    """(name, traced value) per source: the inputs of the loc convs, checked against ``sources`` if given."""
    blobs = conversion.blobs
    if loc_convs is None:
        if config.sources is None:
            raise config.error("sources is not given and the model has no loc head (convolutions loc.0, loc.1, …) "
                               "to infer them from: list the source feature maps by module path or Caffe blob name")
        return [(name, _resolve(config, name, conversion)) for name in config.sources]
    feeds = [op.arg(0, "input") for op in loc_convs]
    if config.sources is None:
        if len(feeds) != len(config.feature_maps):
            raise config.error(f"feature_maps has {len(config.feature_maps)} entries, but the model has "
                               f"{len(feeds)} loc head convolutions (sources)")
        return [(_names_of(value, blobs)[-1], value) for value in feeds]
    if len(feeds) != len(config.sources):
        raise config.error(f"sources has {len(config.sources)} entries, but the model has {len(feeds)} loc head "
                           "convolutions")
    for k, (name, value) in enumerate(zip(config.sources, feeds)):
        names = _names_of(value, blobs)
        if name not in names:
            _resolve(config, name, conversion)  # unknown names get that message
            raise config.error(f"sources[{k}] {name!r} is not the feature map that {loc_convs[k].module_path} reads "
                               f"({' = '.join(reversed(names))})")
    return [(name, value) for name, value in zip(config.sources, feeds)]


def _check_head_channels(config: SsdConfig, loc_convs, conf_convs) -> None:
    """Per source, loc has priors × 4 channels and conf priors × num_classes."""
    for k, op in enumerate(loc_convs or []):
        priors, channels = config.priors_per_cell(k), op.outputs[0].shape[1]
        per_prior = _loc_values_per_prior(config)
        if channels != priors * per_prior:
            raise config.error(f"aspect_ratios[{k}] gives {priors} priors per cell "
                               f"(2 + 2 × {len(config.aspect_ratios[k])}), "
                               f"but {op.module_path} has {channels} channels, not {priors} × {per_prior}")
    if conf_convs and len(conf_convs) != len(config.feature_maps):
        raise config.error(f"feature_maps has {len(config.feature_maps)} entries, but the model has {len(conf_convs)} "
                           "conf head convolutions")
    for k, op in enumerate(conf_convs or []):
        priors, channels = config.priors_per_cell(k), op.outputs[0].shape[1]
        if channels != priors * config.num_classes:
            actual = f" = {priors} × {channels // priors}" if channels % priors == 0 else ""
            raise config.error(f"num_classes {config.num_classes} does not match the conf head: {op.module_path} has "
                               f"{channels} channels{actual} for {priors} priors per cell")


def _flat_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def _loc_and_conf(config: SsdConfig, conversion) -> tuple[Blob, Blob]:
    """The config's ``loc``/``conf`` blobs, else the model's first two outputs."""
    by_name = {blob.name: blob for blob in conversion.blobs.values()}
    found = []
    for i, key in enumerate(("loc", "conf")):
        if key in config.files:
            if config.files[key] not in by_name:
                raise config.error(f"{key}: no Caffe blob named {config.files[key]!r} in the exported net")
            found.append(by_name[config.files[key]])
        elif i < len(conversion.output_blobs):
            found.append(conversion.output_blobs[i])
        else:
            raise config.error(f"the model returns {len(conversion.output_blobs)} tensor(s); --ssd needs (loc, conf) "
                               "as its first two outputs, or loc/conf blob names in the config")
    return found[0], found[1]


def append_from_config(conversion, path: str) -> None:
    """Validate SSD.yml against the traced model and append the SSD head; the net's output becomes detection_out."""
    config = load_config(path)
    graph = conversion.graph
    loc_convs, conf_convs = _head_convs(graph, "loc"), _head_convs(graph, "conf")
    sources = _sources(config, conversion, loc_convs)
    check_feature_maps(config, [(name, value.shape) for name, value in sources])
    _check_head_channels(config, loc_convs, conf_convs)
    loc, conf = _loc_and_conf(config, conversion)
    check_flat_sizes(config, (f"loc (blob {loc.name})", _flat_size(loc.shape)),
                     (f"conf (blob {conf.name})", _flat_size(conf.shape)))
    inputs = HeadInputs(conversion.net.inputs[0], [(name, conversion.blobs[v.index]) for name, v in sources],
                        loc, conf)
    conversion.output_blobs = [append_head(conversion.net, config, inputs)]


# --- add-priorbox: the head on an existing prototxt ---------------------------------------------------

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
    from .runtime import run_pycaffe

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
    if config.sources is None:
        raise config.error("add-priorbox needs sources: the Caffe blobs of the feature maps the heads read")
    proto = read_prototxt(prototxt)
    inputs = _net_inputs(proto)
    _check_prototxt(config, proto, prototxt, inputs,
                    {"loc": loc, "conf": conf, **{f"sources[{k}]": s for k, s in enumerate(config.sources)}})
    shapes = _probe_shapes(prototxt, inputs, [*config.sources, loc, conf]) or {}
    if shapes:
        check_feature_maps(config, [(name, shapes[name]) for name in config.sources])
        check_flat_sizes(config, (f"loc (blob {loc})", _flat_size(shapes[loc])),
                         (f"conf (blob {conf})", _flat_size(shapes[conf])))
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
