"""The SSD layers appended to a net: priors (pt2caffe.ssd.priors), loc Flatten, conf Softmax, DetectionOutput.

DetectionOutput (src/caffe/layers/detection_output_layer.cpp) decodes with ``code_type:
CENTER_SIZE`` (the default, CORNER, is not SSD's) and always gets ``nms_param`` (without it the
reference build skips NMS). Per image and class it keeps scores > confidence_threshold, the
``top_k`` best, greedy NMS (IoU ≤ nms_threshold kept), then ``keep_top_k`` best over all classes.
``keep_top_k: -1`` (no cut) makes OpenCV's DetectionOutput return one row and then crash, so "no
cut" is written as the largest count NMS can leave: (classes − 1) × min(top_k, priors), which cuts
nothing in Caffe or OpenCV (:func:`keep_top_k`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..net.builder import Blob, NetBuilder
from .config import SsdConfig
from .priors import emit_priors


@dataclass
class HeadInputs:
    """The blobs the SSD layers read."""

    data: Blob  # the image (PriorBox's second bottom)
    sources: list[tuple[str, Blob]]  # (name for the layer, feature map), one per source
    loc: Blob
    conf: Blob


def keep_top_k(config: SsdConfig) -> int:
    """The config's keep_top_k, or for "no cut" the most detections NMS can leave per image."""
    given = config.detection["keep_top_k"]
    if given is not None:
        return given
    return (config.num_classes - 1) * min(config.detection["top_k"], config.prior_count)


def loc_values_per_prior(config: SsdConfig) -> int:
    """4 box offsets per prior, per class when locations are not shared."""
    return 4 if config.detection["share_location"] else 4 * config.num_classes


def flat_size(shape: tuple[int, ...]) -> int:
    """Values per image of an (N, ...) blob."""
    return math.prod(shape[1:])


def append_head(net: NetBuilder, config: SsdConfig, inputs: HeadInputs) -> Blob:
    """Append the priors, the loc Flatten, the conf Reshape/Softmax/Flatten and DetectionOutput; return
    ``detection_out`` (1, 1, K, 7) rows [image, label, score, xmin, ymin, xmax, ymax].

    Raises Pt2CaffeError when the image is not min_dim × min_dim (PriorBox normalises by the image).
    """
    image = inputs.data.shape
    if len(image) == 4 and image[2:] != (config.min_dim, config.min_dim):
        raise config.error(f"{config.key('min_dim')} is {config.min_dim}, but the image input {inputs.data.name} is "
                           f"{image[2]}×{image[3]}: the repositories' priors are relative to it, PriorBox's to the "
                           "image")
    if config.size_scale > 1:
        net.notes.append(f"{config.path}: min/max sizes and steps are multiplied by {config.size_scale} (img_size "
                         f"{config.min_dim * config.size_scale}) for Caffe versions that cast sizes to int; "
                         "OpenCV ignores img_size, so its priors will differ")
    batch, count, classes = image[0] if image else 1, config.prior_count, config.num_classes
    meta = {"source": config.path}
    mbox_priorbox = emit_priors(net, config, inputs.sources, inputs.data, meta)
    # Always: add-priorbox may not know the loc shape, and on an (N, K) loc the Flatten is an identity.
    loc = net.layer("mbox_loc_flatten", "Flatten", [inputs.loc], [(batch, count * loc_values_per_prior(config))],
                    {"flatten_param": {"axis": 1}}, **meta)[0]
    conf = net.layer("mbox_conf_reshape", "Reshape", [inputs.conf], [(batch, count, classes)],
                     {"reshape_param": {"shape": {"dim": [0, -1, classes]}}}, **meta)[0]
    conf = net.layer("mbox_conf_softmax", "Softmax", [conf], [conf.shape], {"softmax_param": {"axis": 2}}, **meta)[0]
    conf = net.layer("mbox_conf_flatten", "Flatten", [conf], [(batch, count * classes)],
                     {"flatten_param": {"axis": 1}}, **meta)[0]
    return net.layer("detection_out", "DetectionOutput", [loc, conf, mbox_priorbox], [(1, 1, -1, 7)],
                     {"detection_output_param": detection_output_param(config)}, **meta)[0]


def detection_output_param(config: SsdConfig) -> dict:
    """DetectionOutput's fields: CENTER_SIZE decoding, NMS always, keep_top_k finite (see :func:`keep_top_k`)."""
    det = config.detection
    return {"num_classes": config.num_classes, "share_location": det["share_location"],
            "background_label_id": det["background_label"],
            "nms_param": {"nms_threshold": det["nms_thresh"], "top_k": det["top_k"]},
            "code_type": "CENTER_SIZE", "keep_top_k": keep_top_k(config),
            "confidence_threshold": det["conf_thresh"]}


def check_flat_sizes(config: SsdConfig, loc: tuple[str, int], conf: tuple[str, int]) -> None:
    """loc holds 4 (× classes, unshared) values per prior and image, conf num_classes; say when they look
    swapped. Sets num_classes from conf when the config has none (pytorch-ssd)."""
    count = config.prior_count
    (loc_name, loc_size), (conf_name, conf_size) = loc, conf
    if config.num_classes is None:
        if conf_size % count or conf_size // count < 2:
            raise config.error(f"{conf_name} has {conf_size} values per image, not {count} priors × num_classes")
        config.num_classes = conf_size // count
    check_not_swapped(config, loc, conf)
    per_prior = loc_values_per_prior(config)
    if loc_size != count * per_prior:
        raise config.error(f"{loc_name} has {loc_size} values per image, but the {count} priors of the config need "
                           f"{count} × {per_prior} = {count * per_prior}")
    if conf_size != count * config.num_classes:
        found = f" ({conf_size // count} per prior)" if conf_size % count == 0 else ""
        raise config.error(f"num_classes {config.num_classes} does not match {conf_name}: it has {conf_size} values "
                           f"per image{found}, not {count} priors × {config.num_classes}")


def check_not_swapped(config: SsdConfig, loc: tuple[str, int], conf: tuple[str, int]) -> None:
    """One line with the numbers when loc has conf's size and conf loc's."""
    count, per_prior, classes = config.prior_count, loc_values_per_prior(config), config.num_classes
    (loc_name, loc_size), (conf_name, conf_size) = loc, conf
    if classes and per_prior != classes and loc_size == count * classes and conf_size == count * per_prior:
        raise config.error(f"loc and conf look swapped: {loc_name} has {loc_size} = {count} × {classes} values per "
                           f"image, {conf_name} {conf_size} = {count} × {per_prior}")


def check_feature_maps(config: SsdConfig, shapes: list[tuple[str, tuple[int, ...]]]) -> None:
    """Each source is a 4-D map of the config's feature map size."""
    for k, (name, shape) in enumerate(shapes):
        if len(shape) != 4:
            raise config.error(f"source {k} ({name}) is {len(shape)}-D {list(shape)}, not a 4-D feature map")
        if shape[2] != shape[3] or shape[2] != config.feature_maps[k]:
            raise config.error(f"{config.key('feature_maps', k)} is {config.feature_maps[k]}, but source {k} ({name}) "
                               f"is {shape[2]}×{shape[3]}")
