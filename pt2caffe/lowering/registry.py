"""The op-handler registry: one handler per traced op kind.

A handler is ``handler(op, ctx) -> Blob | list[Blob]``: it reads the traced op
(its real arguments) and emits Caffe layers through ``ctx`` (a
:class:`pt2caffe.lowering.context.OpContext`), returning the blob(s) that hold the
op's output(s). A new op is one new handler in its family's module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass
class Handler:
    kind: str
    fn: Callable
    family: str
    lowering: str  # one line for the coverage table: which Caffe layers, exact or not
    exact: bool
    portable: bool | str = True  # True: pycaffe, OpenCV and MNN all run it; else where one does not, and why


HANDLERS: dict[str, Handler] = {}
ATOMIC_MODULES: dict[str, Callable[[nn.Module], bool]] = {}


def handles(*kinds: str, lowering: str, exact: bool = True, portable: bool | str = True):
    """Register the decorated function for the given canonical op kinds.

    ``portable``: True when every net the lowering writes runs in stock pycaffe, OpenCV dnn 4.14 and
    MNN 3.6.1 (the op-family tests run all three and reject the forms in tests/portability.py);
    otherwise one line naming the cases a runtime cannot run and why.
    """

    def register(fn):
        family = fn.__module__.rsplit(".", 1)[-1]
        for kind in kinds:
            if kind in HANDLERS:
                raise RuntimeError(f"two handlers for op {kind!r}")
            HANDLERS[kind] = Handler(kind, fn, family, lowering, exact, portable)
        return fn

    return register


def handles_module(class_name: str, matches: Callable[[nn.Module], bool], *, lowering: str, exact: bool = True,
                   portable: bool | str = True):
    """Register a handler for a whole module, traced as one op ``module:<class_name>``.

    ``matches`` confirms the module really is what the handler expects (its
    attributes and parameters), since a class name alone proves nothing.
    """

    def register(fn):
        ATOMIC_MODULES[class_name] = matches
        return handles(f"module:{class_name}", lowering=lowering, exact=exact, portable=portable)(fn)

    return register


def is_atomic(module: nn.Module) -> bool:
    matches = ATOMIC_MODULES.get(type(module).__name__)
    return bool(matches and matches(module))
