"""Load the user's model file and weights (input shapes: pt2caffe.frontends.torch.shapes), with one-line
errors that say where."""
from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import traceback
from contextlib import contextmanager

import torch
from torch import nn

from ...errors import ANSI_ESCAPE, Pt2CaffeError, one_line, short
from .shapes import input_shapes
from .sources import recording_module_sites, traceback_user_line

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")


@contextmanager
def user_code(path: str, doing: str, failed: str, filename: str | None = None):
    """Run a piece of MODEL.py as a guest (``doing``: "importing"...; ``failed``: how an error line starts).

    ``sys.argv`` is ``[MODEL.py]`` meanwhile, so that a training script that parses its arguments at
    import time sees none of pt2caffe's; ``sys.exit()`` (SystemExit, also argparse's usage error) and
    any exception become one Pt2CaffeError naming MODEL.py and the line, never pt2caffe's exit.
    """
    saved_argv = sys.argv
    sys.argv = [path]
    try:
        yield
    except SystemExit as stop:
        raise Pt2CaffeError(f"{path} called sys.exit({short(stop.code) if stop.code is not None else ''}) while "
                            f"{doing}, at {traceback_user_line(stop, filename)}: a model file must define the model "
                            "without running a script (parse arguments and exit under "
                            "if __name__ == '__main__':)", traceback.format_exc()) from None
    except Exception as error:  # the user's file: report where it failed
        raise Pt2CaffeError(f"{failed} at {traceback_user_line(error, filename)}: "
                            f"{type(error).__name__}: {one_line(str(error), 300)}", traceback.format_exc()) from None
    finally:
        sys.argv = saved_argv


def load_module(path: str):
    """Import MODEL.py as a fresh module (its directory on sys.path, so sibling imports work)."""
    if not os.path.isfile(path):
        raise Pt2CaffeError(f"model file not found: {path}")
    directory = os.path.dirname(os.path.abspath(path))
    name = "pt2caffe_user_model_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, directory)
    try:
        with user_code(path, "importing", f"{path} failed to import", path), recording_module_sites():
            spec.loader.exec_module(module)
    finally:
        sys.path.remove(directory)
    return module


def build_model(module, path: str, entry: str) -> nn.Module:
    factory = getattr(module, entry, None)
    if not callable(factory):
        raise Pt2CaffeError(f"{path} has no function {entry}() (choose another with --entry)")
    with user_code(path, f"in {entry}()", f"{entry}() in {path} failed"), recording_module_sites():
        model = factory()
    if not isinstance(model, nn.Module):
        raise Pt2CaffeError(f"{entry}() in {path} returned {type(model).__name__}, not an nn.Module")
    return model


def _strip_prefix(state: dict, prefix: str) -> dict:
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()}
    return state


def _state_dict_of(obj, path: str) -> dict:
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in _CHECKPOINT_KEYS:
            if key in obj:
                return _state_dict_of(obj[key], f"{path}[{key!r}]")
    raise Pt2CaffeError(f"{path} holds no state_dict (looked for a dict of tensors or the keys "
                        f"{', '.join(_CHECKPOINT_KEYS)})")


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since 1.6: a zip archive
_PICKLE_PROTOCOLS = range(2, 6)  # the legacy format (and plain pickles) start with b"\x80" + protocol


def _checkpoint_format(path: str) -> str | None:
    """Why ``path`` cannot be a torch checkpoint (empty, or neither a zip archive nor a pickle), else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if not head:
        return "is empty"
    if head == _ZIP_MAGIC or (head[0] == 0x80 and len(head) > 1 and head[1] in _PICKLE_PROTOCOLS):
        return None
    return "is neither a zip archive nor a pickle (the two formats torch.save writes)"


def _weights_only_refusal(error: Exception) -> str | None:
    """The offending line of torch's weights_only refusal (a pickled class), None for other errors."""
    text = ANSI_ESCAPE.sub("", str(error))
    if not (isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in text):
        return None
    reason = next((line.strip() for line in text.splitlines() if "GLOBAL" in line or "Unsupported" in line), "")
    return reason or "it pickles objects other than tensors"


