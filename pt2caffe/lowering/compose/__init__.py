"""The exact compositions several op families share, one module per idea; handlers import them from here.

* :mod:`.basic`: Power, ReLU, Eltwise, clamp, Scale on any axes, and argument helpers;
* :mod:`.layout`: Reshape, Permute, Slice;
* :mod:`.broadcast`: exact copies (broadcasting, ``repeat``);
* :mod:`.matrices`: matrices applied along axes, InnerProduct over trailing axes;
* :mod:`.constants`: constant tensors as blobs (0·seed + bias);
* :mod:`.selection`: the first maximum along an axis and one-hot vectors of integer indices;
* :mod:`.channels`: a block of axes on the channels with the batch in place (Permutes);
* :mod:`.exponential`: Exp and ELU, or their values from Sigmoids where a target refuses them.
"""
from .basic import (ELTWISE_MAX, ELTWISE_PROD, ELTWISE_SUM, NATURAL_LOG, absolute, add_constant, affine, as_planes,
                    clamp, eltwise, normalize_dim, pair, power, relu, scalar_of, scale_axes, unplanes, window)
from .broadcast import broadcast_to, copy_blocks
from .constants import batch_seed, constant_blob, materialize
from .exponential import elu, exponential, log_sum_exp
from .layout import as_image, concat, keep_range, permute, reshape, reshape_any_batch, slice_parts
from .matrices import apply_axis_matrices, inner_product
from .selection import first_maximum, one_hot

__all__ = ["ELTWISE_MAX", "ELTWISE_PROD", "ELTWISE_SUM", "NATURAL_LOG", "absolute", "add_constant", "affine",
           "apply_axis_matrices", "as_image", "as_planes", "batch_seed", "broadcast_to", "clamp", "concat", "constant_blob",
           "copy_blocks", "eltwise", "elu", "exponential", "first_maximum", "inner_product", "keep_range",
           "log_sum_exp", "materialize", "normalize_dim", "one_hot", "pair", "permute", "power", "relu", "reshape",
           "reshape_any_batch", "scalar_of", "scale_axes", "slice_parts", "unplanes", "window"]
