"""Reading an SSD config in the user's own form, validated before anything is built.

Three spellings, two dialects (examples/ssd/README.md maps every key):

* ``ssd.yml``: a YAML mapping with ssd.pytorch's keys (read with ``yaml.safe_load``);
* ``config.py:voc``: a dict with ssd.pytorch's keys in the user's Python file (ssd.pytorch's
  ``data/config.py`` as it is: tuples such as ``lr_steps`` are accepted);
* ``config.py``: a pytorch-ssd config module (``vision/ssd/config/*_config.py``): ``specs`` (a list
  of ``SSDSpec(feature_map_size, shrinkage, SSDBoxSizes(min, max), aspect_ratios)``),
  ``image_size``, ``center_variance``, ``size_variance``, optional ``clamp`` (default True, as
  ``generate_ssd_priors``) and ``iou_threshold``; a module-level ``priors`` tensor is checked
  against the priors these give.

A Python file is the user's own code: it is imported like MODEL.py (its directory on sys.path;
inside a package, the package root too, so that ``from vision.utils.box_utils import SSDSpec``
works), and nothing is downloaded. Every problem is one Pt2CaffeError line naming the key in the
user's spelling (``specs[2].box_sizes.max``, not ``max_sizes[2]``).
"""
from __future__ import annotations

import difflib
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from ..errors import Pt2CaffeError

CLIP_CAFFE = "caffe"  # clip value asking for Caffe's own corner clip
MAX_SIZE_SCALE = 64  # largest k tried to make fractional min/max sizes whole
INT32_MAX = 2**31 - 1

LIST_KEYS = ("feature_maps", "steps", "min_sizes", "max_sizes", "aspect_ratios")
REQUIRED_KEYS = ("min_dim", *LIST_KEYS, "variance", "clip")
FILE_KEYS = ("prototxt", "loc", "conf", "output")  # loc/conf: Caffe blob names; the others for add-priorbox
IGNORED_KEYS = ("name", "lr_steps", "max_iter")  # ssd.pytorch's training keys, accepted when pasted
DETECTION_DEFAULTS = {"conf_thresh": 0.01, "nms_thresh": 0.45, "top_k": 200, "keep_top_k": None,
                      "background_label": 0, "share_location": True}

# pytorch-ssd module attribute → ssd.pytorch key (the spec fields are mapped per source below)
PYTORCH_SSD_NAMES = {"image_size": "min_dim", "clamp": "clip"}
PYTORCH_SSD_SPEC_FIELDS = {"feature_maps": "feature_map_size", "steps": "shrinkage", "min_sizes": "box_sizes.min",
                           "max_sizes": "box_sizes.max", "aspect_ratios": "aspect_ratios"}
PYTORCH_SSD_OPTIONAL = ("num_classes", "sources", "detection", "loc", "conf")


@dataclass
class SsdConfig:
    """A validated config, in ssd.pytorch's terms whatever the dialect.

    Sizes and steps are in input pixels, ``min_dim`` is the (square) input size, ``variance`` is
    [center, size], ``clip`` is True (the repository's clamp of (cx, cy, w, h) to [0, 1]), False,
    or CLIP_CAFFE (PriorBox's clip of the corners). ``num_classes`` is None when the config does
    not say (pytorch-ssd): it is then read from the conf head.
    """

    path: str  # as the user gave it, to prefix messages
    dialect: str  # "ssd.pytorch" or "pytorch-ssd"
    num_classes: int | None
    min_dim: int
    feature_maps: list[int]
    steps: list[float]
    min_sizes: list[float]
    max_sizes: list[float]
    aspect_ratios: list[list[float]]
    variance: list[float]
    clip: bool | str
    sources: list[str] | None
    detection: dict
    files: dict  # FILE_KEYS given in the config, paths relative to its directory resolved
    module_priors: np.ndarray | None = None  # pytorch-ssd's module-level ``priors`` (P, 4) (cx, cy, w, h)
    size_scale: int = 1  # sizes, steps and img_size are multiplied by it (see priors.size_scale)
    names: dict = field(default_factory=dict)  # ssd.pytorch key → the user's spelling, "{k}" for the source

    def error(self, message: str) -> Pt2CaffeError:
        return Pt2CaffeError(f"{self.path}: {message}")

    def key(self, name: str, k: int | None = None) -> str:
        """``name`` (an ssd.pytorch key) as the user's config spells it, for source ``k``."""
        return spelled(self.names, name, k)

    def priors_per_cell(self, k: int) -> int:
        """The min-size box, the √(min·max) box, and each aspect ratio with its flip."""
        return 2 + 2 * len(self.aspect_ratios[k])

    @property
    def prior_count(self) -> int:
        return sum(f * f * self.priors_per_cell(k) for k, f in enumerate(self.feature_maps))


