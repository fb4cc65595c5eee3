"""Writing a conversion: PREFIX.prototxt, PREFIX.caffemodel and PREFIX.json, all or nothing, and
``export()``, convert and write in one call."""
from __future__ import annotations

import os
import uuid

import numpy as np
import torch
from torch import nn

from ..errors import Pt2CaffeError
from ..net.builder import NetBuilder
from ..net.caffemodel import caffemodel_pieces, check_caffemodel_size, pieces_size, write_caffemodel
from ..net.files import atomic_files, json_text
from ..net.proto import PROTOTXT_ID_PREFIX, net_proto, prototxt_text
from ..net.sizes import header_comment
from .pipeline import Conversion, convert, without_gc
from .report import report


def _is_finite(array: np.ndarray) -> bool:
    """One fast pass (a float32 sum is finite unless a value is NaN/inf or the sum overflows), exact after."""
    with np.errstate(over="ignore"):  # an overflowing sum only sends it to the exact pass
        return bool(np.isfinite(array.sum())) or bool(np.isfinite(array).all())


def non_finite(named_arrays) -> str:
    """The names among ``(name, float array)`` pairs whose array holds NaN or infinite values, as a short
    list ("a, b and 3 more"); "" when every value is finite."""
    bad = list(dict.fromkeys(name for name, array in named_arrays if array.size and not _is_finite(array)))
    return ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")


def _note_bad_weights(net: NetBuilder) -> None:
    """Caffe computes NaN/inf from such weights exactly as PyTorch does, so the export stays faithful; but
    the user must know (a diverged training run, a corrupt checkpoint)."""
    bad = non_finite((weight.source or f"{layer.name} (a constant pt2caffe made)", weight.array)
                     for layer in net.layers for weight in layer.weights)
    if bad:
        net.notes.append(f"weights with NaN or infinite values: {bad} (exported as they are: check the checkpoint)")


@without_gc
def write(conversion: Conversion, path_prefix: str, provenance: dict | None = None) -> dict:
    """Write PREFIX.prototxt, PREFIX.caffemodel and PREFIX.json, all or nothing; return the report.

    The three files carry one fresh export id (a comment line in the prototxt's header, a field of the
    caffemodel that Caffe skips, the JSON's "export_id"), so that ``check`` can tell files of different
    runs apart. Raises Pt2CaffeError, before anything is written, when the caffemodel would exceed
    protobuf's 2 GiB limit; and when writing fails (full disk...), with the old files left as they were.
    """
    paths = {ext: f"{path_prefix}.{ext}" for ext in ("prototxt", "caffemodel", "json")}
    files = {ext: os.path.basename(path) for ext, path in paths.items()}
    _note_bad_weights(conversion.net)
    export_id = uuid.uuid4().hex[:16]
    proto = net_proto(conversion.net)
    pieces = caffemodel_pieces(conversion.net, proto, export_id)
    check_caffemodel_size(pieces_size(pieces), paths["caffemodel"])
    result = dict(report(conversion, files, provenance), export_id=export_id)
    try:
        with atomic_files(list(paths.values())) as (prototxt, caffemodel, report_file):
            header = header_comment(conversion.sizes) if conversion.sizes else ""  # then the export id
            prototxt.write(f"{header}{PROTOTXT_ID_PREFIX}{export_id}\n{prototxt_text(proto)}".encode("utf-8"))
            write_caffemodel(pieces, caffemodel)
            report_file.write(json_text(result).encode("utf-8"))
    except OSError as error:
        raise Pt2CaffeError(f"cannot write {path_prefix}.prototxt/.caffemodel/.json: "
                            f"{error.strerror or error} (nothing was changed)") from None
    return result


def export(model: nn.Module, example_inputs, path_prefix: str, *,
           name: str | None = None, provenance: dict | None = None) -> dict:
    """Export ``model`` to ``path_prefix``.prototxt/.caffemodel/.json and return the report (the JSON's content)."""
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = [example_inputs]
    conversion = convert(model, example_inputs, name=name)
    return write(conversion, path_prefix, provenance)
