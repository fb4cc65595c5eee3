"""Canonical names of torch calls: ``F.max_pool2d``, ``Tensor.__iadd__``, ``torch.add`` → "max_pool2d",
"add", "add", and which calls the recorder ignores, folds or notes (pt2caffe.frontends.torch.recorder).
"""
from __future__ import annotations

from typing import Callable

import torch

_DUNDER_NAMES = {
    "__add__": "add", "__iadd__": "add", "__radd__": "radd",
    "__sub__": "sub", "__isub__": "sub", "__rsub__": "rsub",
    "__mul__": "mul", "__imul__": "mul", "__rmul__": "rmul",
    "__truediv__": "div", "__itruediv__": "div", "__rtruediv__": "rdiv",
    "__div__": "div", "__rdiv__": "rdiv",
    "__pow__": "pow", "__ipow__": "pow", "__rpow__": "rpow",
    "__neg__": "neg", "__abs__": "abs", "__getitem__": "getitem", "__eq__": "eq", "__ne__": "ne",
    "__lt__": "lt", "__le__": "le", "__gt__": "gt", "__ge__": "ge",
    "__setitem__": "setitem", "__matmul__": "matmul", "__rmatmul__": "rmatmul",
}
_SYNONYMS = {
    "true_divide": "div", "divide": "div", "multiply": "mul", "subtract": "sub",
    "negative": "neg", "absolute": "abs", "concat": "cat", "concatenate": "cat",
    "_max_pool2d": "max_pool2d", "max_pool2d_with_indices": "max_pool2d",
    "_max_pool3d": "max_pool3d", "max_pool3d_with_indices": "max_pool3d",
    "clip": "clamp", "hard_sigmoid": "hardsigmoid", "half": "to", "bfloat16": "to", "double": "to",
}
# Calls that only read metadata or return their input unchanged.
IGNORED = {"dim", "size", "numel", "__len__", "__format__", "__repr__", "__hash__", "_set_grad_enabled",
           "is_floating_point", "is_contiguous", "stride", "storage_offset", "data_ptr", "element_size",
           "__iter__", "requires_grad_", "register_hook"}
# Calls whose result depends only on a traced tensor's shape (fixed at trace time): constants.
SHAPE_ONLY = {"zeros_like", "ones_like", "full_like", "empty_like", "new_zeros", "new_ones", "new_full", "new_empty",
              "new_tensor"}
# Calls that turn a traced tensor's values into Python data: whatever the model does with them is
# fixed at the example input's values.
DATA_READS = {"item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "__array__"}

# id → (the callable, its public name). The callable is kept so that its id cannot be reused by a
# short-lived object (a bound method, a property's __get__) and so that a hit can be verified.
_name_cache: dict[int, tuple[Callable, str]] = {}


def _build_name_cache() -> None:
    import torch.nn.functional as F

    for namespace in (torch.Tensor, torch, F, torch._C._nn, torch._C._VariableFunctions):
        for attr in dir(namespace):
            obj = getattr(namespace, attr, None)
            if callable(obj):
                _name_cache.setdefault(id(obj), (obj, attr))


def _raw_name(func: Callable) -> str:
    if not _name_cache:
        _build_name_cache()
    cached = _name_cache.get(id(func))
    if cached is not None and cached[0] is func:
        return cached[1]
    return getattr(func, "__name__", repr(func))


_IN_PLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__setitem__"}


def _is_in_place_method(name: str) -> bool:
    """``relu_``, ``add_``: torch's spelling of an in-place variant."""
    return name.endswith("_") and not name.startswith("_")


def writes_in_place(func: Callable) -> bool:
    """``x.relu_()``, ``x += y``, ``x[i] = y``: the first argument's storage is changed."""
    name = _raw_name(func)
    return _is_in_place_method(name) or name in _IN_PLACE_DUNDERS


def canonical_name(func: Callable) -> str:
    """``F.max_pool2d``, ``Tensor.__iadd__``, ``torch.add`` → "max_pool2d", "add", "add"."""
    name = _raw_name(func)
    if name == "__get__":  # a tensor property: x.T, x.mT, x.data ...
        return "attr_" + getattr(getattr(func, "__self__", None), "__name__", "unknown")
    if name in _DUNDER_NAMES:
        return _DUNDER_NAMES[name]
    if _is_in_place_method(name):
        name = name[:-1]  # in-place variant: same maths, new value
    return _SYNONYMS.get(name, name)

