"""Index blobs (pooling masks, argmax: the report's "index" rows, pt2caffe.conversion.indices) compared tie-aware.

Where two values of a pooling window (or of an argmax axis) are equal up to rounding, PyTorch and Caffe may
pick different ones: both are right (SegNet after a ReLU: an all-zero window in PyTorch, one value 3e-9 in
Caffe). A differing index is a *tie flip* when the runtime's index lies in the window (or on the axis) and
the value it picks differs from the one PyTorch picks by no more than the noise of the indexed values:
atol + rtol·max|x|, or more if the runtime's x itself differs more from PyTorch's. An index blob whose every
difference is a tie flip passes as "tie"; the blobs after it are then compared with PyTorch run again on the
runtime's indices (pt2caffe.check.torch_side.references_on_indices), so a correct export is never a bare
FAIL, while a wrong one (other values, an index outside its window) still is.
"""
from __future__ import annotations

import numpy as np

EXAMPLES = 3  # flips described in the report, per blob


def _window_values(info: dict, x: np.ndarray, indices: np.ndarray, positions: np.ndarray):
    """Per differing position: the value at each index and whether the index lies in that position's window."""
    n, c, i, j = positions.T
    height, width = x.shape[2:]
    picked = np.clip(indices[n, c, i, j].round().astype(np.int64), 0, height * width - 1)
    y, z = divmod(indices[n, c, i, j].round(), width)
    (kh, kw), (sh, sw), (ph, pw) = info["kernel"], info["stride"], info["padding"]
    inside = ((indices[n, c, i, j] == indices[n, c, i, j].round()) & (y >= np.maximum(i * sh - ph, 0))
              & (y < np.minimum(i * sh - ph + kh, height)) & (z >= np.maximum(j * sw - pw, 0))
              & (z < np.minimum(j * sw - pw + kw, width)))
    return x.reshape(x.shape[0], x.shape[1], -1)[n, c, picked], inside


def _axis_values(info: dict, x: np.ndarray, indices: np.ndarray, positions: np.ndarray):
    """As _window_values for an index along ``info["axis"]`` (or over the flattened x)."""
    if info["kind"] == "flat":
        flat = indices.reshape(-1)[positions[:, 0]] if indices.ndim else indices.reshape(1)
        picked = np.clip(flat.round().astype(np.int64), 0, x.size - 1)
        return x.reshape(-1)[picked], (flat == flat.round()) & (flat >= 0) & (flat < x.size)
    axis = info["axis"]
    full = indices if info["keepdim"] else np.expand_dims(indices, axis)
    picked = np.clip(full.round().astype(np.int64), 0, x.shape[axis] - 1)
    values = np.take_along_axis(x, picked, axis)
    keep = positions if info["keepdim"] else np.insert(positions, axis, 0, axis=1)
    at = tuple(keep.T)
    raw = full[at]
    return values[at], (raw == raw.round()) & (raw >= 0) & (raw < x.shape[axis])


def tie_flips(info: dict, x: np.ndarray, torch_indices: np.ndarray, runtime_indices: np.ndarray,
              noise: float) -> dict:
    """Where ``runtime_indices`` differs from ``torch_indices`` (both into ``x``, PyTorch's values): how many
    positions, how many of them are tie flips (index in place, picked value within ``noise`` of PyTorch's
    pick), and a few examples. Raises nothing; a malformed index counts as a real difference."""
    differ = np.argwhere(torch_indices != runtime_indices) if torch_indices.ndim else \
        np.zeros((int(torch_indices != runtime_indices), 1), dtype=np.int64)
    values = _window_values if info["kind"] == "window" else _axis_values
    ours, _ = values(info, x, torch_indices, differ)
    theirs, inside = values(info, x, runtime_indices, differ)
    tie = inside & (np.abs(theirs.astype(np.float64) - ours) <= noise)
    examples = [{"position": [int(p) for p in differ[k]],
                 "torch_index": int(torch_indices[tuple(differ[k])] if torch_indices.ndim else torch_indices),
                 "caffe_index": float(runtime_indices[tuple(differ[k])] if torch_indices.ndim else runtime_indices),
                 "torch_value": float(ours[k]), "caffe_value": float(theirs[k]), "tie": bool(tie[k])}
                for k in list(np.flatnonzero(~tie)[:1]) + list(np.flatnonzero(tie)[:EXAMPLES])]
    return {"positions": int(len(differ)), "ties": int(tie.sum()), "noise": float(noise), "examples": examples}


def judge_index_rows(results: list[dict], rows: list[dict], references: dict, values: dict, runtime: dict,
                     atol: float, rtol: float) -> list[dict]:
    """Turn the failing index rows whose every difference is a tie flip into verdict "tie" (with the flips in
    result["ties"]); return those rows. ``references``: blob → PyTorch's array; ``values``: value index →
    PyTorch's array of the indexed tensor; ``runtime``: blob → the runtime's array."""
    tied = []
    blob_of_value = {row["value"]: row["blob"] for row in rows}
    measured = {result["blob"]: result["max_abs"] for result in results if result["max_abs"] is not None}
    for result, row in zip(results, rows):
        info = row.get("index")
        if not info or result["verdict"] != "fail" or info["of"] not in values:
            continue
        x = values[info["of"]]
        noise = max(atol + rtol * float(np.abs(x).max(initial=0.0)), measured.get(blob_of_value.get(info["of"]), 0.0))
        flips = tie_flips(info, x, references[row["blob"]], runtime[row["blob"]].reshape(references[row["blob"]].shape),
                          noise)
        result["ties"] = flips
        if flips["ties"] == flips["positions"]:
            result["verdict"] = "tie"
            tied.append(row)
    return tied
