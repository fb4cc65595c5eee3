"""The conversion report (NAME.json): what was exported from what, layer by layer and weight by weight,
and the mapping of Caffe blobs to traced values that ``pt2caffe check`` compares; the files it names are
recorded relative to the report's folder, with their absolute paths as a fallback."""
from __future__ import annotations

import os

from ..errors import Pt2CaffeError

from ..net.builder import NetBuilder
from ..version import __version__
from .cost import cost_section
from .indices import index_info
from .pipeline import Conversion


def _weights_report(net: NetBuilder) -> list[dict]:
    return [{"torch": weight.source, "layer": layer.name, "blob": index, "shape": list(weight.array.shape),
             "transform": weight.transform}
            for layer in net.layers for index, weight in enumerate(layer.weights)]


def _compared_blobs(conversion: Conversion) -> list[dict]:
    """Every Caffe blob that holds a traced tensor, in net order, for ``pt2caffe check``; an index blob (a pooling
    mask, an argmax) says what it indexes ("index": pt2caffe.conversion.indices)."""
    producer_of = {top: layer for layer in conversion.net.layers for top in layer.tops}
    seen, rows = set(), []
    for value in conversion.graph.values:
        blob = conversion.blobs.get(value.index)
        if blob is None or blob.name in seen or value.producer is None or blob.name not in producer_of:
            continue  # (no producer: a dropped dead layer's blob)
        seen.add(blob.name)
        layer = producer_of[blob.name]
        row = {"blob": blob.name, "value": value.index, "layer": layer.name, "type": layer.type,
               "shape": list(value.shape), "module": value.producer.module_path, "source": value.producer.source}
        index = index_info(value)
        rows.append(dict(row, index=index) if index else row)
    order = {layer.name: i for i, layer in enumerate(conversion.net.layers)}
    return sorted(rows, key=lambda row: order[row["layer"]])


def _outputs_report(conversion: Conversion) -> list[dict]:
    """The net's outputs; "torch" names the model output a blob holds, None for appended ones (detection_out)."""
    graph = conversion.graph
    traced = {}
    for value, path in zip(graph.outputs, graph.output_paths):
        if value.index not in conversion.blobs:  # dropped: pt2caffe.ssd replaces a constant priors output
            continue
        traced.setdefault(conversion.blobs[value.index].name, (list(value.shape), path))
    rows = []
    for blob in conversion.output_blobs:
        shape, path = traced.get(blob.name, (list(blob.shape), None))
        rows.append({"name": blob.name, "shape": shape, "torch": path})
    return rows


def report(conversion: Conversion, files: dict, provenance: dict | None = None) -> dict:
    """The report of ``conversion``: ``files`` (extension → file name) and ``provenance`` (what ``run`` was
    given) as they are, then inputs, outputs, layers, weights and the compared blobs; then the front end's
    own fields (``conversion.describe``: an ONNX export's node and initializer names)."""
    net = conversion.net
    used = {key for layer in net.layers for weight in layer.weights if weight.source
            for key in weight.source.split(", ")}
    result = {
        "pt2caffe": __version__,
        "name": net.name,
        "target": net.target.name,
        "lint": [{"layer": v.layer, "type": v.type, "rule": v.rule, "text": v.text, "source": v.source,
                  "detail": v.detail} for v in conversion.lint],
        "files": files,
        "source": provenance or {},
        "inputs": [{"name": blob.name, "shape": list(blob.shape)} for blob in net.inputs],
        "input_sizes": [entry.as_report() for entry in conversion.sizes],
        "outputs": _outputs_report(conversion),
        "layers": [{"name": layer.name, "type": layer.type, "bottoms": layer.bottoms, "tops": layer.tops,
                    "module": layer.module, "source": layer.source} for layer in net.layers],
        "weights": _weights_report(net),
        "weights_used": sorted(used),
        "blobs": _compared_blobs(conversion),
        "parameters": net.parameter_count(),
        "cost": cost_section(net, conversion.graph),
        "notes": net.notes,
        **({"ssd": conversion.ssd} if conversion.ssd else {}),
    }
    if conversion.describe is not None:
        conversion.describe(result)
    return result


def portable_paths(paths: dict[str, str | None], folder: str) -> dict:
    """``paths`` (key → file, None for none) for a report in ``folder``: each file relative to ``folder``,
    plus ``"absolute"``: the same files' absolute paths. So ``check`` finds them when the project (the
    report and the model together) moves or is mounted elsewhere (``docker run -v "$PWD:/w"``), and when
    only the output folder moves; source_path() resolves them."""
    folder = os.path.abspath(folder)
    absolute = {key: os.path.abspath(path) for key, path in paths.items() if path}
    return {**{key: os.path.relpath(absolute[key], folder) if path else None for key, path in paths.items()},
            "absolute": absolute}


def source_path(report_path: str, source: dict, key: str) -> str:
    """The file the report's ``source[key]`` names (see portable_paths): relative to the report's folder,
    else the recorded absolute path (a report written before relative paths holds only an absolute one).
    Raises Pt2CaffeError naming both places when the file is at neither."""
    recorded = source[key]
    tried = [os.path.join(os.path.dirname(os.path.abspath(report_path)), recorded)]
    absolute = (source.get("absolute") or {}).get(key)
    if absolute and absolute not in tried:
        tried.append(absolute)
    found = next((path for path in tried if os.path.isfile(path)), None)
    if found is None:
        where = f"{recorded} from {report_path}'s folder" + (f" nor at {absolute}" if len(tried) > 1 else "")
        raise Pt2CaffeError(f"{key} file not found: {where}")
    return found
