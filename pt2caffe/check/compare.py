"""The comparison: per blob max |Δ|, scale, ratio and cosine, the verdict within atol + rtol·scale (or the
model's own float32 noise floor, pt2caffe.check.noise; index blobs tie-aware, pt2caffe.check.ties), and the
layers suspected of a divergence."""
from __future__ import annotations

import math

import numpy as np

from ..console import Progress
from .noise import NOISE_FLOORS, float32_noise
from .run import CaffeRun
from .subject import CaffeNet
from .ties import judge_index_rows
from .torch_side import TorchSide, indexed_values, references_on_indices

FAILING = ("fail", "shape")
PASSING = ("ok", "not kept", "tie")
LENIENT_SHAPES = ("opencv", "mnn")  # runtimes that keep or drop unit axes their own way


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
              **({"onnx_node": row["onnx_node"]} if row.get("onnx_node") else {}),
              "shape": list(reference.shape), "caffe_shape": None,
              "max_abs": None, "scale": None, "rel": None, "cosine": None}
    if layer is None:
        return dict(result, verdict="missing")
    if caffe is None:
        # MNN fuses layers away; RKNN returns the net's outputs only: a net output must come back from both
        fused = backend in ("mnn", "rknn") and not crashed and any(row["blob"] in other.bottom
                                                                   for other in net.proto.layer)
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


def compare_all(torch_side: TorchSide, net: CaffeNet, caffe: CaffeRun, args, backend: str,
                progress: Progress) -> list[dict]:
    results = []
    for index, row in enumerate(torch_side.rows):
        progress.count("comparing blobs", index + 1, len(torch_side.rows))
        result = compare_row(row, net, torch_side.references[row["blob"]], caffe.blobs.get(row["blob"]),
                             args.atol, args.rtol, backend, caffe.crash is not None)
        results.append(dict(result, index=index))
    progress.clear()
    _judge_ties(results, torch_side, net, caffe, args, backend, progress)
    if backend in NOISE_FLOORS:  # after the ties: a float64 forward may pick other tied indices
        _apply_noise_floor(results, torch_side, NOISE_FLOORS[backend][0], args, progress)
    return results


def _judge_ties(results: list[dict], torch_side: TorchSide, net: CaffeNet, caffe: CaffeRun, args, backend: str,
                progress: Progress) -> None:
    """Index blobs that differ only by tie flips pass as "tie"; the failing blobs are then compared again with
    PyTorch run on the runtime's indices, and those that match are marked with that ``reference``."""
    tied = judge_index_rows(results, torch_side.rows, torch_side.references, indexed_values(torch_side),
                            caffe.blobs, args.atol, args.rtol)
    if not tied or not any(result["verdict"] == "fail" for result in results) or torch_side.model is None:
        return
    progress.step("running PyTorch again on the runtime's indices (tie flips)")
    again = references_on_indices(torch_side, tied, caffe.blobs)
    progress.clear()
    for position, (result, row) in enumerate(zip(results, torch_side.rows)):
        if result["verdict"] == "fail":
            redo = compare_row(row, net, again[row["blob"]], caffe.blobs.get(row["blob"]), args.atol, args.rtol,
                               backend, caffe.crash is not None)
            if redo["verdict"] == "ok":
                results[position] = dict(redo, index=result["index"], reference="PyTorch on the runtime's indices")


def _apply_noise_floor(results: list[dict], torch_side: TorchSide, factor: float, args, progress: Progress) -> None:
    """Blobs the runtime misses by less than ``factor`` × the model's own float32 noise there pass, marked
    with that ``floor`` (pt2caffe.check.noise: OpenCV's and MNN's Winograd convolutions round more; pycaffe
    sums in another order). Index blobs (pooling masks, argmax) are left to the tie-aware judgement, and so
    is every blob after an index blob whose indices differ: a float64 forward may pick other tied indices
    there, so its difference is not rounding noise."""
    flipped = [position for position, result in enumerate(results) if result.get("ties", {}).get("positions")]
    end = flipped[0] if flipped else len(results)
    failing = [result for result, row in zip(results[:end], torch_side.rows)
               if result["verdict"] == "fail" and not row.get("index")]
    if not failing or torch_side.model is None:
        return
    progress.step("measuring the model's float32 noise (a float64 forward)")
    values = {row["blob"]: row["value"] for row in torch_side.rows}
    noise = float32_noise(torch_side.model, torch_side.inputs,
                          {r["blob"]: (values[r["blob"]], torch_side.references[r["blob"]]) for r in failing})
    progress.clear()
    for result in failing:
        floor = max(args.rtol, factor * noise.get(result["blob"], 0.0))
        if result["max_abs"] <= args.atol + floor * result["scale"]:
            result.update(verdict="ok", floor=floor)
