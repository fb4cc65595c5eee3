"""The public Caffe deploy nets load into PyTorch definitions written as their users write them, exactly:
every paired layer and every output within 1e-4 relative of pycaffe (the SSDs at their loc/conf heads)."""
import os

import pytest
import torch

from pt2caffe.cli import main

HERE = os.path.dirname(os.path.abspath(__file__))
NETS = ["resnet50", "alexnet", "googlenet", "mobilenet_v1", "squeezenet_v1_1", "openpose_body25", "mobilenet_ssd",
        "ssd300_vgg16"]
COMPARED_OUTPUTS = {"resnet50": {"fc1000"}, "alexnet": {"fc8"}, "googlenet": {"loss3/classifier"},
                    "mobilenet_v1": {"fc7"}, "squeezenet_v1_1": {"pool10"}, "openpose_body25": {"net_output"},
                    "mobilenet_ssd": {"mbox_loc", "mbox_conf"}, "ssd300_vgg16": {"mbox_loc", "mbox_conf"}}


@pytest.mark.parametrize("name", NETS)
def test_public_net_imports_exactly(name, caffe_model, tmp_path, capsys):
    prototxt, caffemodel = caffe_model(name)
    definition = os.path.join(HERE, "nets", f"{name}.py")
    out = tmp_path / f"{name}.pth"
    assert main(["import", prototxt, caffemodel, definition, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "OK:" in printed
    for blob in COMPARED_OUTPUTS[name]:
        assert f"= Caffe {blob} (rel" in printed
    namespace = {}
    exec(compile(open(definition).read(), definition, "exec"), namespace)
    namespace["build_model"]().load_state_dict(torch.load(out, weights_only=True), strict=True)
    lines = [line for line in (tmp_path / f"{name}.map.txt").read_text().splitlines() if not line.startswith("#")]
    assert len(lines) == len(torch.load(out, weights_only=True))
