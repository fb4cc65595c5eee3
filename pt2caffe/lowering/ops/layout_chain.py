"""Runs of views and transposes that only reorder channels, seen as one op: ``layout_chain``.

A channel shuffle (ShuffleNet: ``x.view(N, g, C/g, H, W).transpose(1, 2).contiguous().view(N, C, H, W)``)
moves every value of channel p[c] to channel c at the same batch entry and pixel. Lowered op by op it is
a 5-D Reshape, a Permute and a Reshape, which NNIE (blobs of 4 axes, Permute (0,2,3,1) only) and ncnn
(Reshape of at most 4 axes) cannot take. :func:`fuse_layout_chains` finds such runs in the op graph,
whatever the model spells them with (view/reshape/flatten/unflatten/(un)squeeze, permute/transpose,
contiguous), by following a probe of element indices through the run: a run from a 4-D tensor to a
4-D tensor of the same shape whose result is the input with its channels permuted becomes one
``layout_chain`` op, whose handler offers the exact forms:

* the run as written, each op by its own handler (the same layers as without the fusion);
* a 1×1 Convolution whose weights are the permutation matrix (weight[c, p[c]] = 1: each output is one
  input times 1, exact);
* a Slice of the channels into the runs the permutation keeps together, and a Concat in the new order.

``ctx.choose`` takes the cheapest the target accepts (pt2caffe.lowering.choice).
"""
from __future__ import annotations

import numpy as np

from ...graph import Op, Value
from ..choice import Form
from ..compose import concat, slice_parts
from ..context import OpContext
from ..registry import HANDLERS, handles
from .shape import permute_order

RESHAPES = frozenset({"view", "reshape", "flatten", "unsqueeze", "squeeze", "unflatten"})
PERMUTES = frozenset({"permute", "transpose", "swapaxes", "t", "attr_T", "attr_mT"})
NO_OPS = frozenset({"contiguous", "clone", "detach", "alias"})
KIND = "layout_chain"


def fuse_layout_chains(ops: list[Op], outputs: list[Value]) -> list[Op]:
    """``ops`` with every run of adjacent layout ops that permutes the channels of a 4-D tensor replaced by
    one ``layout_chain`` op (args: the input value, the run's ops; the run's last output). A run's inner
    values must be read by the next op of the run only (not by other ops, not model outputs)."""
    readers: dict[int, int] = {}
    for op in ops:
        for value in op.inputs:
            readers[value.index] = readers.get(value.index, 0) + 1
    for value in outputs:
        readers[value.index] = readers.get(value.index, 0) + 1
    fused, i = [], 0
    while i < len(ops):
        length = _channel_run(ops, i, readers)
        if length:
            run = ops[i:i + length]
            first, last = run[0], run[-1]
            fused.append(Op(KIND, (first.inputs[0], tuple(run)), {}, list(last.outputs), first.module_path,
                            first.module, first.source, first.name))
            i += length
        else:
            fused.append(ops[i])
            i += 1
    return fused


def _is_layout(op: Op) -> bool:
    return op.kind in RESHAPES | PERMUTES | NO_OPS and len(op.inputs) == 1 and len(op.outputs) == 1


def _channel_run(ops: list[Op], start: int, readers: dict[int, int]) -> int:
    """The length of the longest run of layout ops from ``start`` that permutes channels (0: none)."""
    op = ops[start]
    if not _is_layout(op) or len(op.inputs[0].shape) != 4:
        return 0
    shape = tuple(op.inputs[0].shape)
    probe = np.arange(int(np.prod(shape))).reshape(shape)
    best, moved, k = 0, probe, start
    while k < len(ops) and _is_layout(ops[k]) and (k == start or ops[k].inputs[0] is ops[k - 1].outputs[0]):
        moved = _step(ops[k], moved)
        if k > start and channel_permutation(probe, moved) is not None:
            best = k - start + 1
        if readers.get(ops[k].outputs[0].index, 0) != 1:
            break
        k += 1
    return best


def _step(op: Op, probe: np.ndarray) -> np.ndarray:
    if op.kind in RESHAPES:
        return probe.reshape(op.outputs[0].shape)
    if op.kind in PERMUTES:
        return probe.transpose(permute_order(op))
    return probe


def channel_permutation(probe: np.ndarray, moved: np.ndarray) -> list[int] | None:
    """p with moved[n, c, h, w] = probe[n, p[c], h, w] for all n, h, w, when the move is such a (non-identity)
    channel permutation; else None."""
    if moved.shape != probe.shape:
        return None
    order = [int(i) for i in moved[0, :, 0, 0] // (probe.shape[2] * probe.shape[3])]
    if order == list(range(probe.shape[1])) or not np.array_equal(moved, probe[:, order]):
        return None
    return order


@handles(KIND, lowering="not a torch op: a run of views and transposes that permutes channels (a channel "
                        "shuffle), fused before lowering: as written, a 1×1 Convolution with the permutation "
                        "matrix, or Slice + Concat")
def layout_chain(op, ctx):
    x, run = op.args
    shape = tuple(x.shape)
    probe = moved = np.arange(int(np.prod(shape))).reshape(shape)
    for step in run:
        moved = _step(step, moved)
    order = channel_permutation(probe, moved)
    return ctx.choose(Form("as written", lambda ctx: _as_written(ctx, x, run)),
                      Form("permutation 1×1 Convolution", lambda ctx: _by_convolution(ctx, ctx.blob(x), order)),
                      Form("Slice + Concat", lambda ctx: _by_slices(ctx, ctx.blob(x), order)))


def _as_written(ctx, x: Value, run: tuple[Op, ...]):
    """Each op of the run by its own handler, in its own context (its own layer names)."""
    blobs = {x.index: ctx.blob(x)}
    for step in run:
        blobs[step.outputs[0].index] = HANDLERS[step.kind].fn(step, OpContext(step, ctx.builder, blobs))
    return blobs[run[-1].outputs[0].index]


def _by_convolution(ctx, x, order: list[int]):
    channels = len(order)
    matrix = np.zeros((channels, channels, 1, 1))
    matrix[np.arange(channels), order] = 1.0
    params = {"num_output": channels, "kernel_size": [1], "bias_term": False}
    return ctx.layer("Convolution", [x], {"convolution_param": params},
                     weights=[ctx.constant(matrix, "channel permutation: output c is input p[c]")])


def _by_slices(ctx, x, order: list[int]):
    """Cut the input channels where the new order breaks a run of consecutive channels; concatenate the
    pieces in the new order."""
    starts = sorted({0} | {order[k] for k in range(len(order)) if k == 0 or order[k] != order[k - 1] + 1})
    sizes = [stop - start for start, stop in zip(starts, starts[1:] + [len(order)])]
    pieces = dict(zip(starts, slice_parts(ctx, x, 1, sizes, role="pieces")))
    ordered = [pieces[order[k]] for k in range(len(order)) if k == 0 or order[k] != order[k - 1] + 1]
    return concat(ctx, ordered, 1, None)
