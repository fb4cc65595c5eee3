"""The user's source lines: where in the user's code (not torch's, not pt2caffe's, not the standard
library's) an op runs, a module is added to the model, or an error was raised.
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
import weakref

import torch
from torch import nn
from torch.nn.modules.module import register_module_module_registration_hook

# torch's and pt2caffe's own directories (the whole package, not just this front end)
_PACKAGE_DIRS = tuple(os.path.dirname(mod.__file__) + os.sep for mod in (torch, sys.modules[__name__.split(".")[0]]))
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
MODULE_SITES: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def recording_module_sites():
    """Within this block, remember the user's source line that adds each module to a parent."""
    def hook(parent, name, module):
        line = user_source_line()
        if module is not None and line is not None and module not in MODULE_SITES:
            MODULE_SITES[module] = line

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

