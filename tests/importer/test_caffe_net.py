"""Reading the user's net: the three input spellings, in-place tops versioned, TRAIN-only layers left out,
legacy blob shapes, and one-line refusals."""
import os
import runpy

import numpy as np
import pytest

from pt2caffe.errors import Pt2CaffeError
from pt2caffe.importer.caffe_net import plain_name, read_net
from pt2caffe.net import caffe_pb2
from pt2caffe.net.caffemodel import set_blob_data

NET = '''
name: "t"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "drop" type: "Dropout" bottom: "conv" top: "conv" include { phase: TRAIN } }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 2 } }
'''


def _caffemodel(path, legacy=False):
    model = caffe_pb2.NetParameter()
    conv = model.layer.add(name="conv", type="Convolution")
    for shape in ((4, 3, 3, 3), (4,)):
        blob = conv.blobs.add()
        blob.shape.dim.extend(shape)
        set_blob_data(blob, np.arange(np.prod(shape)))
    fc = model.layer.add(name="fc", type="InnerProduct")
    blob = fc.blobs.add()
    if legacy:
        blob.num, blob.channels, blob.height, blob.width = 1, 1, 2, 144
    else:
        blob.shape.dim.extend((2, 144))
    set_blob_data(blob, np.ones(288))
    path.write_bytes(model.SerializeToString())
    return str(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_in_place_tops_get_versions_and_train_layers_are_left_out(tmp_path, legacy):
    prototxt = tmp_path / "n.prototxt"
    prototxt.write_text(NET)
    net = read_net(str(prototxt), _caffemodel(tmp_path / "n.caffemodel", legacy))
    assert net.inputs == ["data"] and net.input_shapes == [(1, 3, 8, 8)]
    assert [(layer.name, layer.bottoms, layer.tops) for layer in net.layers] == [
        ("conv", ["data"], ["conv"]), ("relu", ["conv"], ["conv#1"]), ("fc", ["conv#1"], ["fc"])]
    assert plain_name("conv#1") == "conv__v1" and plain_name("conv") == "conv"
    assert net.layers[2].blobs[0].size == 288 and net.layers[0].blobs[0].shape == (4, 3, 3, 3)


def test_unusable_files_are_one_line_errors(tmp_path):
    prototxt = tmp_path / "n.prototxt"
    prototxt.write_text(NET)
    junk = tmp_path / "junk.caffemodel"
    junk.write_bytes(b"\xff\xff\xff not protobuf")
    with pytest.raises(Pt2CaffeError, match="not a caffemodel"):
        read_net(str(prototxt), str(junk))
    prototxt.write_text(NET.replace('bottom: "conv" top: "fc"', 'bottom: "nowhere" top: "fc"'))
    with pytest.raises(Pt2CaffeError, match="layer fc reads blob nowhere"):
        read_net(str(prototxt), _caffemodel(tmp_path / "n.caffemodel"))


def test_the_openpose_prototxt_is_what_its_generator_writes(tmp_path):
    folder = os.path.join(os.path.dirname(__file__), "..", "data", "caffe_nets")
    generator = runpy.run_path(os.path.join(folder, "make_openpose_body25.py"))
    from google.protobuf import text_format

    written = text_format.MessageToString(generator["body25"]())
    assert written == open(os.path.join(folder, "openpose_body25.prototxt"), encoding="utf-8").read()
