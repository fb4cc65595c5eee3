"""Load the user's model file, weights and input shapes, with one-line errors that say where."""
from __future__ import annotations

import importlib.util
import operator
import os
import sys
import traceback

import torch
from torch import nn

from .errors import Pt2CaffeError
from .tracer import recording_module_sites, traceback_user_line

_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")


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
        with recording_module_sites():
            spec.loader.exec_module(module)
    except Exception as error:  # the user's file: report where it failed
        raise Pt2CaffeError(f"{path} failed to import at {traceback_user_line(error, path)}: "
                            f"{type(error).__name__}: {error}", traceback.format_exc()) from None
    finally:
        sys.path.remove(directory)
    return module


def build_model(module, path: str, entry: str) -> nn.Module:
    factory = getattr(module, entry, None)
    if not callable(factory):
        raise Pt2CaffeError(f"{path} has no function {entry}() (choose another with --entry)")
    try:
        with recording_module_sites():
            model = factory()
    except Exception as error:
        raise Pt2CaffeError(f"{entry}() in {path} failed at {traceback_user_line(error)}: {type(error).__name__}: {error}",
                            traceback.format_exc()) from None
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


def load_weights(path: str, *, unsafe_pickle: bool = False) -> dict:
    """A state_dict from WEIGHTS.pth: loaded with ``weights_only=True`` unless the user opts out."""
    if not os.path.isfile(path):
        raise Pt2CaffeError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        hint = "" if unsafe_pickle else " (a whole pickled model needs --unsafe-pickle, only for files you trust)"
        raise Pt2CaffeError(f"cannot load weights {path}: {first_line}{hint}", str(error)) from None
    return _strip_prefix(_state_dict_of(obj, path), "module.")


def _listing(keys) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:6])
    return shown + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def apply_weights(model: nn.Module, state: dict, path: str, *, strict: bool = True) -> None:
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


def _positive_shape(dims) -> tuple[int, ...] | None:
    """``dims`` as a shape if it is a non-empty sequence of positive integers, else None."""
    try:
        shape = tuple(operator.index(d) for d in dims)
    except TypeError:
        return None
    return shape if shape and all(d > 0 for d in shape) else None


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = _positive_shape([int(part) for part in text.replace("x", ",").split(",") if part.strip()])
    except ValueError:
        shape = None
    if shape is None:
        raise Pt2CaffeError(f"bad --input-shape {text!r}: expected positive integers like 1,3,224,224")
    return shape


def _declared_shape(value, name: str, path: str) -> tuple[int, ...]:
    shape = _positive_shape(value)
    if shape is None:
        raise Pt2CaffeError(f"bad {name} in {path}: expected positive integers like (1, 3, 224, 224), got {value!r}")
    return shape


def input_shapes(module, path: str, given: list[str] | None) -> list[tuple[int, ...]]:
    """--input-shape (repeated), else INPUT_SHAPES / INPUT_SHAPE from MODEL.py."""
    if given:
        return [parse_shape(text) for text in given]
    if hasattr(module, "INPUT_SHAPES"):
        shapes = module.INPUT_SHAPES
        if not isinstance(shapes, (list, tuple)) or not shapes:
            raise Pt2CaffeError(f"bad INPUT_SHAPES in {path}: expected a list of shapes like "
                                f"[(1, 3, 224, 224), (1, 10)], got {shapes!r}")
        return [_declared_shape(shape, f"INPUT_SHAPES[{i}]", path) for i, shape in enumerate(shapes)]
    if hasattr(module, "INPUT_SHAPE"):
        return [_declared_shape(module.INPUT_SHAPE, "INPUT_SHAPE", path)]
    raise Pt2CaffeError(f"no input shape: pass --input-shape N,C,H,W or define INPUT_SHAPE in {path}")


def random_inputs(shapes: list[tuple[int, ...]], seed: int = 0) -> list[torch.Tensor]:
    """Deterministic non-zero inputs in [-1, 1]."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.rand(shape, generator=generator) * 2 - 1 for shape in shapes]


def load(model_path: str, weights_path: str | None, *, entry: str = "build_model",
         shapes: list[str] | None = None, unsafe_pickle: bool = False, strict: bool = True):
    """The model with its weights and its input shapes, as the CLI and ``check`` need them."""
    module = load_module(model_path)
    model = build_model(module, model_path, entry)
    if weights_path is not None:
        apply_weights(model, load_weights(weights_path, unsafe_pickle=unsafe_pickle), weights_path, strict=strict)
    return model.eval(), input_shapes(module, model_path, shapes)
