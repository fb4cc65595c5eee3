"""Turn one run of a PyTorch model into a graph of torch-level ops.

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

import contextlib
import os
import sys
import traceback
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.modules.module import (register_module_forward_hook, register_module_forward_pre_hook,
                                       register_module_module_registration_hook)
from torch.overrides import TorchFunctionMode

from .errors import Pt2CaffeError, one_line


@dataclass(eq=False)
class Value:
    """A tensor computed from the model inputs during the trace."""

    index: int
    shape: tuple[int, ...]
    dtype: torch.dtype
    producer: "Op | None"
    tensor: torch.Tensor | None = None  # a snapshot, kept when the trace captures


@dataclass(eq=False)
class Const:
    """A tensor that does not depend on the inputs.

    ``keys`` names the state_dict entries it was computed from (empty for
    literals), ``derivation`` says how, for the weight audit.
    """

    tensor: torch.Tensor
    keys: tuple[str, ...] = ()
    derivation: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)

    def describe(self) -> str:
        return self.derivation or (self.keys[0] if self.keys else "constant")


@dataclass(eq=False)
class Op:
    """One recorded torch-level call."""

    kind: str  # canonical name, e.g. "conv2d", "add", "module:L2Norm"
    args: tuple
    kwargs: dict
    outputs: list[Value]
    module_path: str
    module: nn.Module | None
    source: str  # "file:line" of the user's code
    name: str = ""  # unique-ish hint for Caffe names, set by the tracer

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """A call argument by position or keyword, as the user passed it."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def inputs(self) -> list[Value]:
        return [leaf for leaf in _leaves((self.args, self.kwargs)) if isinstance(leaf, Value)]

    def where(self) -> str:
        module = self.module_path or "<model>"
        return f"{module} ({self.source})"


@dataclass
class Graph:
    inputs: list[Value]
    ops: list[Op]
    outputs: list[Value]
    output_paths: list[str]  # "out[0]", "out['hm']" ... in forward's return order
    values: list[Value] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the export cannot follow (data read as Python values)


# --- canonical op names -----------------------------------------------------

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
_IGNORED = {"dim", "size", "numel", "__len__", "__format__", "__repr__", "__hash__", "_set_grad_enabled",
            "is_floating_point", "is_contiguous", "stride", "storage_offset", "data_ptr", "element_size",
            "__iter__", "requires_grad_", "register_hook"}
# Calls that turn a traced tensor's values into Python data: whatever the model does with them is
# fixed at the example input's values.
# Calls whose result depends only on a traced tensor's shape (fixed at trace time): constants.
_SHAPE_ONLY = {"zeros_like", "ones_like", "full_like", "empty_like", "new_zeros", "new_ones", "new_full", "new_empty",
               "new_tensor"}
_DATA_READS = {"item", "tolist", "numpy", "__bool__", "__int__", "__float__", "__index__", "__array__"}

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


def _writes_in_place(func: Callable) -> bool:
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


# --- helpers over nested arguments ------------------------------------------

def _leaves(obj):
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _leaves(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _leaves(item)
    else:
        yield obj


def _map(obj, fn):
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*[_map(item, fn) for item in obj])
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


_PACKAGE_DIRS = tuple(os.path.dirname(mod.__file__) + os.sep for mod in (torch, sys.modules[__package__]))
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep


def _is_user_file(filename: str) -> bool:
    return not (filename.startswith(_PACKAGE_DIRS) or filename.startswith(_STDLIB_DIR) or filename.startswith("<frozen"))


def user_source_line(stop=None) -> str | None:
    """``file:line`` of the innermost stack frame outside torch, pt2caffe and the standard library,
    looking no further out than the frame ``stop`` (the tracer's own: code outside the traced
    forward is no model source); None when there is none."""
    frame = sys._getframe(1)
    while frame is not None and frame is not stop:
        if _is_user_file(frame.f_code.co_filename):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


