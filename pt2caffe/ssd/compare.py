"""``check`` on an SSD export: the runtime's priors and ``detection_out`` against the PyTorch side.

The reference detections are pt2caffe.ssd.reference's decode + NMS of the traced loc and conf on
the model's own priors (its constant priors output, when forward returns one) or else the
config's. Rows are compared per image and label as sets: each reference row is matched with the
runtime row of that image and label closest to it, and must agree in score and box within
DETECTION_TOLERANCE. Matching as sets lets rows of near-tied scores come in either order (a
float32 runtime may swap them); how many were matched out of rank order is reported.

Runtime row layouts: Caffe (1, 1, K, 7), ordered by label; OpenCV the same rows ordered by score
and padded with zero rows; MNN (K, 6) rows without the image id. Padding and Caffe's
"no detection" rows (label −1) are dropped before matching.
"""
from __future__ import annotations

import numpy as np

from .priors import corners, expected_caffe_priors
from .reading import load_config
from .reference import detections

DETECTION_TOLERANCE = 1e-4
PRIOR_CHECK_TOLERANCE = 1e-6
BLOBS = ("mbox_priorbox", "detection_out")


def runtime_rows(array: np.ndarray) -> np.ndarray:
    """(R, 7) detection rows from a runtime's detection_out, padding and "none" rows dropped."""
    rows = np.asarray(array, dtype=np.float64)
    rows = rows.reshape(-1, rows.shape[-1])
    if rows.shape[1] == 6:  # MNN: no image id
        rows = np.concatenate([np.zeros((len(rows), 1)), rows], 1)
    keep = (rows[:, 1] >= 0) & (rows[:, 2] > 0)
    return rows[keep]


def _gap(row: np.ndarray, other: np.ndarray) -> float:
    """Score difference, or box difference relative to max(1, |coordinate|) (float32 boxes far off the image)."""
    boxes = np.abs(row[3:] - other[3:]) / np.maximum(1.0, np.abs(row[3:]))
    return max(abs(row[2] - other[2]), float(boxes.max()))


def _on_edge(row, edges: dict) -> bool:
    scores = edges.get((row[0], row[1]), ())
    return len(scores) > 0 and float(np.abs(np.asarray(scores) - row[2]).min()) <= DETECTION_TOLERANCE


def match(reference: np.ndarray, got: np.ndarray, edges: dict | None = None) -> dict:
    """Match rows per (image, label) as sets; the largest score and box differences and what is left over.

    Rows left over whose score is on a knife edge (``edges``, see reference.detections) are counted
    apart: which of them a runtime keeps depends on rounding, not on the export.
    """
    edges = edges or {}
    used = np.zeros(len(got), bool)
    worst_score = worst_box = 0.0
    unmatched, out_of_order = [], 0
    for image, label in sorted({(r[0], r[1]) for r in reference}):
        mine = np.flatnonzero((got[:, 0] == image) & (got[:, 1] == label))
        theirs = reference[(reference[:, 0] == image) & (reference[:, 1] == label)]
        by_score = mine[np.argsort(-got[mine, 2], kind="stable")]
        for rank, row in enumerate(theirs):
            free = [j for j in mine if not used[j]]
            gaps = [_gap(row, got[j]) for j in free]
            if not gaps or min(gaps) > DETECTION_TOLERANCE:
                unmatched.append(row)
                continue
            j = free[int(np.argmin(gaps))]
            used[j] = True
            out_of_order += rank < len(by_score) and j != by_score[rank]
            worst_score = max(worst_score, abs(got[j, 2] - row[2]))
            worst_box = max(worst_box, _gap(np.r_[row[:2], got[j, 2], row[3:]], got[j]))
    extra = [row for row in got[~used]]
    edge = [row for row in unmatched + extra if _on_edge(row, edges)]
    return {"rows": len(reference), "runtime_rows": len(got), "max_score_diff": worst_score,
            "max_box_diff": worst_box, "on_knife_edge": len(edge),
            "unmatched_reference": [list(map(float, r)) for r in unmatched if not _on_edge(r, edges)],
            "extra_runtime": [list(map(float, r)) for r in extra if not _on_edge(r, edges)],
            "out_of_order": int(out_of_order)}


def reference_priors(config, torch_priors: np.ndarray | None) -> np.ndarray:
    """The corner priors the net must hold: the model's own (center form) if forward returned them."""
    if torch_priors is not None:
        return corners(np.asarray(torch_priors, dtype=np.float64))
    return expected_caffe_priors(config)


def compare(ssd: dict, references: dict, runtime: dict, torch_priors: np.ndarray | None) -> dict:
    """Priors and detections of one runtime run; ``ok`` when both agree (see the module docstring)."""
    config = load_config(ssd["config"])
    config.num_classes = ssd["num_classes"]
    priors = reference_priors(config, torch_priors)
    got = np.asarray(runtime["mbox_priorbox"], dtype=np.float64).reshape(2, -1)
    prior_diff = float(np.abs(got[0] - priors.reshape(-1)).max())
    variances = np.tile(np.repeat(config.variance, 2), config.prior_count)
    variance_diff = float(np.abs(got[1] - variances).max())
    expected, edges = detections(references[ssd["loc"]], references[ssd["conf"]], priors, config.variance,
                                 ssd["num_classes"], ssd["detection"], DETECTION_TOLERANCE)
    result = match(expected, runtime_rows(runtime["detection_out"]), edges)
    ok = (prior_diff <= PRIOR_CHECK_TOLERANCE and variance_diff <= PRIOR_CHECK_TOLERANCE
          and not result["unmatched_reference"] and not result["extra_runtime"])
    return {"ok": ok, "prior_max_diff": prior_diff, "variance_max_diff": variance_diff, **result}


def describe(result: dict) -> list[str]:
    """The lines ``check`` prints."""
    verdict = "OK" if result["ok"] else "FAIL"
    lines = [f"SSD {verdict}: priors max|diff| {result['prior_max_diff']:.1e} (variances "
             f"{result['variance_max_diff']:.1e}); detection_out: {result['runtime_rows']} rows, PyTorch decode + NMS "
             f"{result['rows']}; scores within {result['max_score_diff']:.1e}, boxes within "
             f"{result['max_box_diff']:.1e} (rows matched per image and label as sets, "
             f"{result['out_of_order']} out of score order)"
             + (f"; {result['on_knife_edge']} rows on a knife edge (a score tied within 1e-4 with another, at the "
                "top_k cut or at conf_thresh) not compared" if result["on_knife_edge"] else "")]
    for what in ("unmatched_reference", "extra_runtime"):
        for row in result[what][:5]:
            side = "missing from the runtime" if what == "unmatched_reference" else "not in the PyTorch decode"
            lines.append(f"  {side}: image {row[0]:g} label {row[1]:g} score {row[2]:.6f} box "
                         f"[{', '.join(f'{v:.5f}' for v in row[3:])}]")
    return lines
