"""Resize (10, 11, 13, 18, 19) and Upsample (7, 9) against onnxruntime: modes, coordinate transforms,
nearest rounding, scales and sizes (ops/resize_weights.py follows onnxruntime's arithmetic)."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file, refusal

F32, I64 = np.float32, np.int64
CASES = [  # (mode, coordinate_transformation_mode, nearest_mode, scales or None, sizes or None)
    ("nearest", "asymmetric", "floor", [1, 1, 2, 2], None),
    ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 1.5, 0.5], None),
    ("nearest", "tf_half_pixel_for_nn", "round_prefer_ceil", None, [1, 2, 7, 4]),
    ("linear", "half_pixel", "round_prefer_floor", [1, 1, 2, 2], None),
    ("linear", "align_corners", "round_prefer_floor", None, [1, 2, 9, 11]),
    ("linear", "pytorch_half_pixel", "round_prefer_floor", [1, 1, 0.6, 1.75], None),
    ("cubic", "half_pixel", "round_prefer_floor", [1, 1, 2, 1.5], None),
    ("cubic", "asymmetric", "round_prefer_floor", None, [1, 2, 3, 10]),
]


@pytest.mark.parametrize("mode,coordinates,rounding,scales,sizes", CASES)
def test_resize(tmp_path, mode, coordinates, rounding, scales, sizes):
    inputs = ["x", "", "scales"] if scales else ["x", "", "", "sizes"]
    inits = {"scales": np.array(scales, F32)} if scales else {"sizes": np.array(sizes, I64)}
    node = helper.make_node("Resize", inputs, ["y"], mode=mode, coordinate_transformation_mode=coordinates,
                            nearest_mode=rounding)
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 2, 5, 6)}, ["y"], inits), tmp_path)


def test_resize_cubic_exclude_outside_and_crop(tmp_path):
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["c"], mode="cubic", exclude_outside=1,
                              cubic_coeff_a=-0.5),
             helper.make_node("Resize", ["x", "roi", "", "sizes"], ["t"], mode="linear",
                              coordinate_transformation_mode="tf_crop_and_resize")]
    inits = {"scales": np.array([1, 1, 2, 2], F32), "roi": np.array([0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9], F32),
             "sizes": np.array([1, 2, 7, 5], I64)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 2, 5, 6)}, ["c", "t"], inits), tmp_path)


def test_resize_axes_opset18(tmp_path):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear", axes=[3, 2])
    inits = {"scales": np.array([2, 0.5], F32)}
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 2, 6, 5)}, ["y"], inits, opset=18), tmp_path)


@pytest.mark.parametrize("opset,mode", [(7, "nearest"), (9, "linear"), (10, "nearest"), (10, "linear")])
def test_upsample_and_resize10(tmp_path, opset, mode):
    """Asymmetric coordinates; onnxruntime's nearest pixel for these versions truncates when upsampling."""
    scales = [1, 1, 161 / 21 / 4, 3.0]
    if opset == 7:
        node, inits = helper.make_node("Upsample", ["x"], ["y"], mode=mode, scales=scales), {}
    else:
        node = helper.make_node("Upsample" if opset == 9 else "Resize", ["x", "scales"], ["y"], mode=mode)
        inits = {"scales": np.array(scales, F32)}
    export_and_check(model_file(tmp_path / "m.onnx", [node], {"x": (1, 2, 5, 4)}, ["y"], inits, opset=opset), tmp_path)


@pytest.mark.parametrize("policy,mode,axes,sizes", [
    ("not_larger", "linear", [2, 3], [5, 20]), ("not_smaller", "nearest", [2, 3], [5, 20]),
    ("not_larger", "cubic", [2, 3], [12, 7]), ("not_smaller", "linear", [3, 2], [9, 3])])
def test_resize_keep_aspect_ratio(tmp_path, policy, mode, axes, sizes):
    """Resize-18's keep_aspect_ratio_policy: one scale over the axes, against onnxruntime."""
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, keep_aspect_ratio_policy=policy,
                            **({"axes": axes} if axes else {}))
    path = model_file(tmp_path / "m.onnx", [node], {"x": (1, 2, 6, 8)}, ["y"], {"sizes": np.array(sizes, I64)}, opset=18)
    export_and_check(path, tmp_path)


@pytest.mark.parametrize("mode,coordinates,sizes,extra", [
    ("linear", "half_pixel", [1, 2, 3, 5], {}), ("cubic", "pytorch_half_pixel", [1, 2, 5, 3], {"exclude_outside": 1}),
    ("cubic", "asymmetric", [1, 2, 12, 4], {"cubic_coeff_a": -0.5}), ("linear", "align_corners", [1, 2, 16, 11], {})])
def test_resize_antialias(tmp_path, mode, coordinates, sizes, extra):
    """Resize-18 antialias=1 (the kernel stretched when downsampling), against onnxruntime."""
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, antialias=1,
                            coordinate_transformation_mode=coordinates, **extra)
    path = model_file(tmp_path / "m.onnx", [node], {"x": (1, 2, 8, 11)}, ["y"], {"sizes": np.array(sizes, I64)}, opset=18)
    export_and_check(path, tmp_path)


def test_resize_antialias_with_crop_is_refused_naming_the_node(tmp_path):
    node = helper.make_node("Resize", ["x", "roi", "", "sizes"], ["y"], name="resize", mode="linear", antialias=1,
                            coordinate_transformation_mode="tf_crop_and_resize")
    inits = {"sizes": np.array([1, 2, 4, 6], I64), "roi": np.array([0, 0, 0.1, 0.1, 1, 1, 0.9, 0.9], F32)}
    path = model_file(tmp_path / "m.onnx", [node], {"x": (1, 2, 8, 8)}, ["y"], inits, opset=18)
    assert "antialias=1 with tf_crop_and_resize is not supported" in refusal(path)
