"""The SSD head's part of ``check`` (exports made with ``--ssd``): its blobs to fetch, and priors and
detection_out against the PyTorch decode + NMS."""
from __future__ import annotations

from .run import CaffeRun
from .subject import CaffeNet
from .torch_side import TorchSide


def ssd_blobs(report: dict | None, net: CaffeNet) -> list[str]:
    """The SSD head's blobs to fetch too (an export made with --ssd)."""
    from ..ssd.compare import BLOBS

    return [blob for blob in BLOBS if report and report.get("ssd") and blob in net.producer]


def ssd_outcome(report: dict | None, torch_side: TorchSide, caffe: CaffeRun) -> dict | None:
    """Priors and detection_out against the PyTorch decode + NMS (pt2caffe.ssd.compare), for --ssd exports."""
    from ..ssd.compare import BLOBS, compare

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
    from ..ssd.compare import describe

    return [f"SSD FAIL: {ssd['error']}"] if "error" in ssd else describe(ssd)