def spelled(names: dict, key: str, k: int | None = None) -> str:
    """An ssd.pytorch ``key`` (of source ``k``) in the user's spelling: ``names`` maps ``key`` and ``key[]``."""
    if k is None:
        return names.get(key, key)
    return names.get(f"{key}[]", f"{key}[{{k}}]").format(k=k)


# --- where the config comes from -----------------------------------------------------------------

def split_spec(spec: str) -> tuple[str, str | None]:
    """``config.py:voc`` → (``config.py``, ``voc``); anything else → (spec, None)."""
    head, sep, name = spec.rpartition(":")
    if sep and head.endswith(".py") and name.isidentifier():
        return head, name
    return spec, None


def load_config(spec: str) -> SsdConfig:
    """Read and validate ``ssd.yml``, ``config.py:NAME`` (a dict) or ``config.py`` (a pytorch-ssd module).

    Raises a one-line Pt2CaffeError naming the first bad key, or the file that cannot be read.
    """
    path, name = split_spec(spec)
    if not os.path.isfile(path):
        raise Pt2CaffeError(f"SSD config not found: {path}")
    if not path.endswith(".py"):
        return _validated(spec, _read_yaml(path), "ssd.pytorch", {}, os.path.dirname(os.path.abspath(path)))
    module = import_config(path)
    directory = os.path.dirname(os.path.abspath(path))
    if name is not None:
        raw = getattr(module, name, None)
        if not isinstance(raw, dict):
            raise Pt2CaffeError(f"{spec}: {path} has no dict named {name} (found: "
                                f"{', '.join(_dicts_with_ssd_keys(module)) or 'no dict with ssd.pytorch keys'})")
        return _validated(spec, _lists(raw), "ssd.pytorch", {}, directory)
    if not hasattr(module, "specs"):
        dicts = _dicts_with_ssd_keys(module)
        hint = f"name the ssd.pytorch dict: {path}:{dicts[0]}" if dicts else \
            "expected a pytorch-ssd config module (specs, image_size, center_variance, size_variance)"
        raise Pt2CaffeError(f"{spec}: no specs in {path}: {hint}")
    raw, names = _from_pytorch_ssd(spec, module)
    config = _validated(spec, raw, "pytorch-ssd", names, directory)
    _check_module_priors(config, module, clamp_given=hasattr(module, "clamp"))
    return config


def _read_yaml(path: str) -> dict:
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
    return raw


def _package_root(directory: str) -> str | None:
    """The directory above the outermost package (``__init__.py``) holding ``directory``, if any."""
    root = None
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory = os.path.dirname(directory)
        root = directory
    return root


