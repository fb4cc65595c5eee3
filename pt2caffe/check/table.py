"""What ``check`` prints: the table of compared blobs (the first divergence and its neighbours, or all),
the first divergence in words, and the one-line verdict."""
from __future__ import annotations

from .detections import ssd_lines
from .noise import NOISE_FLOORS
from .rknn_route import ROUTE_FACTOR

NEIGHBOURS = 2  # rows shown before and after the first divergence
NAME_WIDTH = 36  # longer layer / module names are cut from the left (the tail is the specific part)


def _cut(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _number(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}e}"


def _verdict_text(result: dict, first: dict | None) -> str:
    if result["verdict"] == "shape":
        return "SHAPE caffe " + "x".join(map(str, result["caffe_shape"]))
    if result["verdict"] == "tie":
        return f"tie ({result['ties']['positions']} index flips between equal values)"
    text = {"ok": "ok", "fail": "FAIL", "missing": "MISSING", "not run": "not run",
            "not kept": "not kept (fused, or not an output)"}[result["verdict"]]
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
    owner = "ONNX node" if first.get("onnx_node") else "torch module"
    where = " at ".join(filter(None, [f"{owner} '{first['module']}'" if first["module"] else "the model",
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


def tie_text(results: list[dict]) -> str:
    """The tie flips of index blobs (pt2caffe.check.ties) in words, "" when there are none."""
    tied = [r for r in results if r["verdict"] == "tie"]
    if not tied:
        return ""
    parts = []
    for result in tied:
        example = result["ties"]["examples"][0]
        parts.append(f"{result['blob']}: {result['ties']['positions']} (e.g. at {example['position']} PyTorch "
                     f"{example['torch_index']}, Caffe {example['caffe_index']:g}: values {example['torch_value']:.3g} "
                     f"and {example['caffe_value']:.3g})")
    after = sum(r.get("reference") is not None for r in results)
    return (f"; index tie flips (equal values up to rounding, either pick is right) in {'; '.join(parts)}"
            + (f"; {after} blobs after them compared with PyTorch run on Caffe's indices" if after else ""))


def _floor_text(floored: int, backend: str) -> str:
    """What the blobs judged against a noise floor were judged against (pt2caffe.check.noise, .rknn_route)."""
    if not floored:
        return ""
    if backend == "rknn":
        return f"; {floored} of them within {ROUTE_FACTOR}× RKNN's own float16 error on the model's ONNX"
    factor, why = NOISE_FLOORS[backend]
    return f"; {floored} of them within {factor}× the model's own float32 noise ({why})"


def summary(results: list[dict], args, crash: str | None, bad_weights: str = "") -> str:
    counts = {verdict: sum(r["verdict"] == verdict for r in results)
              for verdict in ("ok", "fail", "shape", "missing", "not run", "not kept", "tie")}
    tolerance = f"atol {args.atol:g}, rtol {args.rtol:g}"
    if counts["ok"] + counts["not kept"] + counts["tie"] == len(results):
        worst = max((r for r in results if r["verdict"] == "ok"), key=lambda r: r["rel"], default=None)
        tail = f"; worst: {worst['layer']} rel {worst['rel']:.1e}" if worst else ""
        kept = (f" ({counts['not kept']} more not returned by the runtime: fused away, or not net outputs)"
                if counts["not kept"] else "")
        floor = _floor_text(sum("floor" in r for r in results), getattr(args, "backend", None) or "pycaffe")
        return (f"OK: all {counts['ok'] + counts['tie']} blobs within tolerance ({tolerance}){floor}{kept}{tail}"
                f"{tie_text(results)}")
    compared = counts["ok"] + counts["fail"] + counts["shape"]
    parts = [crash] if crash else []
    if bad_weights:
        parts.append(f"bad weights: {bad_weights} hold NaN or infinite values, so the blobs computed from them "
                     "cannot match (a problem of the checkpoint, not of the export)")
    parts.append(f"{counts['fail'] + counts['shape']} of {compared + counts['tie']} compared blobs out of tolerance "
                 f"({tolerance}){tie_text(results)}")
    if counts["missing"]:
        missing = [r["blob"] for r in results if r["verdict"] == "missing"]
        parts.append(f"{len(missing)} blobs of the export missing from the prototxt: "
                     f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    if counts["not run"]:
        parts.append(f"{counts['not run']} blobs from that layer on not run")
    return "FAIL: " + "; ".join(parts)


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
    if outcome.get("onnxruntime"):
        print("\n".join(onnxruntime_lines(outcome["onnxruntime"])))
    if outcome.get("rknn"):
        print("\n".join(rknn_lines(outcome["rknn"])))
    print("time: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in outcome["seconds"].items()))


def rknn_lines(route: dict) -> list[str]:
    """What check prints about the yardstick of RKNN's float16 (pt2caffe.check.rknn_route)."""
    if "reason" in route:
        return [route["reason"]]
    return [f"RKNN on the model's ONNX: output {blob} rel {error:.1e} (the Caffe route passes within "
            f"{ROUTE_FACTOR}× that)" for blob, error in route["onnx_route"].items()]


def onnxruntime_lines(outcome: dict) -> list[str]:
    """What check prints about the comparison with onnxruntime: one line per output."""
    lines = []
    for row in outcome["outputs"]:
        caffe = "not returned" if row["caffe"] is None else f"rel {row['caffe']['rel']:.1e}"
        verdict = "ok" if row["ok"] else "FAIL"
        lines.append(f"onnxruntime output '{row['output']}': caffe {caffe}, front end rel "
                     f"{row['front_end']['rel']:.1e}: {verdict}")
    return lines
