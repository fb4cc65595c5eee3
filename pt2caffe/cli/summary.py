"""What ``run`` prints and how it names files, for PyTorch and ONNX models alike."""
from __future__ import annotations

import os

from ..console import Progress, print_note
from ..errors import Pt2CaffeError, short
from ..net.sizes import InputSizes


def check_name(name: str) -> str:
    """``--name`` is a file name in OUTDIR (and the net's name): no directory part, nothing hidden or special."""
    if not name or name.startswith(".") or any(character in name for character in "/\\\0"):
        raise Pt2CaffeError(f"--name {short(name)} must be a plain file name (no '/', '\\', leading '.' or '..'): "
                            "the files go to OUTDIR, chosen with -o")
    return name


def check_outdir(outdir: str) -> str:
    """-o OUTDIR is a folder or will be made as one: refused at once when it, or the nearest part of its path
    that exists, is something else (a file), before the slow loading and tracing."""
    existing = os.path.abspath(outdir)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is" if existing == os.path.abspath(outdir) else f"is inside {existing}, which is"
        raise Pt2CaffeError(f"-o {outdir} {what} not a folder: name a folder for the output files "
                            "(it is made if missing)")
    return outdir


def size_suffix(shapes: list[tuple[int, ...]]) -> str:
    """``_1x3x224x224`` (inputs joined by ``_``): what tells the nets of several sizes apart."""
    return "".join("_" + "x".join(map(str, shape)) for shape in shapes)


def cost_line(cost: dict) -> str:
    """One line of the report's "cost": bytes against the model's own, the estimated forward time per runtime."""
    mib = 1 << 20
    times = ", ".join(f"{runtime} {ms:,.1f} ms" for runtime, ms in cost["estimated_ms"].items())
    return (f"cost: weights {cost['weight_bytes'] / mib:,.1f} MiB (model parameters {cost['parameter_bytes'] / mib:,.1f} "
            f"MiB), blobs {cost['blob_bytes'] / mib:,.1f} MiB (model activations {cost['activation_bytes'] / mib:,.1f} "
            f"MiB); estimated one-thread forward: {times}")


def summarise(args, report: dict, outdir: str, prefix: str, progress: Progress) -> None:
    progress.clear()
    for output in report["outputs"]:
        origin = (f"onnx output {output['onnx']}" if output.get("onnx") else
                  f"torch output {output['torch']}" if output["torch"] else "appended output")
        print(f"{origin}: {output['shape']} -> caffe blob {output['name']}")
    print(f"{len(report['layers'])} layers, {report['parameters']:,} weight values, target {report['target']}"
          + (f", {len(report['lint'])} lint finding(s) in NAME.json" if report.get("lint") else ", lint clean"))
    print(cost_line(report["cost"]))
    for ext in ("prototxt", "caffemodel", "json"):
        print(f"wrote {os.path.join(outdir, report['files'][ext])}")
    for entry in report["input_sizes"]:
        sizes = InputSizes.from_report(entry)
        print(f"valid input sizes: {sizes.describe()}" + (f"\n  {sizes.why()}" if sizes.reasons else ""))
    for note in report["notes"]:
        print_note(note)
    if args.graph:
        from ..check.drawing import draw_report
        for path in draw_report(report, prefix, formats=args.graph_format):
            print(f"wrote {path}")
