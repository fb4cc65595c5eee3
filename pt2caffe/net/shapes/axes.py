"""Layers that move, join, cut or drop axes: Reshape, Flatten, Permute, Concat, Slice, Split, Crop, Tile,
Reduction, ArgMax, InnerProduct, BatchReindex.

Sources (stock SSD Caffe, src/caffe/layers/): reshape_layer.cpp, flatten_layer.cpp, permute_layer.cpp,
concat_layer.cpp, slice_layer.cpp, split_layer.cpp, crop_layer.cpp, tile_layer.cpp, reduction_layer.cpp,
argmax_layer.cpp, inner_product_layer.cpp, batch_reindex_layer.cpp (each layer's LayerSetUp and Reshape).
"""
from __future__ import annotations

from .rules import Out, canonical, check, count, rule


@rule("Reshape")
def reshape(p, bottoms):
    """reshape_param.shape replaces axes [axis, axis + num_axes); 0 copies the bottom's extent at that
    position, one −1 takes what is left; the count must not change."""
    r, shape = p.reshape_param, bottoms[0]
    dims = list(r.shape.dim)
    check(dims.count(-1) <= 1, "new shape contains multiple -1 dims; at most a single (1) value of -1 may be specified")
    start = r.axis if r.axis >= 0 else len(shape) + r.axis + 1
    check(0 <= start <= len(shape), f"axis {r.axis} out of range for {len(shape)}-D input blob")
    check(r.num_axes >= -1, "num_axes must be >= 0, or -1 for all")
    end = len(shape) if r.num_axes == -1 else start + r.num_axes
    check(end <= len(shape), "end_axis = axis + num_axes is out of range")
    top = list(shape[:start]) + dims + list(shape[end:])
    for i, dim in enumerate(dims):
        if dim == 0:
            check(start + i < len(shape), "new shape contains a 0, but there was no corresponding bottom axis to copy")
            top[start + i] = shape[start + i]
    if -1 in dims:
        known = count([d for d in top if d != -1])
        check(known != 0 and count(shape) % known == 0,
              f"bottom count ({count(shape)}) must be divisible by the product of the specified dimensions ({known})")
        top[start + dims.index(-1)] = count(shape) // known
    check(all(d >= 0 for d in top), f"negative extent in the new shape {top}")
    check(count(top) == count(shape), f"output count must match input count: {list(shape)} → {top}")
    return [tuple(top)]


@rule("Flatten")
def flatten(p, bottoms):
    """Axes axis … end_axis (inclusive) become one."""
    shape = bottoms[0]
    start, end = canonical(shape, p.flatten_param.axis), canonical(shape, p.flatten_param.end_axis)
    return [tuple(shape[:start]) + (count(shape, start, end + 1),) + tuple(shape[end + 1:])]


@rule("Permute")
def permute(p, bottoms):
    """Axes in ``order``, the unnamed ones after them in their order."""
    shape, order = bottoms[0], list(p.permute_param.order)
    check(all(axis < len(shape) for axis in order), "order should be less than the input dimension")
    check(len(set(order)) == len(order), "there are duplicate orders")
    order += [axis for axis in range(len(shape)) if axis not in order]
    check(len(order) == len(shape), f"order {order} does not name the {len(shape)} axes")
    return [tuple(shape[axis] for axis in order)]


def _axis_or_dim(param, field: str, shape) -> int:
    check(not (param.HasField("axis") and param.HasField(field)),
          f"either axis or {field} should be specified; not both")
    if param.HasField(field):
        axis = getattr(param, field)
        check(axis < len(shape), f"{field} out of range")
        return axis
    return canonical(shape, param.axis)


@rule("Concat")
def concat(p, bottoms):
    """Same rank, same extents but along the axis, which adds up."""
    axis = _axis_or_dim(p.concat_param, "concat_dim", bottoms[0])
    for other in bottoms[1:]:
        check(len(other) == len(bottoms[0]), "all inputs must have the same #axes")
        check(all(a == b for i, (a, b) in enumerate(zip(other, bottoms[0])) if i != axis),
              f"all inputs must have the same shape, except at concat_axis: {[list(b) for b in bottoms]}")
    top = list(bottoms[0])
    top[axis] = sum(b[axis] for b in bottoms)
    return [tuple(top)]


