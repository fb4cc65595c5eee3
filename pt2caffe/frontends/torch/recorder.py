"""Record one run of a PyTorch model as torch-level ops (pt2caffe.graph), folding constants.

The tracer knows torch, not Caffe. It runs the model once under a
``TorchFunctionMode`` (so functional calls, tensor methods and operators are
seen as well as modules) and records, for every call that produces a tensor
from traced tensors, the op's canonical name, its real arguments, the module
it ran in and the user's source line. Python control flow simply runs.

Tensors that do not depend on the inputs (parameters, buffers, tensors built
inside ``forward`` from constants, ``zeros_like(x)``/``x.new_zeros(...)`` and the
like, which read only x's shape, and anything computed only from those) are
folded into :class:`Const` values instead of being recorded as ops.

An index assignment ``y[i] = v`` is recorded as an op ``setitem`` whose output is
y's new value; any other traced tensor sharing y's storage (a view, the base of
a view) becomes stale and is refused where it is used afterwards, as after any
in-place write through a view.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ...errors import Pt2CaffeError
from ...graph import Const, Op, Value, leaves
from .names import DATA_READS, IGNORED, SHAPE_ONLY, canonical_name, writes_in_place
from .sources import MODULE_SITES, user_source_line


def _map(obj, fn):
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*[_map(item, fn) for item in obj])
    if isinstance(obj, tuple) and type(obj) is not tuple and hasattr(obj, "n_fields"):  # torch.return_types
        return type(obj)([_map(item, fn) for item in obj])
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(item, fn) for item in obj)
    if isinstance(obj, dict):
        return {key: _map(item, fn) for key, item in obj.items()}
    return fn(obj)


def _storage_address(tensor: torch.Tensor) -> int:
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # no storage (sparse, meta): shares with nothing we track
        return -id(tensor)


class Recorder(TorchFunctionMode):
    """The mode active while the model runs (see the module docstring); ``trace()`` reads its values,
    ops and notes afterwards. ``pre_hook``/``post_hook`` are its global module hooks."""

    def __init__(self, model: nn.Module, capture: bool, is_atomic: Callable[[nn.Module], bool],
                 substitute: dict[int, torch.Tensor] | None = None):
        super().__init__()
        self.capture = capture
        self.substitute = substitute or {}  # value index → the tensor the model gets instead (see substituted)
        self.is_atomic = is_atomic
        self.values_by_id: dict[int, Value] = {}
        self.consts_by_id: dict[int, Const] = {}
        self.keep_alive: list[torch.Tensor] = []
        self.values: list[Value] = []
        self.ops: list[Op] = []
        self.module_stack: list[tuple[str, nn.Module, bool]] = []
        self.atomic_depth = 0
        self.notes: list[str] = []
        self.stale: dict[int, str] = {}  # id of a traced tensor changed behind the trace's back → where
        self.stale_through: dict[int, set[int]] = {}  # that tensor's id → ids of the tensors written in place
        self.by_storage: dict[int, list[torch.Tensor]] = {}  # storage address → traced tensors sharing it
        self.stop_frame = None  # the tracer's frame: user lines are looked for inside the forward only
        self.module_paths = {id(module): path for path, module in model.named_modules()}
        self.leaf_names = {path for path, mod in model.named_modules() if not list(mod.children())}
        for key, tensor in list(model.named_parameters(remove_duplicate=False)) + list(
                model.named_buffers(remove_duplicate=False)):
            self.consts_by_id.setdefault(id(tensor), Const(tensor.detach(), (key,), key))
            self.keep_alive.append(tensor)

    # values ------------------------------------------------------------------
    def new_value(self, tensor: torch.Tensor, producer: Op | None) -> Value:
        value = Value(len(self.values), tuple(tensor.shape), tensor.dtype, producer,
                      tensor.detach().clone() if self.capture else None)
        self.values.append(value)
        self.values_by_id[id(tensor)] = value
        self.consts_by_id.pop(id(tensor), None)
        self.stale.pop(id(tensor), None)
        self.stale_through.pop(id(tensor), None)
        self.keep_alive.append(tensor)
        self.by_storage.setdefault(_storage_address(tensor), []).append(tensor)
        return value

    def classify(self, obj):
        """Replace a tensor argument by its Value or Const; leave other objects."""
        if not isinstance(obj, torch.Tensor):
            return obj
        if id(obj) in self.stale:
            raise Pt2CaffeError(f"a tensor changed in place at {self.stale[id(obj)]} (through a view or an "
                                f"index assignment) is used at {self.source_line()}: compute the new tensor out "
                                "of place (e.g. with torch.cat) instead")
        if id(obj) in self.values_by_id:
            return self.values_by_id[id(obj)]
        if id(obj) not in self.consts_by_id:
            self.consts_by_id[id(obj)] = Const(obj.detach())
            self.keep_alive.append(obj)
        return self.consts_by_id[id(obj)]

    def source_line(self) -> str:
        """The user's line running now inside the traced forward; else where the innermost module that
        has one was added to the model; else the user's call of the export; else "<unknown>:0"."""
        line = user_source_line(self.stop_frame)
        if line is not None:
            return line
        for _, module, _ in reversed(self.module_stack):
            if module in MODULE_SITES:
                return f"{MODULE_SITES[module]}, where the module is added to the model"
        line = user_source_line()
        return f"{line}, where the export is called" if line else "<unknown>:0"

    # module context -------------------------------------------------------------
    def current_module(self) -> tuple[str, nn.Module | None]:
        if not self.module_stack:
            return "", None
        path, module, _ = self.module_stack[-1]
        return path, module

    def name_hint(self, kind: str) -> str:
        path, _ = self.current_module()
        if path and path in self.leaf_names:
            return path
        return f"{path}.{kind}" if path else kind

    # the mode ----------------------------------------------------------------------
    def __torch_function__(self, func, _types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.atomic_depth:
            return func(*args, **kwargs)
        kind = canonical_name(func)
        if kind == "setitem" and args and isinstance(args[0], torch.Tensor):
            return self.index_assignment(func, args, kwargs)
        if writes_in_place(func) and args and isinstance(args[0], torch.Tensor):
            self.keep_old_constant(args[0])
        result = func(*args, **kwargs)
        if kind in IGNORED:
            return result
        if writes_in_place(func):
            self.mark_stale(args[0], kind)
        if kind in SHAPE_ONLY:  # zeros_like(x), x.new_zeros(n, c): only the traced shape matters
            self.fold_constant(kind, [], result)
            return result
        if not isinstance(result, torch.Tensor) and not any(isinstance(x, torch.Tensor) for x in leaves(result)):
            if kind in DATA_READS and self.reads_traced(args):
                self.notes.append(f"the model reads the values of a traced tensor ({kind}) at {self.source_line()}: "
                                  "what it does with them is fixed at the example input's values")
            return result
        if kind == "expand_as":  # only the other tensor's shape matters
            args = (args[0], tuple(args[1].shape)) + tuple(args[2:])
            kind = "expand"
        ref_args, ref_kwargs = _map(args, self.classify), _map(kwargs, self.classify)
        refs = [leaf for leaf in leaves((ref_args, ref_kwargs)) if isinstance(leaf, (Value, Const))]
        if not any(isinstance(ref, Value) for ref in refs):
            self.fold_constant(kind, refs, result)
            return result
        if self.substitute:
            result = self.substituted(result)
        self.record(kind, ref_args, ref_kwargs, result, *self.current_module())
        return result

    def substituted(self, result):
        """``result`` with the tensors whose value indices (the next ones, in record's order) ``substitute``
        names replaced, so that the rest of the model runs on them (check re-runs a model on a runtime's
        pooling indices where they differ from PyTorch's only by ties)."""
        indices = iter(range(len(self.values), len(self.values) + sum(
            isinstance(leaf, torch.Tensor) for leaf in leaves(result))))
        swapped = _map(result, lambda item: self.substitute.get(next(indices), item)
                       if isinstance(item, torch.Tensor) else item)
        return swapped if any(a is not b for a, b in zip(leaves(swapped), leaves(result))) else result

    def reads_traced(self, args) -> bool:
        return any(isinstance(x, torch.Tensor) and id(x) in self.values_by_id for x in leaves(args))

    def mark_stale(self, target, kind: str) -> None:
        """An in-place write changes every traced tensor sharing the target's storage (its base, its views,
        their siblings) behind the trace's back: those may no longer be used. The target itself gets a new
        value when the op is recorded."""
        if not isinstance(target, torch.Tensor):
            return
        where = f"{self.source_line()} ({kind})"
        for tensor in self.by_storage.get(_storage_address(target), ()):
            if tensor is not target and id(tensor) in self.values_by_id:
                self.stale[id(tensor)] = where
                self.stale_through.setdefault(id(tensor), set()).add(id(target))

    def keep_old_constant(self, target: torch.Tensor) -> None:
        """Before a constant is changed in place, earlier ops that read it keep its old values."""
        const = self.consts_by_id.get(id(target))
        if const is not None:
            const.tensor = const.tensor.clone()

    def index_assignment(self, func, args, kwargs):
        """``y[index] = v``: recorded as an op ``setitem`` whose output is y's new value.

        Tensors sharing y's storage (its base when y is a view, other views) become stale: a write
        through a view stays refused where the changed tensor is used. ``y[index] *= s`` (a write
        through the view ``y[index]``, then that view assigned back to the same place) leaves y
        consistent with the trace again.
        """
        target, index, value = args[0], args[1], args[2]
        self.forgive_write_back(target, index, value)
        ref_args = _map(tuple(args), self.classify)
        self.keep_old_constant(target)
        result = func(*args, **kwargs)
        self.mark_stale(target, "setitem")
        if not any(isinstance(ref, Value) for ref in leaves(ref_args)):  # constants only: still a constant
            self.fold_constant("setitem", [ref for ref in leaves(ref_args) if isinstance(ref, Const)], target)
            return result
        self.record("setitem", ref_args, {}, target, *self.current_module())
        return result

    def forgive_write_back(self, target: torch.Tensor, index, value) -> None:
        if id(target) not in self.stale or not isinstance(value, torch.Tensor):
            return
        if self.stale_through.get(id(target)) != {id(value)}:
            return
        view = target[index]
        if (view.data_ptr(), view.shape, view.stride()) == (value.data_ptr(), value.shape, value.stride()):
            self.stale.pop(id(target))
            self.stale_through.pop(id(target))

    def fold_constant(self, kind: str, refs: list, result) -> None:
        keys = tuple(dict.fromkeys(key for ref in refs for key in ref.keys))
        sources = ", ".join(ref.describe() for ref in refs)
        for tensor in leaves(result):
            if isinstance(tensor, torch.Tensor):
                self.consts_by_id[id(tensor)] = Const(tensor.detach(), keys, f"{kind}({sources})")
                self.keep_alive.append(tensor)

    def record(self, kind, ref_args, ref_kwargs, result, module_path, module) -> Op:
        op = Op(kind, ref_args, ref_kwargs, [], module_path, module, self.source_line(),
                self.name_hint(kind))
        for tensor in leaves(result):
            if isinstance(tensor, torch.Tensor):
                op.outputs.append(self.new_value(tensor, op))
        self.ops.append(op)
        return op

    # module hooks ---------------------------------------------------------------------
    # Registered once for all modules (torch's global hooks) while the model runs: two hooks per
    # module cost more than the lowering of a 16,000-op net. Modules outside the model are skipped.
    def pre_hook(self, module, args) -> None:
        path = self.module_paths.get(id(module))
        if path is None:
            return
        atomic = not self.atomic_depth and self.is_atomic(module)
        self.module_stack.append((path, module, atomic))
        if atomic:
            self.atomic_depth += 1

    def post_hook(self, module, args, output) -> None:
        if id(module) not in self.module_paths:
            return
        path, _, atomic = self.module_stack.pop()
        if atomic:
            self.atomic_depth -= 1
            op = self.record(f"module:{type(module).__name__}", _map(tuple(args), self.classify), {},
                             output, path, module)
            op.name = path or op.name

