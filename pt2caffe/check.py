"""``pt2caffe check``: run PyTorch and Caffe on the same input and compare every mapped blob.

The mapping Caffe blob ↔ traced value comes from the conversion report (its "blobs", in net
order): from NAME.json, or from converting the model again in memory when MODEL.py and
WEIGHTS.pth are given. Tracing the model again with capture on reproduces the same value
indices, so each Caffe blob is compared with ``graph.values[row["value"]].tensor``. A blob
passes when max|caffe − torch| ≤ atol + rtol·max|torch|; the first blob that does not is where
the export (or the edited prototxt / caffemodel) goes wrong.

When Caffe cannot even set the net up (an unknown layer, a shape it refuses), the net is cut
before the layer it dies on (found by bisection over prefixes of the net) so that everything
before it is still compared, and the crash is reported with that layer's name.

With ``--backend mnn`` a blob that MNN's converter fused away (its layer merged into another)
cannot be read: it is "not kept", which does not fail the check unless it is a net output
(a blob no layer reads), which must be there.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from google.protobuf import text_format

from .backends import default_backend, run_net
from .convert import convert, non_finite, report as conversion_report
from .drawing import draw_report
from .errors import Pt2CaffeError, one_line, short
from .inputs import load_inputs
from .loading import load, parse_shape
from .noise import NOISE_FACTOR, float32_noise
from .progress import Progress
from .serialize import json_text, prototxt_export_id, read_export_id, read_prototxt, write_files
from .sizes import InputSizes

NEIGHBOURS = 2  # rows shown before and after the first divergence
NAME_WIDTH = 36  # longer layer / module names are cut from the left (the tail is the specific part)
FAILING = ("fail", "shape")
PASSING = ("ok", "not kept")
LENIENT_SHAPES = ("opencv", "mnn")  # runtimes that keep or drop unit axes their own way


@dataclass
class Subject:
    """What is checked: the model, how to load it, the Caffe files and the report if there is one."""

    model: str
    weights: str
    entry: str
    input_shapes: list[str] | None  # as --input-shape texts; None: from MODEL.py
    unsafe_pickle: bool
    non_strict: bool
    prototxt: str
    caffemodel: str
    report: dict | None  # NAME.json's content, None when the mapping is made in memory
    prefix: str  # PREFIX.check.svg is drawn here


def _from_report(path: str, args) -> Subject:
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as error:
        raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Pt2CaffeError(f"{path} is not a pt2caffe report: {error}") from None
    if not isinstance(report, dict):
        raise Pt2CaffeError(f"{path} is not a pt2caffe report: it holds a JSON {type(report).__name__}, not an object")
    source = report.get("source") or {}
    if not isinstance(source, dict) or not isinstance(report.get("blobs"), list) or not source.get("model"):
        raise Pt2CaffeError(f"{path} does not say which model it was exported from (no 'source'): "
                            "check MODEL.py WEIGHTS.pth --prototxt NET.prototxt --caffemodel NET.caffemodel")
    recorded = [",".join(str(d) for d in shape) for shape in source.get("input_shapes", [])]
    if args.input_shape and [parse_shape(t) for t in args.input_shape] != [parse_shape(t) for t in recorded]:
        raise Pt2CaffeError(f"--input-shape {' '.join(args.input_shape)} differs from the export's "
                            f"{' '.join(recorded)}: export again with `pt2caffe run ... --input-shape`")
    directory = os.path.dirname(os.path.abspath(path))
    files = report.get("files", {})
    _same_export(path, report.get("export_id"), None if args.prototxt else os.path.join(directory, files.get("prototxt", "")),
                 None if args.caffemodel else os.path.join(directory, files.get("caffemodel", "")))
    return _existing(Subject(  # loading options from the command line only: a report cannot switch off safety
        source["model"], source["weights"], source.get("entry", "build_model"), recorded or None,
        args.unsafe_pickle, args.non_strict,
        args.prototxt or os.path.join(directory, files.get("prototxt", "")),
        args.caffemodel or os.path.join(directory, files.get("caffemodel", "")),
        report, os.path.splitext(os.path.abspath(path))[0]))


def _same_export(report_path: str, export_id, prototxt: str | None, caffemodel: str | None) -> None:
    """Refuse a prototxt or caffemodel from another run than NAME.json (two exports to one name that
    overlapped, or a file copied over): the three files of one export share its export id."""
    if not export_id:
        return  # a report from before export ids
    for path, read in ((prototxt, prototxt_export_id), (caffemodel, read_export_id)):
        if path is None or not os.path.isfile(path):
            continue
        try:
            found = read(path)
        except OSError as error:
            raise Pt2CaffeError(f"cannot read {path}: {error.strerror}") from None
        if found != export_id:
            raise Pt2CaffeError(f"{path} is not from the same export as {report_path} (export id "
                                f"{short(found) if found else 'missing'}, the report's {short(export_id)}): "
                                "export again, or name the file with --prototxt / --caffemodel")


def subject_of(args) -> Subject:
    """NAME.json alone, or MODEL.py WEIGHTS.pth with --prototxt and --caffemodel."""
    sources = args.sources
    if len(sources) == 1 and sources[0].endswith(".json"):
        return _from_report(sources[0], args)
    if len(sources) != 2 or sources[0].endswith(".json"):
        raise Pt2CaffeError("check takes NAME.json (from `pt2caffe run`) or MODEL.py WEIGHTS.pth")
    if not (args.prototxt and args.caffemodel):
        raise Pt2CaffeError("check MODEL.py WEIGHTS.pth needs --prototxt and --caffemodel (or give NAME.json)")
    return _existing(Subject(
        sources[0], sources[1], args.entry, args.input_shape, args.unsafe_pickle, args.non_strict,
        args.prototxt, args.caffemodel, None,
        os.path.splitext(os.path.abspath(args.prototxt))[0]))


def _existing(subject: Subject) -> Subject:
    """Say which file is missing before minutes of loading and tracing."""
    for kind, path in (("model", subject.model), ("weights", subject.weights), ("prototxt", subject.prototxt),
                       ("caffemodel", subject.caffemodel)):
        if not os.path.isfile(path):
            raise Pt2CaffeError(f"{kind} file not found: {path}")
    return subject


# --- the Caffe net as given ---------------------------------------------------------------------

@dataclass
class CaffeNet:
    proto: object  # caffe_pb2.NetParameter
    producer: dict  # top → its (last) LayerParameter
    order: dict  # layer name → position
    inputs: list[str]


def caffe_net(prototxt: str) -> CaffeNet:
    proto = read_prototxt(prototxt)
    producer = {top: layer for layer in proto.layer for top in layer.top}
    inputs = list(proto.input) + [top for layer in proto.layer if layer.type == "Input" for top in layer.top]
    return CaffeNet(proto, producer, {layer.name: i for i, layer in enumerate(proto.layer)}, inputs)


def _prefix_prototxt(net: CaffeNet, count: int, directory: str) -> str:
    """The net cut after its first ``count`` layers, written into ``directory``."""
    from . import caffe_pb2

    cut = caffe_pb2.NetParameter()
    cut.CopyFrom(net.proto)
    del cut.layer[count:]
    path = os.path.join(directory, f"prefix{count}.prototxt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text_format.MessageToString(cut))
    return path


@dataclass
class CaffeRun:
    blobs: dict  # blob name → array
    crash: str | None = None  # "Caffe cannot set up layer 'x' (Type): reason", when the net did not load
    crash_layer: str | None = None


def run_caffe(subject: Subject, net: CaffeNet, feeds: dict, blobs: list[str], backend: str,
              docker_image: str, progress: Progress) -> CaffeRun:
    """Every requested blob; if the net does not load, the blobs before the layer it dies on."""
    progress.step(f"running Caffe ({backend}) on {os.path.basename(subject.prototxt)}")
    try:
        return CaffeRun(run_net(backend, subject.prototxt, subject.caffemodel, feeds, blobs,
                                docker_image=docker_image))
    except Pt2CaffeError as error:
        return _run_before_crash(subject, net, feeds, blobs, backend, docker_image, error, progress)


def _run_before_crash(subject, net, feeds, blobs, backend, docker_image, error, progress) -> CaffeRun:
    """Bisect for the shortest prefix of the net that fails; run the longest one that works.

    Caffe sets layers up in order, so "the first k layers run" is monotone in k. If even the
    inputs alone fail, the problem is the files or the inputs, not a layer: the error stands.
    """
    def attempt(count: int):
        wanted = [blob for blob in blobs if blob in tops_before[count]]
        try:
            return run_net(backend, _prefix_prototxt(net, count, tmp), subject.caffemodel, feeds, wanted,
                           docker_image=docker_image), None
        except Pt2CaffeError as failure:
            return None, failure

    layers = list(net.proto.layer)
    first_real = next((i for i, layer in enumerate(layers) if layer.type != "Input"), len(layers))
    tops_before = [set()]
    for layer in layers:
        tops_before.append(tops_before[-1] | set(layer.top))
    with tempfile.TemporaryDirectory(prefix="pt2caffe-prefix-") as tmp:
        good, bad, last_failure = first_real, len(layers), error
        best, failure = attempt(good)
        if failure is not None:
            raise error
        while bad - good > 1:
            progress.step(f"Caffe cannot load the net; looking for the layer ({good}..{bad} of {len(layers)})")
            middle = (good + bad) // 2
            outputs, failure = attempt(middle)
            if failure is None:
                good, best = middle, outputs
            else:
                bad, last_failure = middle, failure
    layer = layers[bad - 1]
    reason = str(last_failure).split(": ", 1)[-1]
    engine = {"opencv": "OpenCV", "mnn": "MNN"}.get(backend, "Caffe")
    return CaffeRun(best, f"{engine} cannot set up layer '{layer.name}' ({layer.type}): {reason}", layer.name)


# --- comparing ---------------------------------------------------------------------------------

def measure(caffe: np.ndarray, reference: np.ndarray) -> dict:
    """max |Δ|, max |torch| (the blob's scale), their ratio and the cosine similarity.

    Sums are accumulated in float64 by einsum, not BLAS: float32 dot products lose digits on
    big blobs, and BLAS threads spinning on a busy machine made this the slowest step.
    """
    if reference.size == 0:
        return {"max_abs": 0.0, "scale": 0.0, "rel": 0.0, "cosine": 1.0}
    a, b = caffe.ravel(), reference.ravel()
    max_abs = float(np.max(np.abs(a - b)))
    scale = float(max(b.max(), -b.min()))
    ab, aa, bb = (float(np.einsum("i,i->", x, y, dtype=np.float64)) for x, y in ((a, b), (a, a), (b, b)))
    cosine = ab / math.sqrt(aa * bb) if aa * bb > 0 else float(np.array_equal(a, b))
    return {"max_abs": max_abs, "scale": scale, "rel": max_abs / scale if scale > 0 else max_abs, "cosine": cosine}


def compare_row(row: dict, net: CaffeNet, reference: np.ndarray, caffe: np.ndarray | None,
                atol: float, rtol: float, backend: str, crashed: bool = False) -> dict:
    """One line of the result: the blob, where it comes from, its numbers and the verdict.

    A blob the backend did not return is "not run" (after a crash, or MNN lost a net output)
    or, for MNN without a crash and a blob some layer reads, "not kept" (fused away)."""
    layer = net.producer.get(row["blob"])
    result = {"blob": row["blob"], "layer": layer.name if layer else row["layer"],
              "type": layer.type if layer else row["type"], "module": row["module"], "source": row["source"],
              "shape": list(reference.shape), "caffe_shape": None,
              "max_abs": None, "scale": None, "rel": None, "cosine": None}
    if layer is None:
        return dict(result, verdict="missing")
    if caffe is None:
        fused = backend == "mnn" and not crashed and any(row["blob"] in other.bottom for other in net.proto.layer)
        return dict(result, verdict="not kept" if fused else "not run")
    result["caffe_shape"] = list(caffe.shape)
    if caffe.shape != reference.shape:
        # OpenCV keeps or drops unit axes differently from Caffe; the values are what matter there
        if not (backend in LENIENT_SHAPES and caffe.size == reference.size):
            return dict(result, verdict="shape")
        caffe = caffe.reshape(reference.shape)
    result.update(measure(caffe, reference))
    within = result["max_abs"] <= atol + rtol * result["scale"]  # False for NaN
    return dict(result, verdict="ok" if within else "fail")


def reference_arrays(rows: list[dict], graph, origin: str) -> dict[str, np.ndarray]:
    """The captured torch tensor of every row, refusing a trace that no longer matches the report."""
    arrays = {}
    for row in rows:
        index = row["value"]
        value = graph.values[index] if 0 <= index < len(graph.values) else None
        if value is None or value.tensor is None or list(value.shape) != list(row["shape"]):
            raise Pt2CaffeError(f"the model no longer traces like the export in {origin} (blob {row['blob']}: "
                                f"value {index} should be {'x'.join(map(str, row['shape']))}); export it again")
        arrays[row["blob"]] = value.tensor.detach().cpu().numpy().astype(np.float32, copy=False)
    return arrays


def suspects(blob: str, net: CaffeNet, verified: set[str]) -> list[str]:
    """The layers that computed ``blob`` from verified blobs (inputs and blobs that passed)."""
    found, stack = {}, [blob]
    while stack:
        name = stack.pop()
        layer = net.producer.get(name)
        if name in verified or layer is None or layer.name in found or layer.type == "Input":
            continue
        found[layer.name] = layer.type
        stack.extend(layer.bottom)
    return [f"{name} ({kind})" for name, kind in sorted(found.items(), key=lambda item: net.order[item[0]])]


# --- printing ----------------------------------------------------------------------------------

def _cut(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _number(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}e}"


def _verdict_text(result: dict, first: dict | None) -> str:
    if result["verdict"] == "shape":
        return "SHAPE caffe " + "x".join(map(str, result["caffe_shape"]))
    text = {"ok": "ok", "fail": "FAIL", "missing": "MISSING", "not run": "not run",
            "not kept": "not kept (fused)"}[result["verdict"]]
    return text + ("  <- first divergence" if result is first else "")


def table(results: list[dict], first: dict | None) -> str:
    header = ("#", "layer", "type", "torch module", "shape", "max|diff|", "rel", "cosine", "verdict")
    lines = [(str(result["index"]), _cut(result["layer"]), result["type"], _cut(result["module"] or "-"),
              "x".join(map(str, result["shape"])), _number(result["max_abs"]), _number(result["rel"]),
              "-" if result["cosine"] is None else f"{result['cosine']:.6f}", _verdict_text(result, first))
             for result in results]
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in [header] + lines)


def shown_rows(results: list[dict], first: dict | None, everything: bool) -> list[dict]:
    if everything:
        return results
    if first is None:
        return []
    at = results.index(first)
    return results[max(0, at - NEIGHBOURS): at + NEIGHBOURS + 1]


def describe_first(first: dict, culprits: list[str]) -> str:
    where = " at ".join(filter(None, [f"torch module '{first['module']}'" if first["module"] else "the model",
                                      first["source"]]))
    lines = [f"first divergence: blob '{first['blob']}' of layer '{first['layer']}' ({first['type']}), {where}"]
    if first["verdict"] == "shape":
        lines.append(f"  shape: caffe {'x'.join(map(str, first['caffe_shape']))}, "
                     f"torch {'x'.join(map(str, first['shape']))}")
    else:
        lines.append(f"  max|diff| {first['max_abs']:.3g} (max|torch| {first['scale']:.3g}, rel "
                     f"{first['rel']:.3g}), cosine {first['cosine']:.6f}")
    if culprits:
        lines.append(f"  computed from verified blobs by: {', '.join(culprits)}")
    return "\n".join(lines)


def summary(results: list[dict], args, crash: str | None, bad_weights: str = "") -> str:
    counts = {verdict: sum(r["verdict"] == verdict for r in results)
              for verdict in ("ok", "fail", "shape", "missing", "not run", "not kept")}
    tolerance = f"atol {args.atol:g}, rtol {args.rtol:g}"
    if counts["ok"] + counts["not kept"] == len(results):
        worst = max((r for r in results if r["verdict"] == "ok"), key=lambda r: r["rel"], default=None)
        tail = f"; worst: {worst['layer']} rel {worst['rel']:.1e}" if worst else ""
        kept = f" ({counts['not kept']} more fused away by the runtime)" if counts["not kept"] else ""
        floored = sum("floor" in r for r in results)
        floor = (f"; {floored} of them within {NOISE_FACTOR}× the model's own float32 noise (the runtime's "
                 "Winograd convolutions)" if floored else "")
        return f"OK: all {counts['ok']} blobs within tolerance ({tolerance}){floor}{kept}{tail}"
    compared = counts["ok"] + counts["fail"] + counts["shape"]
    parts = [crash] if crash else []
    if bad_weights:
        parts.append(f"bad weights: {bad_weights} hold NaN or infinite values, so the blobs computed from them "
                     "cannot match (a problem of the checkpoint, not of the export)")
    parts.append(f"{counts['fail'] + counts['shape']} of {compared} compared blobs out of tolerance ({tolerance})")
    if counts["missing"]:
        missing = [r["blob"] for r in results if r["verdict"] == "missing"]
        parts.append(f"{len(missing)} blobs of the export missing from the prototxt: "
                     f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if counts["not run"]:
        parts.append(f"{counts['not run']} blobs from that layer on not run")
    return "FAIL: " + "; ".join(parts)


# --- the command -------------------------------------------------------------------------------

def _verdicts_by_layer(results: list[dict], first: dict | None, crash_layer: str | None) -> dict[str, str]:
    verdicts = {crash_layer: "fail"} if crash_layer else {}
    for result in results:
        verdict = "first" if result is first else result["verdict"]
        if verdict in ("ok", "fail", "shape", "missing", "first"):
            verdicts[result["layer"]] = verdict
    return verdicts


def _drawing_report(subject: Subject, net: CaffeNet, rows: list[dict]) -> dict:
    """The checked prototxt as a report for drawing.py, torch modules taken from the mapping."""
    modules = {row["layer"]: row["module"] for row in rows}
    layers = [{"name": layer.name, "type": layer.type, "bottoms": list(layer.bottom), "tops": list(layer.top),
               "module": modules.get(layer.name, ""), "source": ""} for layer in net.proto.layer]
    return {"name": net.proto.name or os.path.basename(subject.prefix), "layers": layers, "blobs": rows}


@contextmanager
def _timed(timings: dict, name: str):
    clock = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - clock


@dataclass
class TorchSide:
    rows: list[dict]  # the report's blob rows: Caffe blob ↔ traced value, in net order
    references: dict  # blob → the captured torch tensor as float32 array
    graph: object = None  # the traced graph (SSD: the model's own priors output)
    bad_weights: str = ""  # state_dict keys holding NaN/inf ("" when all are finite)
    model: object = None  # the model and its inputs, for the float32 noise floor (pt2caffe.noise)
    inputs: list = field(default_factory=list)


def load_model_and_inputs(subject: Subject, input_path: str | None, net: CaffeNet, progress: Progress):
    """The model with its weights, the input tensors and the note saying what they are."""
    progress.step(f"loading {subject.model}")
    model, shapes = load(subject.model, subject.weights, entry=subject.entry, shapes=subject.input_shapes,
                         unsafe_pickle=subject.unsafe_pickle, strict=not subject.non_strict)
    if len(net.inputs) != len(shapes):
        raise Pt2CaffeError(f"{subject.prototxt} has {len(net.inputs)} inputs ({', '.join(net.inputs)}), "
                            f"the model takes {len(shapes)}")
    valid = [InputSizes(entry["name"], tuple(entry["shape"]), entry["fixed_axes"], entry["why"])
             for entry in (subject.report or {}).get("input_sizes", [])]
    inputs, input_note = load_inputs(input_path, shapes, net.inputs,
                                     (lambda index, shape: refuse_invalid_size(subject, valid[index], shape))
                                     if valid else None)
    return model, inputs, input_note


def refuse_invalid_size(subject: Subject, sizes: InputSizes, shape: tuple[int, ...]) -> None:
    """Raise Pt2CaffeError when ``shape`` changes an axis the report says is fixed (pt2caffe.sizes):
    the net would stop in its guard, or was never exact at that size."""
    if not sizes.accepts(shape):
        why = f" (fixed by {sizes.reasons[0]})" if sizes.reasons else ""
        raise Pt2CaffeError(f"{subject.prototxt} is valid only for {sizes.describe()}{why}; the input "
                            f"is {'×'.join(map(str, shape))}: export again with --input-shape "
                            f"{','.join(map(str, shape))}")


def trace_torch(subject: Subject, model, inputs, progress: Progress) -> TorchSide:
    """Run PyTorch once, capturing every traced op's output; the mapping from NAME.json, or made now when
    there is no report or the input has another (valid) size than the export: a net valid at both sizes
    lowers to the same layers and blob names (pt2caffe.sizes), only the shapes differ."""
    progress.step(f"running PyTorch ({type(model).__name__}) and tracing every op")
    conversion = convert(model, inputs, capture=True, probe_sizes=False)
    exported = [entry["shape"] for entry in subject.report["inputs"]] if subject.report else None
    same_size = exported == [list(tensor.shape) for tensor in inputs]
    rows = subject.report["blobs"] if same_size else conversion_report(conversion, {})["blobs"]
    bad = non_finite((key, tensor.detach().cpu().numpy()) for key, tensor in model.state_dict().items()
                     if tensor.is_floating_point())
    return TorchSide(rows, reference_arrays(rows, conversion.graph, subject.prefix + ".json"), conversion.graph, bad,
                     model, inputs)


def compare_all(torch_side: TorchSide, net: CaffeNet, caffe: CaffeRun, args, backend: str,
                progress: Progress) -> list[dict]:
    results = []
    for index, row in enumerate(torch_side.rows):
        progress.count("comparing blobs", index + 1, len(torch_side.rows))
        result = compare_row(row, net, torch_side.references[row["blob"]], caffe.blobs.get(row["blob"]),
                             args.atol, args.rtol, backend, caffe.crash is not None)
        results.append(dict(result, index=index))
    progress.clear()
    if backend in ("opencv", "mnn"):
        _apply_noise_floor(results, torch_side, args, progress)
    return results


def _apply_noise_floor(results: list[dict], torch_side: TorchSide, args, progress: Progress) -> None:
    """Blobs OpenCV or MNN miss by less than NOISE_FACTOR × the model's own float32 noise there pass,
    marked with that ``floor`` (their Winograd convolutions round more: pt2caffe.noise)."""
    failing = [result for result in results if result["verdict"] == "fail"]
    if not failing or torch_side.model is None:
        return
    progress.step("measuring the model's float32 noise (a float64 forward)")
    values = {row["blob"]: row["value"] for row in torch_side.rows}
    noise = float32_noise(torch_side.model, torch_side.inputs,
                          {r["blob"]: (values[r["blob"]], torch_side.references[r["blob"]]) for r in failing})
    progress.clear()
    for result in failing:
        floor = max(args.rtol, NOISE_FACTOR * noise.get(result["blob"], 0.0))
        if result["max_abs"] <= args.atol + floor * result["scale"]:
            result.update(verdict="ok", floor=floor)


def print_outcome(outcome: dict, results: list[dict], first: dict | None, args) -> None:
    print(f"input: {outcome['input']}")
    print(f"caffe: {outcome['prototxt']} + {outcome['caffemodel']} ({outcome['backend']})")
    shown = shown_rows(results, first, args.all)
    if shown:
        print(table(shown, first))
    if first:
        print(describe_first(first, outcome["first_divergence"]["suspects"]))
    print(outcome["verdict"])
    if outcome.get("ssd"):
        print("\n".join(ssd_lines(outcome["ssd"])))
    print("time: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in outcome["seconds"].items()))


def run_both(subject: Subject, net: CaffeNet, args, backend: str, progress: Progress, timings: dict):
    """PyTorch here, then Caffe in a child process, on the same input."""
    with _timed(timings, "load"):
        model, inputs, input_note = load_model_and_inputs(subject, args.input, net, progress)
    with _timed(timings, "torch"):
        torch_side = trace_torch(subject, model, inputs, progress)
    with _timed(timings, "caffe"):
        feeds = {name: tensor.numpy() for name, tensor in zip(net.inputs, inputs)}
        present = [row["blob"] for row in torch_side.rows if row["blob"] in net.producer]
        present += ssd_blobs(subject.report, net)
        caffe = run_caffe(subject, net, feeds, present, backend, args.docker_image, progress)
    return torch_side, caffe, input_note


def main(args) -> int:
    started = time.perf_counter()
    progress = Progress()
    subject = subject_of(args)
    net = caffe_net(subject.prototxt)
    backend = args.backend or default_backend()
    timings = dict.fromkeys(("load", "torch", "caffe", "compare"), 0.0)  # seconds, in this order
    torch_side, caffe, input_note = run_both(subject, net, args, backend, progress, timings)
    with _timed(timings, "compare"):
        results = compare_all(torch_side, net, caffe, args, backend, progress)
    timings["total"] = time.perf_counter() - started

    ssd = ssd_outcome(subject.report, torch_side, caffe)
    first = next((result for result in results if result["verdict"] in FAILING), None)
    verified = {result["blob"] for result in results if result["verdict"] == "ok"}
    outcome = {"ok": all(result["verdict"] in PASSING for result in results) and (ssd is None or ssd["ok"]),
               "backend": backend, "ssd": ssd,
               "input": input_note, "prototxt": os.path.abspath(subject.prototxt),
               "caffemodel": os.path.abspath(subject.caffemodel), "atol": args.atol, "rtol": args.rtol,
               "first_divergence": first and dict(first, suspects=suspects(first["blob"], net, verified)),
               "crash": caffe.crash, "bad_weights": torch_side.bad_weights or None, "blobs": results,
               "seconds": timings}
    outcome["verdict"] = summary(results, args, caffe.crash, torch_side.bad_weights)
    print_outcome(outcome, results, first, args)
    if not outcome["ok"]:  # the table stays on stdout; scripts and CI logs see the verdict on stderr too
        verdict = outcome["verdict"] if not outcome["verdict"].startswith("OK") else \
            "FAIL: the SSD head (priors or detections) is out of tolerance, see the SSD lines above"
        print(f"pt2caffe: check failed: {one_line(verdict)}", file=sys.stderr)
    if args.json:
        _write_json(args.json, outcome)
        print(f"wrote {args.json}")
    if args.graph:
        progress.step("drawing the net")
        paths = draw_report(_drawing_report(subject, net, torch_side.rows), subject.prefix + ".check",
                            _verdicts_by_layer(results, first, caffe.crash_layer), formats=args.graph_format)
        progress.clear()
        for path in paths:
            print(f"wrote {path}")
    return 0 if outcome["ok"] else 1


def ssd_blobs(report: dict | None, net: CaffeNet) -> list[str]:
    """The SSD head's blobs to fetch too (an export made with --ssd)."""
    from .ssd.compare import BLOBS

    return [blob for blob in BLOBS if report and report.get("ssd") and blob in net.producer]


def ssd_outcome(report: dict | None, torch_side: TorchSide, caffe: CaffeRun) -> dict | None:
    """Priors and detection_out against the PyTorch decode + NMS (pt2caffe.ssd.compare), for --ssd exports."""
    from .ssd.compare import BLOBS, compare

    ssd = (report or {}).get("ssd")
    if not ssd:
        return None
    if not all(blob in caffe.blobs for blob in BLOBS):
        return {"ok": False, "error": "the runtime did not return mbox_priorbox and detection_out"}
    index = ssd.get("priors_value")
    priors = None if index is None else torch_side.graph.values[index].tensor.numpy()
    return compare(ssd, torch_side.references, caffe.blobs, priors)


def ssd_lines(ssd: dict) -> list[str]:
    """What check prints about the SSD head (pt2caffe.ssd.compare.describe)."""
    from .ssd.compare import describe

    return [f"SSD FAIL: {ssd['error']}"] if "error" in ssd else describe(ssd)


def _write_json(path: str, outcome: dict) -> None:
    write_files({path: json_text(outcome)})