def import_config(path: str):
    """Import the user's config file as MODEL.py is imported (pt2caffe.loading.load_module), with the
    package root on sys.path as well while it runs; the modules it imported from its own tree are
    forgotten afterwards, so that another config tree with the same package names loads its own."""
    from ..loading import load_module

    root = _package_root(os.path.dirname(os.path.abspath(path)))
    before = set(sys.modules)
    if root:
        sys.path.insert(0, root)
    try:
        return load_module(path)
    finally:
        if root:
            sys.path.remove(root)
            for name in set(sys.modules) - before:
                origin = getattr(sys.modules[name], "__file__", None) or ""
                if os.path.abspath(origin).startswith(root + os.sep):
                    del sys.modules[name]


def _dicts_with_ssd_keys(module) -> list[str]:
    return [name for name, value in vars(module).items()
            if isinstance(value, dict) and "feature_maps" in value and not name.startswith("_")]


def _lists(value):
    """Tuples (as in a pasted ``lr_steps``) become lists, recursively; the rest is left as it is."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    return value


def _spec_field(spec, k: int, name: str, spec_path: str):
    """``specs[k].<name>`` of an SSDSpec namedtuple (or a plain tuple in SSDSpec's field order)."""
    order = {"feature_map_size": 0, "shrinkage": 1, "box_sizes": 2, "aspect_ratios": 3}
    value = spec
    for part in name.split("."):
        if hasattr(value, part):
            value = getattr(value, part)
        elif isinstance(value, (tuple, list)) and part in order and len(value) == 4:
            value = value[order[part]]
        elif isinstance(value, (tuple, list)) and part in ("min", "max") and len(value) == 2:
            value = value[part == "max"]
        else:
            raise Pt2CaffeError(f"{spec_path}: specs[{k}] has no {name} (expected SSDSpec(feature_map_size, "
                                "shrinkage, SSDBoxSizes(min, max), aspect_ratios))")
    return _lists(value)


def _from_pytorch_ssd(spec_path: str, module) -> tuple[dict, dict]:
    """The module's attributes as ssd.pytorch keys, and the user's spelling of each."""
    specs = module.specs
    if not isinstance(specs, (list, tuple)) or not specs:
        raise Pt2CaffeError(f"{spec_path}: specs must be a non-empty list of SSDSpec, got {specs!r}")
    raw = {key: [_spec_field(s, k, name, spec_path) for k, s in enumerate(specs)]
           for key, name in PYTORCH_SSD_SPEC_FIELDS.items()}
    names = {f"{key}[]": f"specs[{{k}}].{name}" for key, name in PYTORCH_SSD_SPEC_FIELDS.items()}
    names.update({key: "specs" for key in LIST_KEYS})
    names.update({ssd: attr for attr, ssd in PYTORCH_SSD_NAMES.items()})
    names["variance"] = "center_variance/size_variance"
    for attr in ("image_size", "center_variance", "size_variance"):
        if not hasattr(module, attr):
            raise Pt2CaffeError(f"{spec_path}: missing {attr}")
    raw["min_dim"] = module.image_size
    raw["variance"] = [module.center_variance, module.size_variance]
    raw["clip"] = getattr(module, "clamp", True)  # generate_ssd_priors(specs, image_size, clamp=True)
    for key in PYTORCH_SSD_OPTIONAL:
        if hasattr(module, key):
            raw[key] = _lists(getattr(module, key))
    if hasattr(module, "iou_threshold"):
        detection = dict(raw.get("detection") or {})
        detection.setdefault("nms_thresh", module.iou_threshold)
        raw["detection"] = detection
        names["detection.nms_thresh"] = "iou_threshold"
    return raw, names


def _check_module_priors(config: SsdConfig, module, clamp_given: bool) -> None:
    """pytorch-ssd's module-level ``priors`` must be what specs give; without ``clamp`` they say which clamp."""
    from .priors import repository_priors

    priors = getattr(module, "priors", None)
    if priors is None:
        return
    array = np.asarray(priors.detach().cpu().numpy() if hasattr(priors, "detach") else priors, dtype=np.float64)
    options = [config.clip] if clamp_given else [True, False]
    for clip in options:
        expected = repository_priors(config, clamp=clip is True)
        if array.shape == expected.shape and np.abs(array - expected).max() <= 1e-6:
            config.clip, config.module_priors = clip, array
            return
    if array.shape != (config.prior_count, 4):
        raise config.error(f"priors has shape {list(array.shape)}, but specs give {config.prior_count} priors × 4")
    gap = float(np.abs(array - repository_priors(config, clamp=config.clip is True)).max())
    raise config.error(f"priors differ from generate_ssd_priors(specs, image_size, clamp={config.clip}) by up to "
                       f"{gap:.3g}")


# --- validation -----------------------------------------------------------------------------------

def _unknown_key(path: str, key, known) -> Pt2CaffeError:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return Pt2CaffeError(f"{path}: unknown key {key!r}{hint}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Value checks whose messages name the key as the user's config spells it."""

    def __init__(self, path: str, names: dict):
        self.path, self.names = path, names

    def name(self, key: str, k: int | None = None) -> str:
        return spelled(self.names, key, k)

    def fail(self, message: str) -> Pt2CaffeError:
        return Pt2CaffeError(f"{self.path}: {message}")

    def positive(self, key: str, value, *, integer: bool = False, k: int | None = None):
        if not _is_number(value) or value <= 0 or (integer and value != int(value)):
            kind = "a positive integer" if integer else "a positive number"
            raise self.fail(f"{self.name(key, k)} must be {kind}, got {value!r}")
        return int(value) if integer else float(value)

    def positive_list(self, key: str, value, *, integer: bool = False) -> list:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{self.name(key)} must be a non-empty list, got {value!r}")
        return [self.positive(key, item, integer=integer, k=i) for i, item in enumerate(value)]

    def aspect_ratios(self, value) -> list[list[float]]:
        """Caffe's PriorBox skips a ratio of 1 and any ratio equal to an earlier one or its flip; the
        repositories do not."""
        if not isinstance(value, list) or not value:
            raise self.fail(f"{self.name('aspect_ratios')} must be a non-empty list of lists, got {value!r}")
        result = []
        for k, ratios in enumerate(value):
            where = self.name("aspect_ratios", k)
            if not isinstance(ratios, list):
                raise self.fail(f"{where} must be a list (like [2, 3]), got {ratios!r}")
            ratios = [self.positive("aspect_ratios", r, k=k) for r in ratios]
            seen = [1.0]
            for ratio in ratios:
                if any(abs(ratio - other) < 1e-6 or abs(1 / ratio - other) < 1e-6 for other in seen):
                    raise self.fail(f"{where} repeats {ratio:g} (ratio 1, or a ratio or its flip given twice): "
                                    "Caffe's PriorBox would drop it and count fewer priors")
                seen += [ratio, 1 / ratio]
            result.append(ratios)
        return result

    def clip(self, value):
        if value is True or value is False or value == CLIP_CAFFE:
            return value
        raise self.fail(f"{self.name('clip')} must be true, false or {CLIP_CAFFE!r} (Caffe's corner clip), "
                        f"got {value!r}")


# detection key: (test of its value given num_classes, what it must be)
DETECTION_RULES = {
    "conf_thresh": (lambda v, n: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "nms_thresh": (lambda v, n: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "top_k": (lambda v, n: _is_int(v) and v > 0, "a positive integer"),
    "keep_top_k": (lambda v, n: v is None or (_is_int(v) and (v == -1 or v > 0)),
                   "-1 (no cut) or a positive integer"),
    "background_label": (lambda v, n: _is_int(v) and 0 <= v < (n or INT32_MAX), "a class in [0, num_classes)"),
    "share_location": (lambda v, n: isinstance(v, bool), "true or false"),
}


def _detection(check: _Checker, raw, num_classes: int | None) -> dict:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise check.fail(f"detection must be a mapping, got {raw!r}")
    for key in raw:
        if key not in DETECTION_DEFAULTS:
            raise _unknown_key(check.path, f"detection.{key}", [f"detection.{k}" for k in DETECTION_DEFAULTS])
    detection = {**DETECTION_DEFAULTS, **raw}
    if detection["keep_top_k"] == -1:
        detection["keep_top_k"] = None  # no cut; see head.keep_top_k
    for key, (is_valid, wanted) in DETECTION_RULES.items():
        if not is_valid(detection[key], num_classes):
            raise check.fail(f"{check.name(f'detection.{key}')} must be {wanted}, got {detection[key]!r}")
    return detection


def _sources(check: _Checker, sources):
    if sources is not None and (not isinstance(sources, list) or not sources
                                or not all(isinstance(s, str) and s for s in sources)):
        raise check.fail(f"sources must be a list of module paths or Caffe blob names, got {sources!r}")
    return sources


def _num_classes(check: _Checker, raw: dict, required: bool) -> int | None:
    if "num_classes" not in raw:
        if required:
            raise check.fail("missing key num_classes")
        return None
    num_classes = check.positive("num_classes", raw["num_classes"], integer=True)
    if num_classes < 2:
        raise check.fail(f"num_classes must count the background too (≥ 2), got {num_classes}")
    return num_classes


def _validated(path: str, raw: dict, dialect: str, names: dict, directory: str) -> SsdConfig:
    check = _Checker(path, names)
    if dialect == "ssd.pytorch":
        known = [*REQUIRED_KEYS, "num_classes", "sources", "detection", *FILE_KEYS, *IGNORED_KEYS]
        for key in raw:
            if key not in known:
                raise _unknown_key(path, key, known)
        for key in ("num_classes", *REQUIRED_KEYS):
            if key not in raw:
                raise check.fail(f"missing key {key}")
    num_classes = _num_classes(check, raw, required=dialect == "ssd.pytorch")
    variance = check.positive_list("variance", raw["variance"])
    if len(variance) != 2:
        raise check.fail(f"variance must be two numbers [center, size] like [0.1, 0.2], got {raw['variance']!r}")
    config = SsdConfig(
        path=path, dialect=dialect, num_classes=num_classes,
        min_dim=check.positive("min_dim", raw["min_dim"], integer=True),
        feature_maps=check.positive_list("feature_maps", raw["feature_maps"], integer=True),
        steps=check.positive_list("steps", raw["steps"]),
        min_sizes=check.positive_list("min_sizes", raw["min_sizes"]),
        max_sizes=check.positive_list("max_sizes", raw["max_sizes"]),
        aspect_ratios=check.aspect_ratios(raw["aspect_ratios"]), variance=variance, clip=check.clip(raw["clip"]),
        sources=_sources(check, raw.get("sources")), detection=_detection(check, raw.get("detection"), num_classes),
        files=_files(check, raw, directory), names=names)
    _check_lengths(config)
    for k, (low, high) in enumerate(zip(config.min_sizes, config.max_sizes)):
        if high <= low:
            raise config.error(f"{config.key('max_sizes', k)} ({high:g}) must be larger than "
                               f"{config.key('min_sizes', k)} ({low:g})")
    from .priors import size_scale

    config.size_scale = size_scale(config)
    return config


def _files(check: _Checker, raw: dict, directory: str) -> dict:
    files = {}
    for key in FILE_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise check.fail(f"{key} must be a name, got {value!r}")
        files[key] = os.path.join(directory, value) if key in ("prototxt", "output") else value
    return files


def _check_lengths(config: SsdConfig) -> None:
    """Every per-source list has one entry per source (per feature map when sources are inferred)."""
    reference = "sources" if config.sources is not None else "feature_maps"
    count = len(getattr(config, reference))
    for key in (*LIST_KEYS, "sources"):
        values = getattr(config, key)
        if values is not None and len(values) != count:
            raise config.error(f"{config.key(key)} has {len(values)} entries, {config.key(reference)} has {count}")
