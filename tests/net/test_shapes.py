"""pt2caffe.net.shapes against stock SSD Caffe itself: every blob of hand-written nets (every layer type the
module knows, legacy net inputs, phases, in-place layers) has pycaffe's shape; weights of the inferred
learned-blob shapes load (Caffe refuses any other shape); nets Caffe refuses are refused, naming the layer.
The zoo's exports are checked at every export (pt2caffe.conversion.verify)."""
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

from pt2caffe.errors import Pt2CaffeError
from pt2caffe.net import caffe_pb2
from pt2caffe.net.shapes import ShapeError, infer_shapes, layer_shapes
from pt2caffe.runtimes.launch import run_pycaffe

NETS = sorted((Path(__file__).parents[1] / "data" / "shapes").glob("*.prototxt"))
UNROLLED = ("LSTM", "RNN")  # their learned blobs come from the unrolled net: not inferred


def _net(text: str) -> caffe_pb2.NetParameter:
    return text_format.Parse(text, caffe_pb2.NetParameter())


def _caffemodel(entries, path: Path) -> str:
    """Zero weights of the inferred learned-blob shapes, for every layer that has learned blobs."""
    model = caffe_pb2.NetParameter()
    for entry in entries:
        if entry.learned and entry.layer.type not in UNROLLED:
            layer = model.layer.add(name=entry.layer.name, type=entry.layer.type)
            for shape in entry.learned:
                layer.blobs.add(shape=caffe_pb2.BlobShape(dim=list(shape)), data=np.zeros(int(np.prod(shape))))
    path.write_bytes(model.SerializeToString())
    return str(path)


@pytest.mark.parametrize("path", NETS, ids=[path.stem for path in NETS])
def test_every_blob_has_pycaffes_shape(path, tmp_path):
    entries = layer_shapes(_net(path.read_text()))
    inferred = {top: shape for entry in entries for top, shape in zip(entry.layer.top, entry.tops)}
    caffe = run_pycaffe(str(path), _caffemodel(entries, tmp_path / "zeros.caffemodel"), {}, None)
    written = {name: array.shape for name, array in caffe.items() if "_split_" not in name}  # Caffe's own Splits
    assert set(written) == set(inferred)
    assert not {name: (inferred[name], shape) for name, shape in written.items() if not _agree(inferred[name], shape)}


def _agree(inferred, shape) -> bool:
    """Same extents; None (only the data decides it, as DetectionOutput's count) matches any."""
    return len(inferred) == len(shape) and all(d is None or d == s for d, s in zip(inferred, shape))


def _layer(name, kind, bottoms, tops, params=""):
    bottoms, tops = ([b] if isinstance(b, str) else b for b in (bottoms, tops))
    return (f'layer {{ name: "{name}" type: "{kind}" ' + " ".join(f'bottom: "{b}"' for b in bottoms) + " "
            + " ".join(f'top: "{t}"' for t in tops) + f" {params} }}")


REFUSED = {  # case → (shape of the Input "x", the layers after it, the layer Caffe stops at)
    "pad not below the kernel": (
        (1, 1, 5, 5), [_layer("p", "Pooling", "x", "p", "pooling_param { kernel_size: 2 pad: 2 }")], "p"),
    "Eltwise of two shapes": (
        (1, 2, 5, 5), [_layer("q", "Pooling", "x", "q", "pooling_param { kernel_size: 2 }"),
                       _layer("e", "Eltwise", ["x", "q"], "e")], "e"),
    "Reshape count": (
        (1, 2, 5, 5), [_layer("r", "Reshape", "x", "r", "reshape_param { shape { dim: 0 dim: 7 dim: -1 } }")], "r"),
    "Crop out of bounds": (
        (1, 2, 5, 5), [_layer("s", "Pooling", "x", "s", "pooling_param { kernel_size: 2 stride: 1 }"),
                       _layer("c", "Crop", ["x", "s"], "c", "crop_param { offset: 2 }")], "c"),
    "unknown type": ((1, 2, 5, 5), [_layer("u", "Upsample", "x", "u")], "u"),
    "unknown bottom": ((1, 2, 5, 5), [_layer("r", "ReLU", "z", "r")], "r"),
    "two producers": ((1, 2, 5, 5), [_layer("r", "ReLU", "x", "y"), _layer("s", "Sigmoid", "x", "y")], "s"),
    "LRN on 3 axes": ((1, 2, 5), [_layer("l", "LRN", "x", "l")], "l"),
    "PReLU on 5 axes": ((1, 2, 5, 1, 2), [_layer("l", "PReLU", "x", "l")], "l"),
    "MVN on 5 axes": ((1, 3, 1, 1, 2), [_layer("m", "MVN", "x", "m")], "m"),
    "Slice past the axis": (
        (1, 4, 5, 5), [_layer("s", "Slice", "x", ["a", "b"], "slice_param { slice_point: 6 }")], "s"),
    "channels not a multiple of group": (
        (1, 3, 5, 5), [_layer("c", "Convolution", "x", "c", "convolution_param { num_output: 4 group: 2 "
                                                             "kernel_size: 1 }")], "c"),
    "axis out of range": ((1, 3), [_layer("s", "Softmax", "x", "s", "softmax_param { axis: 2 }")], "s"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_nets_caffe_refuses_are_refused(case, tmp_path):
    shape, layers, culprit = REFUSED[case]
    dims = " ".join(f"dim: {d}" for d in shape)
    text = f'layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ {dims} }} }} }} ' + " ".join(layers)
    path = tmp_path / "net.prototxt"
    path.write_text(text)
    with pytest.raises(Pt2CaffeError):
        run_pycaffe(str(path), None, {}, None)
    with pytest.raises(ShapeError) as refused:
        infer_shapes(_net(text))
    assert refused.value.layer == culprit


def test_given_input_shapes_override_and_unknown_names_are_refused():
    net = _net('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } } '
               'layer { name: "p" type: "Pooling" bottom: "x" top: "p" pooling_param { kernel_size: 1 stride: 2 } }')
    # pad 0: Caffe keeps a last window that starts at H (PyTorch's ceil mode drops it: 4 × 4, 8 × 3)
    assert infer_shapes(net)["p"] == (1, 3, 5, 5)
    assert infer_shapes(net, {"x": (2, 3, 16, 5)})["p"] == (2, 3, 9, 3)
    with pytest.raises(ShapeError, match="no input blob named y"):
        infer_shapes(net, {"y": (1, 3, 8, 8)})