# Where each submodule was put into its parent (``self.conv = nn.Conv2d(...)``, ``nn.Sequential(*layers)``),
# recorded while the user's model file and build_model() run: the best user line for an op that runs
# inside torch's own modules only (a model that is an nn.Sequential has no forward of its own).
_MODULE_SITES: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def recording_module_sites():
    """Within this block, remember the user's source line that adds each module to a parent."""
    def hook(parent, name, module):
        line = user_source_line()
        if module is not None and line is not None and module not in _MODULE_SITES:
            _MODULE_SITES[module] = line

    handle = register_module_module_registration_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def traceback_user_line(error: BaseException, filename: str | None = None) -> str:
    """``file:line`` of the innermost frame of ``error``'s traceback in ``filename`` (or in user code)."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if filename and os.path.abspath(frame.filename) != os.path.abspath(filename):
            continue
        if _is_user_file(frame.filename):
            return f"{frame.filename}:{frame.lineno}"
    return filename or "<unknown>"


# --- the tracer ---------------------------------------------------------------

class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module, capture: bool, is_atomic: Callable[[nn.Module], bool]):
        super().__init__()
        self.capture = capture
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
            if module in _MODULE_SITES:
                return f"{_MODULE_SITES[module]}, where the module is added to the model"
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
        if _writes_in_place(func) and args and isinstance(args[0], torch.Tensor):
            self.keep_old_constant(args[0])
        result = func(*args, **kwargs)
        if kind in _IGNORED:
            return result
        if _writes_in_place(func):
            self.mark_stale(args[0], kind)
        if kind in _SHAPE_ONLY:  # zeros_like(x), x.new_zeros(n, c): only the traced shape matters
            self.fold_constant(kind, [], result)
            return result
        if not isinstance(result, torch.Tensor) and not any(isinstance(x, torch.Tensor) for x in _leaves(result)):
            if kind in _DATA_READS and self.reads_traced(args):
                self.notes.append(f"the model reads the values of a traced tensor ({kind}) at {self.source_line()}: "
                                  "what it does with them is fixed at the example input's values")
            return result
        if kind == "expand_as":  # only the other tensor's shape matters
            args = (args[0], tuple(args[1].shape)) + tuple(args[2:])
            kind = "expand"
        ref_args, ref_kwargs = _map(args, self.classify), _map(kwargs, self.classify)
        refs = [leaf for leaf in _leaves((ref_args, ref_kwargs)) if isinstance(leaf, (Value, Const))]
        if not any(isinstance(ref, Value) for ref in refs):
            self.fold_constant(kind, refs, result)
            return result
        self.record(kind, ref_args, ref_kwargs, result, *self.current_module())
        return result

    def reads_traced(self, args) -> bool:
        return any(isinstance(x, torch.Tensor) and id(x) in self.values_by_id for x in _leaves(args))

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
        if not any(isinstance(ref, Value) for ref in _leaves(ref_args)):  # constants only: still a constant
            self.fold_constant("setitem", [ref for ref in _leaves(ref_args) if isinstance(ref, Const)], target)
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
        for tensor in _leaves(result):
            if isinstance(tensor, torch.Tensor):
                self.consts_by_id[id(tensor)] = Const(tensor.detach(), keys, f"{kind}({sources})")
                self.keep_alive.append(tensor)

    def record(self, kind, ref_args, ref_kwargs, result, module_path, module) -> Op:
        op = Op(kind, ref_args, ref_kwargs, [], module_path, module, self.source_line(),
                self.name_hint(kind))
        for tensor in _leaves(result):
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


def _input_tensors(example_inputs) -> list[torch.Tensor]:
    if isinstance(example_inputs, torch.Tensor):
        return [example_inputs]
    return list(example_inputs)


def _flatten_outputs(obj, path: str, found: list[tuple[str, Any]]) -> None:
    if isinstance(obj, dict):
        for key, item in obj.items():
            _flatten_outputs(item, f"{path}[{key!r}]", found)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _flatten_outputs(item, f"{path}[{i}]", found)
    else:
        found.append((path, obj))


def _output_value(recorder: _Recorder, path: str, obj) -> Value:
    """The traced value of one model output; a constant output (SSD priors) becomes a "constant" op."""
    if not isinstance(obj, torch.Tensor):
        raise Pt2CaffeError(f"model output {path} is a {type(obj).__name__}, not a tensor; "
                            "only tensors can be exported")
    if id(obj) in recorder.values_by_id or id(obj) in recorder.stale:
        return recorder.classify(obj)  # its Value (or the error for a tensor changed behind the trace)
    op = recorder.record("constant", (recorder.classify(obj),), {}, obj.clone(), "", None)
    op.source, op.name = f"<constant model output {path}>", "constant_output"
    return op.outputs[0]


def trace(model: nn.Module, example_inputs, *, capture: bool = False,
          is_atomic: Callable[[nn.Module], bool] = lambda module: False) -> Graph:
    """Run ``model`` once on ``example_inputs`` and return the recorded graph.

    ``capture`` keeps a copy of every traced tensor (for comparisons);
    ``is_atomic`` names modules recorded as one op (``module:ClassName``)
    instead of the ops inside them.
    """
    model.eval()
    recorder = _Recorder(model, capture, is_atomic)
    inputs = [tensor.detach().clone() for tensor in _input_tensors(example_inputs)]
    handles = [register_module_forward_pre_hook(recorder.pre_hook), register_module_forward_hook(recorder.post_hook)]
    try:
        input_values = [recorder.new_value(tensor, None) for tensor in inputs]
        recorder.stop_frame = sys._getframe()
        with torch.no_grad(), recorder:
            result = model(*inputs)
    except Pt2CaffeError:
        raise
    except SystemExit as stop:  # sys.exit() in forward must not end pt2caffe (with exit code 0, even)
        raise Pt2CaffeError(f"the model called sys.exit() at {traceback_user_line(stop)} while tracing",
                            traceback.format_exc()) from None
    except Exception as error:  # the user's forward failed: say where
        raise Pt2CaffeError(f"the model raised {type(error).__name__} at {traceback_user_line(error)} while "
                            f"tracing: {one_line(str(error), 500)}", traceback.format_exc()) from None
    finally:
        for handle in handles:
            handle.remove()
    found: list[tuple[str, Any]] = []
    _flatten_outputs(result, "out", found)
    outputs = [_output_value(recorder, path, obj) for path, obj in found]
    return Graph(input_values, recorder.ops, outputs, [p for p, _ in found], recorder.values, recorder.notes)
