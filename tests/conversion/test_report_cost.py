"""The report's "cost" and the note that names a lowering which makes the net more than twice the model."""
import math

from torch import nn

import pt2caffe
from helpers import Lambda
from pt2caffe.frontends.torch.shapes import random_inputs


def test_report_cost_against_the_model(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    report = pt2caffe.export(model, random_inputs([(1, 3, 8, 8)])[0], str(tmp_path / "tiny"))
    cost = report["cost"]
    parameters = sum(p.numel() for p in model.parameters())
    assert cost["parameter_bytes"] == parameters * 4
    assert cost["weight_bytes"] == report["parameters"] * 4 == parameters * 4
    assert cost["activation_bytes"] == (4 * 6 * 6 * 3 + 2) * 4  # conv, relu, flatten, linear outputs
    assert cost["layers"] == sum(layer["type"] != "Input" for layer in report["layers"])
    assert set(cost["families"]) >= {"conv", "activation", "linear"}
    assert sum(family["layers"] for family in cost["families"].values()) == cost["layers"]
    assert all(ms > 0 for ms in cost["estimated_ms"].values())
    assert not any(note.startswith("cost:") for note in report["notes"])


def test_a_lowering_that_blows_up_the_blobs_is_named(tmp_path):
    """x @ xᵀ of (1, 64, 32): the exact form materialises 64·64·32 terms, 32× the model's activations."""
    model = Lambda(lambda self, x: x @ x.transpose(1, 2))
    report = pt2caffe.export(model, random_inputs([(1, 64, 32)]), str(tmp_path / "gram"))
    cost = report["cost"]
    assert cost["blob_bytes"] > 2 * cost["activation_bytes"]
    notes = [note for note in report["notes"] if note.startswith("cost: the net's blobs are ")]
    assert len(notes) == 1
    ratio = cost["blob_bytes"] / cost["activation_bytes"]
    assert f"{ratio:.1f}× the model's activations" in notes[0]
    assert "the most from matmul in <model> (" in notes[0] and "test_report_cost.py:" in notes[0]
    assert math.isclose(cost["activation_bytes"], (64 * 32 + 64 * 64) * 4)  # transpose, product
