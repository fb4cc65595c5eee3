"""``run`` then ``import`` gives back the original state_dict exactly, for every zoo model.

Two documented limits, checked as such: a recurrent layer's b_ih + b_hh is one blob in the export, so
its sum comes back in b_ih (b_hh 0 there) — the sums are equal; a parameter the forward never uses is
in no caffemodel, so it keeps the freshly built model's value (and its map line says so)."""
import os

import pytest
import torch

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
    for key, tensor in original.items():
        got = imported.state[key]
        if "stored in Caffe only as a sum" in how[key]:
            partner = key.replace("bias_hh", "bias_ih")
            assert torch.equal(got + imported.state[partner], original[partner] + tensor), key
        elif "stored in Caffe only as a sum" in how.get(key.replace("bias_ih", "bias_hh"), ""):
            continue  # checked with its partner
        elif "the forward does not use it" in how[key] or not tensor.is_floating_point():
            assert torch.equal(got, kept[key]), key
        else:
            assert torch.equal(got, tensor), key
