"""Reading ONNX files: external data only from beside the model, one-line errors, opset conversion."""
import os

import numpy as np
import onnx
import pytest
from onnx import helper

from onnx_cases import model_file
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.frontends.onnx.model_file import read


def _with_external_data(tmp_path, location: str):
    path = model_file(tmp_path / "m.onnx", [helper.make_node("Mul", ["x", "w"], ["y"])], {"x": (1, 4)}, ["y"],
                      {"w": np.arange(4, dtype=np.float32)})
    model = onnx.load(path)
    onnx.external_data_helper.convert_model_to_external_data(model, location=location, size_threshold=0)
    onnx.save(model, path)
    return path, model


def test_external_data_beside_the_model(tmp_path):
    path, model = _with_external_data(tmp_path, "weights.bin")
    source = read(path)
    assert onnx.numpy_helper.to_array(source.model.graph.initializer[0]).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "link.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    inner = tmp_path / "model"
    inner.mkdir()
    (tmp_path / "outside.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = model_file(inner / "m.onnx", [helper.make_node("Mul", ["x", "w"], ["y"])], {"x": (1, 4)}, ["y"],
                      {"w": np.zeros(4, np.float32)})
    model = onnx.load(path)
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    tensor.external_data.add(key="location", value=location)
    onnx.save(model, path)
    if location == "link.bin":
        os.symlink(tmp_path / "outside.bin", inner / "link.bin")
    with pytest.raises(Pt2CaffeError, match="outside the model's folder") as error:
        read(path)
    assert "\n" not in str(error.value)


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(Pt2CaffeError, match="is not an ONNX model"):
        read(str(path))


def test_old_opset_is_converted(tmp_path):
    path = model_file(tmp_path / "m.onnx", [helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 2)}, ["y"], opset=6,
                      ir_version=3)
    source = read(path)
    assert (source.original_opset, source.opset) == (6, 7)
