"""Test material no one here wrote: the backend test data the onnx package ships (light/, pytorch-converted/,
pytorch-operator/, simple/ under onnx/backend/test/data), random-initializer twins of its light models, and
torch.onnx exports of the zoo."""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import io
import os
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

BACKEND_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
SUITES = ("light", "pytorch-converted", "pytorch-operator", "simple")


@dataclasses.dataclass
class Case:
    """One backend test case: its model file, inputs (graph-input order) and expected outputs."""

    suite: str
    name: str
    path: str
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]


def case_names(suite: str) -> list[str]:
    """The cases of ``suite``: light's model names (light_NAME.onnx), else the test_* folders."""
    folder = os.path.join(BACKEND_DATA, suite)
    if suite == "light":
        return sorted(os.path.basename(p)[len("light_"):-len(".onnx")] for p in glob.glob(f"{folder}/light_*.onnx"))
    return sorted(os.path.basename(p) for p in glob.glob(f"{folder}/test_*") if os.path.isdir(p))


def load_case(suite: str, name: str) -> Case:
    """A case with its data. A light model's input is made as onnx's runner makes it (light_input); its
    expected output is stored beside the model (onnx's reference evaluator on that input)."""
    folder = os.path.join(BACKEND_DATA, suite)
    if suite == "light":
        path = os.path.join(folder, f"light_{name}.onnx")
        inputs = [light_input(value) for value in data_inputs(onnx.load(path))]
        return Case(suite, name, path, inputs, _tensors(folder, f"light_{name}_output"))
    data = os.path.join(folder, name, "test_data_set_0")
    return Case(suite, name, os.path.join(folder, name, "model.onnx"), _tensors(data, "input"),
                _tensors(data, "output"))


def _tensors(folder: str, prefix: str) -> list[np.ndarray]:
    paths = sorted(glob.glob(os.path.join(folder, f"{prefix}_*.pb")), key=lambda p: int(p.rsplit("_", 1)[1][:-3]))
    return [numpy_helper.to_array(onnx.load_tensor(path)) for path in paths]


def data_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs that are not initializers (IR 3 files list every initializer among the inputs)."""
    initializers = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in initializers]


def light_input(value: onnx.ValueInfoProto) -> np.ndarray:
    """arange(n) / n in the input's shape, float32: what onnx's backend runner feeds a light model
    (onnx/backend/test/runner/__init__.py, generate_dummy_data with random=False)."""
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim)
    count = int(np.prod(shape))
    return (np.arange(count).reshape(shape) / count).astype(np.float32)


def out_of_scope(case: Case, model: onnx.ModelProto) -> str | None:
    """Why a case is outside issue 22's scope (float32, at most 4-D, inference only), or None."""
    arrays = case.inputs + case.outputs
    if any(a.dtype != np.float32 for a in arrays):
        return "not float32: " + ", ".join(sorted({str(a.dtype) for a in arrays if a.dtype != np.float32}))
    if any(a.ndim > 4 for a in arrays):
        return f"{max(a.ndim for a in arrays)}-D tensors"
    ops = {node.op_type for node in model.graph.node}
    if "Gradient" in ops:
        return "training (Gradient)"
    if any("Sequence" in op for op in ops):
        return "sequence values"
    return None


# What a stand-in constant feeds decides how its random replacement is drawn (as tests/zoo's randomize).
_BATCH_NORM_ROLES = {1: "scale", 2: "shift", 3: "mean", 4: "variance"}


def random_twin(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """``model`` with every ConstantOfShape fill (a light model's stand-in weights, all 0.02) replaced by a
    seeded random initializer of its shape, drawn by what it feeds: Conv/Gemm weights N(0, 1/fan_in), or
    N(0, 2/fan_in) straight before a Relu (He), biases N(0, 0.05²), BatchNorm scale U(0.5, 1.5), shift and
    mean N(0, 0.1²), variance U(0.5, 2), anything else U(0.5, 1.5)."""
    twin = onnx.ModelProto()
    twin.CopyFrom(model)
    rng = np.random.default_rng(seed)
    initializers = {init.name: numpy_helper.to_array(init) for init in twin.graph.initializer}
    kept, shapes = [], set()
    for node in twin.graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in initializers:
            kept.append(node)
            continue
        shapes.add(node.input[0])
        shape = tuple(int(d) for d in initializers[node.input[0]])
        values = _draw(_role(twin, node.output[0]), shape, rng).astype(np.float32)
        twin.graph.initializer.append(numpy_helper.from_array(values, node.output[0]))
        if twin.ir_version < 4:  # IR 3: every initializer is also a graph input
            twin.graph.input.append(onnx.helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, shape))
    del twin.graph.node[:]
    twin.graph.node.extend(kept)
    _drop(twin, shapes)
    return twin


def _role(model: onnx.ModelProto, name: str) -> str:
    for node in model.graph.node:
        if name not in node.input:
            continue
        index = list(node.input).index(name)
        if node.op_type == "BatchNormalization":
            return _BATCH_NORM_ROLES[index]
        if node.op_type in ("Conv", "Gemm"):
            if index != 1:
                return "bias"
            readers = {n.op_type for n in model.graph.node if node.output[0] in n.input}
            return "weight before relu" if readers == {"Relu"} else "weight"
        return "other"
    return "other"


def _draw(role: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if role.startswith("weight"):
        gain = 2.0 if role == "weight before relu" else 1.0
        return rng.normal(0.0, np.sqrt(gain / max(1, int(np.prod(shape[1:])))), shape)
    if role in ("shift", "mean", "bias"):
        return rng.normal(0.0, 0.05 if role == "bias" else 0.1, shape)
    return rng.uniform(0.5, 2.0, shape) if role == "variance" else rng.uniform(0.5, 1.5, shape)


def _drop(model: onnx.ModelProto, names: set[str]) -> None:
    """Remove the initializers named in ``names`` and their graph-input entries."""
    for field in (model.graph.initializer, model.graph.input):
        kept = [item for item in field if item.name not in names]
        del field[:]
        field.extend(kept)


def torch_export(name: str, exporter: str, opset: int, folder: str) -> str:
    """Zoo model ``name`` (tests.zoo: seed-0 weights, its example input shapes) written by
    ``torch.onnx.export`` into ``folder`` as NAME_EXPORTEROPSET.onnx: ``exporter`` "ts" (dynamo=False,
    TorchScript) or "dynamo" (dynamo=True, torch.export). Returns the path."""
    import torch

    from zoo import example_inputs, load

    model, shapes = load(name)
    path = os.path.join(folder, f"{name}_{exporter}{opset}.onnx")
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(example_inputs(shapes)), path, opset_version=opset,
                          dynamo=exporter == "dynamo", external_data=False)
    return path
