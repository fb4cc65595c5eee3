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

import os
import sys

import numpy as np

from ..errors import Pt2CaffeError
from ..frontends.torch.loading import load_module
from .config import LIST_KEYS, SsdConfig
from .priors import repository_priors
from .validation import validated

# pytorch-ssd module attribute → ssd.pytorch key (the spec fields are mapped per source below)
PYTORCH_SSD_NAMES = {"image_size": "min_dim", "clamp": "clip"}
PYTORCH_SSD_SPEC_FIELDS = {"feature_maps": "feature_map_size", "steps": "shrinkage", "min_sizes": "box_sizes.min",
                           "max_sizes": "box_sizes.max", "aspect_ratios": "aspect_ratios"}
PYTORCH_SSD_OPTIONAL = ("num_classes", "sources", "detection", "loc", "conf")


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
        return validated(spec, _read_yaml(path), "ssd.pytorch", {}, os.path.dirname(os.path.abspath(path)))
    module = import_config(path)
    directory = os.path.dirname(os.path.abspath(path))
    if name is not None:
        raw = getattr(module, name, None)
        if not isinstance(raw, dict):
            raise Pt2CaffeError(f"{spec}: {path} has no dict named {name} (found: "
                                f"{', '.join(_dicts_with_ssd_keys(module)) or 'no dict with ssd.pytorch keys'})")
        return validated(spec, _lists(raw), "ssd.pytorch", {}, directory)
    if not hasattr(module, "specs"):
        dicts = _dicts_with_ssd_keys(module)
        hint = f"name the ssd.pytorch dict: {path}:{dicts[0]}" if dicts else \
            "expected a pytorch-ssd config module (specs, image_size, center_variance, size_variance)"
        raise Pt2CaffeError(f"{spec}: no specs in {path}: {hint}")
    raw, names = _from_pytorch_ssd(spec, module)
    config = validated(spec, raw, "pytorch-ssd", names, directory)
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
    """Import the user's config file as MODEL.py is imported (pt2caffe.frontends.torch.loading.load_module),
    with the package root on sys.path as well while it runs; the modules it imported from its own tree are
    forgotten afterwards, so that another config tree with the same package names loads its own."""
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
