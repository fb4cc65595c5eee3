"""Zoo models exported under the deployment targets (``run --target nnie|rknn|ncnn``) whose exports take the
forms a target makes pt2caffe choose (channel shuffle as a permutation, batch-kept views, Exp/ELU/MVN-free
GELU and LayerNorm for RKNN, …): each target's export is lint clean or refused in one line by the rule listed
here, and every distinct net is compared blob by blob in pycaffe and on its outputs in OpenCV and MNN
(helpers.export_and_compare). README "Targets" lists the whole zoo's outcome per target."""
import pytest

import zoo
from helpers import export_and_compare

TARGETS = ("nnie", "rknn", "ncnn")
REFUSED = {  # model: {target: rule id}: no exact form obeys that rule (README "Targets" says why)
    "shufflenetv2": {},
    "inception_block": {},
    "centernet": {},
    "multi_io": {},
    "enet": {"nnie": "nnie.batch", "rknn": "rknn.pooling_mask", "ncnn": "ncnn.batch"},
    "ops_mix": {"nnie": "nnie.rank"},
    "lprnet": {"nnie": "nnie.rank"},
    "yolov3_head": {"nnie": "nnie.rank", "ncnn": "ncnn.reshape"},
    "vit_tiny": {"nnie": "nnie.rank", "ncnn": "ncnn.batch"},
}


@pytest.mark.parametrize("name", REFUSED)
def test_zoo_model_under_targets(tmp_path, name):
    model, shapes = zoo.load(name)
    export_and_compare(model, zoo.example_inputs(shapes), tmp_path, exceptions=zoo.RUNTIME_EXCEPTIONS.get(name),
                       targets=TARGETS, refused=REFUSED[name])
