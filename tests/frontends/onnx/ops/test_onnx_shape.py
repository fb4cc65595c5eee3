"""Reshape/Flatten/Transpose/Squeeze/Unsqueeze/Concat/Split/Slice/Gather/Expand/Tile/Pad/DepthToSpace/
SpaceToDepth and shape subgraphs, with their attribute → input moves per opset."""
import numpy as np
import pytest
from onnx import helper

from onnx_cases import export_and_check, model_file

I64 = np.int64


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_split_axes(tmp_path, opset):
    """Axes and split sizes are attributes before 13, inputs from 13."""
    if opset < 13:
        nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),
                 helper.make_node("Squeeze", ["u"], ["s"], axes=[0]),
                 helper.make_node("Split", ["s"], ["a", "b"], axis=1, split=[1, 2])]
        inits = {}
    else:
        nodes = [helper.make_node("Unsqueeze", ["x", "ax"], ["u"]), helper.make_node("Squeeze", ["u", "ax"], ["s"]),
                 helper.make_node("Split", ["s", "sizes"], ["a", "b"], axis=1)]
        inits = {"ax": np.array([0], I64), "sizes": np.array([1, 2], I64)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 4, 5)}, ["a", "b"], inits, opset=opset),
                     tmp_path)


def test_split_num_outputs(tmp_path):
    """Opset 18: num_outputs, the last part smaller (7 = 3 + 3 + 1)."""
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=3, num_outputs=3)]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 2, 3, 7)}, ["a", "b", "c"], opset=18), tmp_path)


@pytest.mark.parametrize("opset", [9, 10])
def test_slice_attributes_then_inputs_with_steps(tmp_path, opset):
    if opset < 10:
        nodes = [helper.make_node("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, -1], axes=[2, 3])]
        inits = {}
    else:  # negative step and clamped ends
        nodes = [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])]
        inits = {"st": np.array([1, -1], I64), "en": np.array([2 ** 62, -100], I64), "ax": np.array([2, 3], I64),
                 "sp": np.array([2, -2], I64)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 3, 6, 7)}, ["y"], inits, opset=opset), tmp_path)


def test_shape_subgraph_reshape_folds(tmp_path):
    """Shape → Gather → Unsqueeze → Concat → Reshape: computed at the traced size, a constant shape."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"]),
             helper.make_node("Flatten", ["x"], ["f"], axis=-1),
             helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1])]
    inits = {"zero": np.array(0, I64), "ax": np.array([0], I64), "minus_one": np.array([-1], I64)}
    report = export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 4, 5)}, ["y", "f", "t"], inits),
                              tmp_path)
    assert report["initializers"]["zero"] == []  # a shape constant, in no Caffe blob


def test_gather_expand_tile(tmp_path):
    nodes = [helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
             helper.make_node("Expand", ["c", "shape"], ["e"]),
             helper.make_node("Tile", ["x", "reps"], ["t"])]
    inits = {"idx": np.array([2, 0, 1, 1], I64), "c": np.ones((1, 3, 1, 1), np.float32),
             "shape": np.array([2, 3, 4, 5], I64), "reps": np.array([1, 1, 2, 1], I64)}
    nodes.append(helper.make_node("Add", ["x", "e"], ["s"]))
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 4, 5)}, ["g", "s", "t"], inits), tmp_path)


@pytest.mark.parametrize("opset", [7, 11, 18])
def test_pad_modes(tmp_path, opset):
    modes = ["constant", "reflect", "edge"]
    if opset < 11:
        nodes = [helper.make_node("Pad", ["x"], [m], mode=m, pads=[0, 0, 1, 2, 0, 0, 2, 1]) for m in modes]
        inits = {}
    else:
        axes = ["axes"] if opset >= 18 else []
        nodes = [helper.make_node("Pad", ["x", "pads", "value" if m == "constant" else ""] + axes, [m], mode=m)
                 for m in modes]
        pads = [1, 2, 2, 1] if opset >= 18 else [0, 0, 1, 2, 0, 0, 2, 1]
        inits = {"pads": np.array(pads, I64), "value": np.array(0.5 if opset >= 18 else 0.0, np.float32)}
        if opset >= 18:
            inits["axes"] = np.array([2, 3], I64)
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 2, 5, 6)}, modes, inits, opset=opset),
                     tmp_path)


def test_depth_to_space_and_back(tmp_path):
    nodes = [helper.make_node("DepthToSpace", ["x"], ["dcr"], blocksize=2, mode="DCR"),
             helper.make_node("DepthToSpace", ["x"], ["crd"], blocksize=2, mode="CRD"),
             helper.make_node("SpaceToDepth", ["dcr"], ["back"], blocksize=2)]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (1, 8, 3, 4)}, ["crd", "back"]), tmp_path)


def test_scatter_nd_of_a_box(tmp_path):
    """``y[:, :, 1:3] = sigmoid(y[:, :, 1:3])`` as torch.onnx writes it: ScatterND with every index of the box."""
    box = np.stack(np.meshgrid(np.arange(2), np.arange(3), np.arange(1, 3), indexing="ij"), -1).astype(I64)
    nodes = [helper.make_node("Slice", ["x", "st", "en", "ax"], ["part"]), helper.make_node("Sigmoid", ["part"], ["s"]),
             helper.make_node("ScatterND", ["x", "box", "s"], ["y"])]
    inits = {"box": box, "st": np.array([1], I64), "en": np.array([3], I64), "ax": np.array([2], I64)}
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 5, 4)}, ["y"], inits), tmp_path)


def test_gather_nd_with_constant_indices(tmp_path):
    """GatherND (opset 13) picking (h, w) cells of an (H, W, N, C) tensor, as torch.export writes adaptive
    pooling: the picks repeat and overlap, and negative indices count from the end."""
    index = np.stack(np.meshgrid([0, 1, 2, 2, 4], [3, -1, 0], indexing="ij"), -1)  # (5, 3, 2)
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[2, 3, 0, 1]),
             helper.make_node("GatherND", ["t", "index"], ["g"]),
             helper.make_node("Transpose", ["g"], ["y"], perm=[2, 3, 0, 1])]
    export_and_check(model_file(tmp_path / "m.onnx", nodes, {"x": (2, 3, 5, 6)}, ["y"], {"index": index.astype(I64)}),
                     tmp_path)