@rule("Slice")
def slice_(p, bottoms):
    """Parts between increasing slice points, or equal parts when there are none."""
    shape, points = bottoms[0], list(p.slice_param.slice_point)
    axis = _axis_or_dim(p.slice_param, "slice_dim", shape)
    tops = len(p.top)
    if points:
        check(len(points) == tops - 1, f"{len(points)} slice points for {tops} tops")
        check(tops <= shape[axis], f"{tops} tops from an axis of {shape[axis]}")
        check(all(b > a for a, b in zip([0] + points, points)), f"slice points {points} must increase from above 0")
        sizes = [b - a for a, b in zip([0] + points, points + [shape[axis]])]
    else:
        check(shape[axis] % tops == 0, f"number of top blobs ({tops}) should evenly divide input slice axis "
                                       f"({shape[axis]})")
        sizes = [shape[axis] // tops] * tops
    result = [tuple(shape[:axis]) + (size,) + tuple(shape[axis + 1:]) for size in sizes]
    check(all(size >= 0 for size in sizes) and sum(sizes) == shape[axis], f"slice points {points} past the axis "
                                                                          f"of {shape[axis]}")
    return result


@rule("Split")
def split(p, bottoms):
    return [bottoms[0]] * len(p.top)


@rule("Silence")
def silence(p, bottoms):
    return []


@rule("Crop")
def crop(p, bottoms):
    """Axes from ``axis`` on take the second bottom's extents, each within the first's after its offset."""
    c, data, like = p.crop_param, bottoms[0], bottoms[1]
    start = canonical(data, c.axis)
    offsets = list(c.offset)
    if len(offsets) > 1:
        check(start + len(offsets) == len(data), "number of offset values specified must be equal to the number of "
                                                 "dimensions following axis")
    top = list(data)
    for i in range(start, len(data)):
        check(i < len(like), f"the size blob {list(like)} has no axis {i}")
        offset = offsets[0] if len(offsets) == 1 else offsets[i - start] if offsets else 0
        check(data[i] - offset >= like[i], f"the crop for dimension {i} is out-of-bounds with size {like[i]} and "
                                           f"offset {offset} (input {list(data)})")
        top[i] = like[i]
    return [tuple(top)]


@rule("Tile")
def tile(p, bottoms):
    t, shape = p.tile_param, bottoms[0]
    axis = canonical(shape, t.axis)
    check(t.HasField("tiles"), "number of tiles must be specified")
    check(t.tiles > 0, "number of tiles must be positive")
    return [tuple(shape[:axis]) + (shape[axis] * t.tiles,) + tuple(shape[axis + 1:])]


@rule("Reduction")
def reduction(p, bottoms):
    """Every axis from ``axis`` on is reduced away."""
    shape = bottoms[0]
    return [tuple(shape[:canonical(shape, p.reduction_param.axis)])]


@rule("ArgMax")
def argmax(p, bottoms):
    """With ``axis``: that extent becomes top_k. Without: (N, 1 or 2 with out_max_val, top_k, 1…) of rank ≥ 3."""
    a, shape = p.argmax_param, bottoms[0]
    check(a.top_k >= 1, "top k must not be less than 1")
    if a.HasField("axis"):
        axis = canonical(shape, a.axis)
        check(a.top_k <= shape[axis], "top_k must be less than or equal to the dimension of the axis")
        return [tuple(shape[:axis]) + (a.top_k,) + tuple(shape[axis + 1:])]
    check(a.top_k <= count(shape, 1), "top_k must be less than or equal to the dimension of the flattened bottom blob "
                                      "per instance")
    top = [1] * max(len(shape), 3)
    top[0], top[1], top[2] = shape[0], 2 if a.out_max_val else 1, a.top_k
    return [tuple(top)]


@rule("InnerProduct")
def inner_product(p, bottoms):
    """Axes from ``axis`` flatten into K; the top keeps the axes before it and ends in num_output.
    Weights (num_output, K), or (K, num_output) with transpose; bias (num_output)."""
    ip, shape = p.inner_product_param, bottoms[0]
    axis = canonical(shape, ip.axis)
    k = count(shape, axis)
    weight = (k, ip.num_output) if ip.transpose else (ip.num_output, k)
    return Out([tuple(shape[:axis]) + (ip.num_output,)], [weight] + ([(ip.num_output,)] if ip.bias_term else []))


@rule("BatchReindex")
def batch_reindex(p, bottoms):
    check(len(bottoms[1]) == 1, f"the index blob must be 1-D, got {list(bottoms[1])}")
    return [(bottoms[1][0],) + tuple(bottoms[0][1:])]
