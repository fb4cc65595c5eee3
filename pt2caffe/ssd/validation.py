"""Validating an SSD config's values, each error one line naming the key in the user's spelling
(``specs[2].box_sizes.max``, not ``max_sizes[2]``)."""
from __future__ import annotations

import difflib
import math
import os

from ..errors import Pt2CaffeError
from .config import (CLIP_CAFFE, DETECTION_DEFAULTS, FILE_KEYS, IGNORED_KEYS, INT32_MAX, LIST_KEYS, REQUIRED_KEYS,
                     SsdConfig, spelled)
from .priors import size_scale


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


def validated(path: str, raw: dict, dialect: str, names: dict, directory: str) -> SsdConfig:
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
