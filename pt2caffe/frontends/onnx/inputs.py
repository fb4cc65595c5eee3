"""The model's inputs: names, declared dims (symbolic ones need ``--input-shape``), and the shapes to trace at."""
from __future__ import annotations

from dataclasses import dataclass

import onnx

from ...errors import Pt2CaffeError, short
from ..torch.shapes import parse_shape


@dataclass
class InputSpec:
    """One graph input that is not an initializer: its name and dims (an int, or the symbolic name or
    "?" of an unknown dim), and whether its element type is a float type."""

    name: str
    dims: list
    floating: bool

    @property
    def symbolic(self) -> list[int]:
        return [axis for axis, dim in enumerate(self.dims) if not isinstance(dim, int)]


_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}


TORCH_OPTIONS = (("unsafe_pickle", "--unsafe-pickle"), ("non_strict", "--non-strict"))


def refuse_torch_options(args, command: str, options=TORCH_OPTIONS) -> None:
    """One line for the first of ``options`` ((attribute, how the user wrote it)) set in ``args``: they load
    PyTorch checkpoints, and an ONNX file holds its own weights. Raises Pt2CaffeError."""
    for option, text in options:
        if getattr(args, option, None):
            raise Pt2CaffeError(f"{text} is for PyTorch models: {command} MODEL.onnx takes none")


def input_specs(model: onnx.ModelProto) -> list[InputSpec]:
    """The graph inputs that are not initializers (IR < 4 files list initializers among the inputs too)."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    specs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims = [dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else (dim.dim_param or "?")
                for dim in tensor.shape.dim]
        specs.append(InputSpec(value.name, dims, tensor.elem_type in _FLOATS))
    return specs


def _split(text: str) -> tuple[str | None, str]:
    """``NAME=1,3,224,224`` → (NAME, dims); ``1,3,224,224`` → (None, dims). The name is what precedes the
    last ``=`` (ONNX names may hold any character)."""
    name, equal, dims = text.rpartition("=")
    return (name, dims) if equal else (None, text)


def shapes_to_trace(path: str, specs: list[InputSpec], given: list[str] | None) -> list[tuple[int, ...]]:
    """One shape per input: ``given`` (``--input-shape``, positional in the inputs' order, or NAME=dims),
    else the declared dims. Raises Pt2CaffeError naming each input whose dims are symbolic and not given,
    a given shape whose rank or fixed dims disagree with the declaration, and non-float inputs."""
    for spec in specs:
        if not spec.floating:
            raise Pt2CaffeError(f"{path}: input {short(spec.name)} is not a float tensor; pt2caffe exports nets "
                                "with float inputs (images, features, sequences)")
    chosen: dict[str, tuple[int, ...]] = {}
    for position, text in enumerate(given or []):
        name, dims = _split(text)
        if name is None and position >= len(specs):
            raise Pt2CaffeError(f"{len(given)} --input-shape values for a model with {len(specs)} inputs")
        spec = specs[position] if name is None else next((s for s in specs if s.name == name), None)
        if spec is None:
            raise Pt2CaffeError(f"--input-shape {short(text)}: the model has no input {short(name)} "
                                f"(inputs: {', '.join(s.name for s in specs)})")
        chosen[spec.name] = _agreeing(path, spec, parse_shape(dims))
    missing = [spec for spec in specs if spec.name not in chosen and spec.symbolic]
    if missing:
        listing = "; ".join(f"{spec.name} [{', '.join(str(d) for d in spec.dims)}]" for spec in missing)
        raise Pt2CaffeError(f"{path} has symbolic input dims ({listing}): give the size to export for with "
                            f"--input-shape {'NAME=N,C,H,W' if len(specs) > 1 else 'N,C,H,W'}")
    return [chosen.get(spec.name) or tuple(spec.dims) for spec in specs]


def _agreeing(path: str, spec: InputSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    if spec.dims and (len(shape) != len(spec.dims) or any(isinstance(d, int) and d != s for d, s in zip(spec.dims, shape))):
        raise Pt2CaffeError(f"--input-shape {','.join(map(str, shape))} does not fit input {short(spec.name)} of "
                            f"{path}, declared [{', '.join(str(d) for d in spec.dims)}]")
    return shape
