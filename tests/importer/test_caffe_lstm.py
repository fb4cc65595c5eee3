"""Caffe's own LSTM layer (two stacked, blobs W_xc, b_c, W_hc, gate rows i, f, o, g, the ``cont`` input)
imports into a two-layer nn.LSTM (gate rows i, f, g, o; bias_ih + bias_hh), checked three ways: the
state_dict against the caffemodel's blobs reordered here by hand, the import's own proof, and a separate
pycaffe run of the user's prototxt with cont = 0 at t = 0 then 1 against the loaded model's forward."""
import os
import re

import numpy as np
import pytest
import torch

from pt2caffe.cli import main
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.importer.api import import_model
from pt2caffe.importer.caffe_net import read_net
from pt2caffe.net import caffe_pb2
from pt2caffe.runtimes.launch import run_pycaffe

HERE = os.path.dirname(os.path.abspath(__file__))
DEFINITION = os.path.join(HERE, "nets", "lstm_tagger.py")


def _definition():
    namespace = {}
    exec(compile(open(DEFINITION).read(), DEFINITION, "exec"), namespace)
    return namespace["build_model"]().eval()


def _blobs(caffemodel: str) -> dict:
    model = caffe_pb2.NetParameter()
    with open(caffemodel, "rb") as handle:
        model.ParseFromString(handle.read())
    return {layer.name: [np.array(blob.data, np.float32).reshape(blob.shape.dim) for blob in layer.blobs]
            for layer in model.layer}


def _rel(got, want) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_caffe_lstm_imports_into_nn_lstm_exactly(caffe_model, tmp_path, capsys):
    prototxt, caffemodel = caffe_model("lstm_tagger")
    out = tmp_path / "tagger.pth"
    assert main(["import", prototxt, caffemodel, DEFINITION, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "paired 3 layers with weights" in printed and "= Caffe tags (rel" in printed and "OK:" in printed

    state = torch.load(out, weights_only=True)
    blobs, hidden = _blobs(caffemodel), 7
    ifgo = np.r_[0:2 * hidden, 3 * hidden:4 * hidden, 2 * hidden:3 * hidden]  # Caffe's i, f, o, g rows
    for k, name in enumerate(["lstm1", "lstm2"]):
        w_xc, b_c, w_hc = blobs[name]
        assert np.array_equal(state[f"rnn.weight_ih_l{k}"].numpy(), w_xc[ifgo])
        assert np.array_equal(state[f"rnn.weight_hh_l{k}"].numpy(), w_hc[ifgo])
        assert np.array_equal(state[f"rnn.bias_ih_l{k}"].numpy(), b_c[ifgo])
        assert not state[f"rnn.bias_hh_l{k}"].any()
    assert re.search(r"^rnn\.bias_hh_l0 +<- lstm1\[1\] .*stored in Caffe only as a sum with rnn\.bias_ih_l0\b",
                     (tmp_path / "tagger.map.txt").read_text(), re.M)

    model = _definition()
    model.load_state_dict(state, strict=True)
    x = torch.rand(6, 2, 5) * 2 - 1
    cont = np.ones((6, 2), np.float32)
    cont[0] = 0
    caffe = run_pycaffe(prototxt, caffemodel, {"data": x.numpy(), "cont": cont}, ["lstm2", "tags"])
    with torch.no_grad():
        sequence = model.rnn(x)[0].numpy()
        tags = model(x).numpy()
    assert _rel(caffe["lstm2"], sequence) <= 1e-4 and _rel(caffe["tags"], tags) <= 1e-4


def test_cont_is_a_marker_not_an_input_and_a_lost_bias_is_refused(caffe_model, tmp_path):
    prototxt, caffemodel = caffe_model("lstm_tagger")
    net = read_net(prototxt, caffemodel)
    assert net.inputs == ["data"] and net.markers == {"cont": (6, 2)}
    definition = tmp_path / "no_bias.py"
    definition.write_text(open(DEFINITION).read() + "\n\ndef without_bias():\n    model = Tagger()\n"
                          "    model.rnn = nn.LSTM(5, 7, num_layers=2, bias=False)\n    return model\n")
    with pytest.raises(Pt2CaffeError, match="Caffe LSTM lstm1 has a bias b_c where the nn.LSTM has none"):
        import_model(str(definition), prototxt, caffemodel, str(tmp_path / "out.pth"), entry="without_bias")
    assert sorted(os.listdir(tmp_path)) == ["no_bias.py"]  # nothing written
