"""From the blobs of the net pt2caffe writes for a model back to the model's state_dict.

The lowering turns parameters into blobs by gathers (reshape, transpose, slices, repeated or reordered
rows, negated or reciprocal constants) and, for recurrent biases, sums of two keys. To invert any of
them without knowing each handler, the model is lowered once more with every floating-point state_dict
tensor replaced by codes 1…n (exact in float32 up to 2^24; tensors larger than that get a second pass
with the high digit): each blob element then names the element it came from. A blob from several keys
(b_ih + b_hh; W_ih with that sum as one more column) is decoded in one run per key, the other keys holding
OFFSET; an element that is a sum goes to the first key and the second gets 0 there (the forward is the
same).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import Pt2CaffeError

SPAN = (1 << 24) - 1  # codes 1..SPAN are exact float32 integers
OFFSET = 1 << 23  # the other key's constant in a run decoding a sum of two keys (codes stay < OFFSET)


@dataclass
class Gather:
    """Blob element e holds element ``index[e]`` of ``key`` (−1: from none of them; ``index`` None: the
    whole tensor in its order), through ``how``: "" (a copy), "negated" or "reciprocal" (elementwise.py
    writes x − c as x + (−c), x / c as x · (1/c))."""

    key: str
    index: np.ndarray | None
    how: str = ""


UNDO = {"": lambda v: v, "negated": lambda v: -v, "reciprocal": lambda v: 1 / v}
READ = {"": lambda a: a, "negated": lambda a: -a,
        "reciprocal": lambda a: np.round(1 / np.where(a == 0, np.inf, a))}  # 1/∞ = 0: "from no element"


def _codes(state: dict, high: bool, others: set[str]) -> dict:
    """Codes 1…n per floating-point tensor (``high``: the digit above SPAN); tensors in ``others`` hold
    OFFSET everywhere (not zero: a handler may leave out a part whose weights are all zero)."""
    coded = {}
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            coded[key] = tensor
            continue
        flat = torch.arange(tensor.numel(), dtype=torch.float64)
        code = torch.floor(flat / SPAN) + 1 if high else flat % SPAN + 1
        coded[key] = (torch.full_like(code, OFFSET) if key in others else code).reshape(tensor.shape).to(tensor.dtype)
    return coded


def _copied(weight, state: dict) -> bool:
    """A blob that is its one key's tensor as it is (ctx.weight without a transform, same size, same
    float32 values): its gather is the identity, no coded lowering needed."""
    tensor = state.get(weight.source) if weight.source and ", " not in weight.source else None
    if weight.transform is not None or tensor is None or tensor.numel() != weight.array.size:
        return False
    flat = tensor.detach().reshape(-1)
    return flat.dtype == torch.float32 and np.array_equal(flat.numpy(), weight.array.reshape(-1))


def _lowered_arrays(model, lower, state: dict) -> list[list[np.ndarray]]:
    model.load_state_dict(state)
    return [[weight.array.copy() for weight in layer.weights] for layer in lower(model).layers]


def gathers(model, lower, layers) -> dict[tuple[str, int], list[Gather]]:
    """(layer name, blob index) → one Gather per source key, for every sourced blob of ``layers``
    (the layers ``lower(model)`` wrote with the model's own weights). The model's weights are restored."""
    state = model.state_dict()
    found = {}
    for layer in layers:
        for bi, weight in enumerate(layer.weights):
            if _copied(weight, state):
                found[(layer.name, bi)] = [Gather(weight.source, None)]
    if all((layer.name, bi) in found or not weight.source for layer in layers
           for bi, weight in enumerate(layer.weights)):
        return found
    original = {key: tensor.clone() for key, tensor in state.items()}
    sources = [[weight.source.split(", ") if weight.source else [] for weight in layer.weights] for layer in layers]
    several = {keys[i] for row in sources for keys in row if len(keys) > 1 for i in range(len(keys))}
    big = any(t.is_floating_point() and t.numel() > SPAN for t in original.values())
    try:
        runs = {"": _lowered_arrays(model, lower, _codes(original, False, set()))}
        if big:
            runs["high"] = _lowered_arrays(model, lower, _codes(original, True, set()))
        for key in several:
            if original[key].numel() >= OFFSET:
                raise Pt2CaffeError(f"{key} is summed with another parameter and has {original[key].numel()} values: "
                                    f"import decodes such sums only below {OFFSET}")
            runs[key] = _lowered_arrays(model, lower, _codes(original, False, several - {key}))
    finally:
        model.load_state_dict(original)
    for li, layer in enumerate(layers):
        for bi, keys in enumerate(sources[li]):
            if not keys or (layer.name, bi) in found:
                continue
            if any(len(arrays) != len(layers) or len(arrays[li]) != len(layer.weights) for arrays in runs.values()):
                raise Pt2CaffeError(f"the model lowers differently with other weights (at {layer.name}): "
                                    "its structure depends on its weight values, which import cannot invert")
            found[(layer.name, bi)] = [_decode(runs, key if len(keys) > 1 else "", li, bi, key, big, layer.name)
                                       for key in keys]
    return found


def _decode(runs, run, li, bi, key, big, name) -> Gather:
    coded = runs[run][li][bi].astype(np.float64)
    if run:  # decoding one key of a sum: take the other keys' OFFSETs away (codes are below OFFSET)
        if (np.abs(coded) > 2 * OFFSET).any():
            raise Pt2CaffeError(f"blob {bi} of {name} sums three or more parameters in one element: import decodes "
                                "sums of two")
        coded = np.sign(coded) * (np.abs(coded) % OFFSET)
    for how, read in READ.items():
        low = read(coded)
        exact = how != "reciprocal" or np.array_equal(
            np.where(low == 0, 0, 1 / np.where(low == 0, 1, low)).astype(np.float32), coded.astype(np.float32))
        if exact and np.array_equal(low, np.round(low)) and low.min(initial=0) >= 0 and low.max(initial=0) <= SPAN:
            break
    else:
        raise Pt2CaffeError(f"blob {bi} of {name} is computed from {key} in a way import cannot invert (not a copy, "
                            "negation or reciprocal of its elements)")
    index = low.astype(np.int64) - 1
    if big and run == "":
        index = np.where(index >= 0, index + (READ[how](runs["high"][li][bi].astype(np.float64)).round().astype(np.int64) - 1) * SPAN, -1)
    return Gather(key, index.reshape(-1), how)


def scatter(values: dict, found: dict, state: dict) -> tuple[dict, list[str], dict[str, str]]:
    """The state_dict with the imported blob values written through the gathers.

    Returns (state, keys never written, key → how, for keys filled from a sum). Two blob elements that
    come from one parameter element must agree (Pt2CaffeError naming both blobs otherwise)."""
    flat = {key: tensor.detach().reshape(-1).clone() for key, tensor in state.items()}
    written = {key: torch.zeros(tensor.numel(), dtype=torch.bool) for key, tensor in state.items()}
    whose = {}
    summed = {}  # key → (the key holding the sum, its elements stored only in the sum)
    for where, array in values.items():
        plan = found.get(where)
        if plan is None:
            continue
        data = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32).reshape(-1))
        if len(plan) == 1 and plan[0].index is None:
            _write_all(flat, written, whose, plan[0].key, data, where)
            continue
        taker = np.full(data.numel(), -1)  # which gather's key was given each element (the sum, when several)
        for g, gather in enumerate(plan):
            present = gather.index >= 0
            first, again = present & (taker < 0), present & (taker >= 0)
            if again.any():
                summed.setdefault(gather.key, (plan[taker[again][0]].key, []))[1].append(gather.index[again])
            part = torch.where(torch.from_numpy(first), UNDO[gather.how](data), torch.zeros(()))[torch.from_numpy(present)]
            _write(flat, written, whose, gather.key, torch.from_numpy(gather.index[present]),
                   part.to(flat[gather.key].dtype), where)
            taker[first] = g
    missing = [key for key, tensor in state.items() if tensor.is_floating_point() and not written[key].all()]
    notes = {key: _sum_note(holder, np.unique(np.concatenate(parts)), state[key].numel())
             for key, (holder, parts) in summed.items()}
    return {key: flat[key].reshape(state[key].shape) for key in state}, missing, notes


def _sum_note(holder: str, elements: np.ndarray, size: int) -> str:
    """What a key filled from a sum holds: 0 at ``elements`` (flat indices), whose sums went to ``holder``."""
    if elements.size == size:
        return f"stored in Caffe only as a sum with {holder}: 0 here, the whole sum in {holder} (same forward)"
    return (f"elements {_ranges(elements)} of {size} stored in Caffe only as a sum with {holder}: 0 there, the sum in "
            f"{holder} (same forward); the others as they were")


def _ranges(elements: np.ndarray) -> str:
    """Sorted flat indices as ``0–47, 60–63``."""
    breaks = np.flatnonzero(np.diff(elements) != 1)
    starts, ends = np.r_[elements[0], elements[breaks + 1]], np.r_[elements[breaks], elements[-1]]
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in zip(starts, ends))


def _write_all(flat, written, whose, key, data, where) -> None:
    """The whole tensor in order (the common case, without index arithmetic)."""
    if written[key].all():
        if not torch.equal(flat[key], data.to(flat[key].dtype)):
            raise Pt2CaffeError(f"{key} would get two different values: from {where[0]} and from {whose[key]} (they "
                                "should be one parameter; pair them differently with --map)")
        return
    if written[key].any():
        _write(flat, written, whose, key, torch.arange(data.numel()), data.to(flat[key].dtype), where)
        return
    flat[key] = data.to(flat[key].dtype).clone()
    written[key][:] = True
    whose[key] = where[0]


def _write(flat, written, whose, key, index, part, where) -> None:
    before = written[key][index]
    if before.any() and not torch.equal(flat[key][index][before], part[before]):
        raise Pt2CaffeError(f"{key} would get two different values: from {where[0]} and from {whose[key]} (they "
                            "should be one parameter; pair them differently with --map)")
    flat[key][index] = part
    written[key][index] = True
    whose.setdefault(key, where[0])
