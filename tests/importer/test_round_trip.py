"""``run`` then ``import`` gives back the original state_dict exactly, for every zoo model.

Two documented limits, checked as such: a recurrent layer's b_ih + b_hh is one blob in the export, so
its sum comes back in b_ih and b_hh is 0 there (all of an LSTM's or RNN's b_hh, a GRU's r and z rows;
its n rows are a blob of their own and come back as they were) — the sums are equal and the imported
model's forward equals the original's within 1e-6 relative; a parameter the forward never uses is in no
caffemodel, so it keeps the freshly built model's value (and its map line says so)."""
import os

import pytest
import torch
from torch import nn

from pt2caffe.conversion.pipeline import convert
from pt2caffe.conversion.writing import write
from pt2caffe.importer.pipeline import import_weights
import zoo

NAMES = sorted(name[:-3] for name in os.listdir(os.path.dirname(zoo.__file__))
               if name.endswith(".py") and name != "__init__.py")


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_is_exact(name, tmp_path):
    model, shapes = zoo.load(name)
    inputs = zoo.example_inputs(shapes)
    original = {key: tensor.clone() for key, tensor in model.state_dict().items()}
    write(convert(model, inputs, probe_sizes=False), str(tmp_path / "net"))
    fresh = zoo.module(name).build_model().eval()
    kept = {key: tensor.clone() for key, tensor in fresh.state_dict().items()}
    imported = import_weights(fresh, lambda m: convert(m, inputs, probe_sizes=False), str(tmp_path / "net.prototxt"),
                              str(tmp_path / "net.caffemodel"))
    how = {key: note for key, _, note in imported.rows}
    summed = False
    for key, tensor in original.items():
        got = imported.state[key]
        if "stored in Caffe only as a sum" in how[key]:
            partner = key.replace("bias_hh", "bias_ih")
            assert torch.equal(got + imported.state[partner], original[partner] + tensor), key
            zeroed = 2 * got.numel() // 3 if isinstance(fresh.get_submodule(key.rpartition(".")[0]),
                                                           (nn.GRU, nn.GRUCell)) else got.numel()
            assert not got[:zeroed].any() and torch.equal(got[zeroed:], tensor[zeroed:]), key
            summed = True
        elif "stored in Caffe only as a sum" in how.get(key.replace("bias_ih", "bias_hh"), ""):
            continue  # checked with its partner
        elif "the forward does not use it" in how[key] or not tensor.is_floating_point():
            assert torch.equal(got, kept[key]), key
        else:
            assert torch.equal(got, tensor), key
    if summed:  # the forward is what the user expects to be unchanged
        fresh.load_state_dict(imported.state, strict=True)
        with torch.no_grad():
            for want, have in zip(_flat(model(*inputs)), _flat(fresh(*inputs))):
                assert (have - want).abs().max() <= 1e-6 * want.abs().max(), name


def _flat(outputs):
    return [outputs] if isinstance(outputs, torch.Tensor) else [t for item in outputs for t in _flat(item)]