def load_weights(path: str, *, unsafe_pickle: bool = False) -> dict:
    """A state_dict from WEIGHTS.pth: loaded with ``weights_only=True`` unless the user opts out.

    A file that is not a checkpoint at all (empty, text, truncated, corrupt) is said to be so; only
    torch's refusal of a pickled class brings the --unsafe-pickle hint.
    """
    if not os.path.isfile(path):
        raise Pt2CaffeError(f"weights file not found: {path}")
    problem = _checkpoint_format(path)
    if problem:
        raise Pt2CaffeError(f"cannot load weights {path}: not a valid PyTorch checkpoint (the file {problem})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a bad file
        detail = traceback.format_exc()
        refusal = None if unsafe_pickle else _weights_only_refusal(error)
        if refusal:
            raise Pt2CaffeError(f"cannot load weights {path} with weights_only: {one_line(refusal, 300)} (a whole "
                                "pickled model needs --unsafe-pickle, only for files you trust)", detail) from None
        if isinstance(error, ModuleNotFoundError):  # the pickle names a class from a module not importable here
            raise Pt2CaffeError(f"cannot load weights {path}: the pickled model needs module {error.name!r}, which "
                                "is not importable here (run from the repository that defines it, or set "
                                "PYTHONPATH)", detail) from None
        first = next((line for line in ANSI_ESCAPE.sub("", str(error)).splitlines() if line.strip()), type(error).__name__)
        raise Pt2CaffeError(f"cannot load weights {path}: not a valid PyTorch checkpoint (truncated or corrupt?): "
                            f"{type(error).__name__}: {one_line(first, 300)}", detail) from None
    return _strip_prefix(_state_dict_of(obj, path), "module.")


def _listing(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:6])
    return shown + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def apply_weights(model: nn.Module, state: dict, path: str, *, strict: bool = True) -> list[str]:
    """Load ``state`` into ``model``: every key must match unless ``strict`` is False (--non-strict), shapes
    always. Returns notes: under --non-strict, the model's keys the file lacks, which keep the values the
    model's constructor gave them (random, unless it sets them). Raises Pt2CaffeError."""
    expected = model.state_dict()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    if strict and (missing or unexpected):
        parts = ([f"missing {_listing(missing)}"] if missing else []) + \
                ([f"unexpected {_listing(unexpected)}"] if unexpected else [])
        raise Pt2CaffeError(f"weights {path} do not match the model: {'; '.join(parts)} "
                            "(--non-strict loads the keys that match)")
    wrong = [f"{key} {list(state[key].shape)} vs model {list(expected[key].shape)}"
             for key in set(state) & set(expected) if tuple(state[key].shape) != tuple(expected[key].shape)]
    if wrong:
        raise Pt2CaffeError(f"weights {path} have wrong shapes: {'; '.join(sorted(wrong)[:4])}")
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
    if not missing:
        return []
    return [f"--non-strict: {len(missing)} of {len(expected)} model keys are not in {path} and keep the values "
            f"the model's constructor gave them (random, unless it sets them; a later run draws others): "
            f"{_listing(missing)}"]


def load(model_path: str, weights_path: str | None, *, entry: str = "build_model",
         shapes: list[str] | None = None, unsafe_pickle: bool = False, strict: bool = True):
    """The model with its weights, its input shapes, and the notes of apply_weights, as the CLI and ``check``
    need them."""
    module = load_module(model_path)
    model = build_model(module, model_path, entry)
    notes = []
    if weights_path is not None:
        notes = apply_weights(model, load_weights(weights_path, unsafe_pickle=unsafe_pickle), weights_path,
                              strict=strict)
    return model.eval(), input_shapes(module, model_path, shapes), notes
