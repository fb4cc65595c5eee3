"""Every rule of every target, shown a deploy net that breaks it and the same computation in a legal form.

The broken net must be reported under its target with exactly that rule; the fixed net must lint clean
there. Blob shapes are the reference pycaffe's (every net is run once, in a child process).
"""
from dataclasses import dataclass

import numpy as np
import pytest
from google.protobuf import text_format

from pt2caffe.net import caffe_pb2
from pt2caffe.net.targets import TARGETS, lint
from pt2caffe.runtimes.launch import run_pycaffe

IMAGE = (1, 8, 6, 6)


def layer(kind: str, params: str = "", bottoms=("data",), top="out") -> str:
    bottom = " ".join(f'bottom: "{name}"' for name in bottoms)
    return f'layer {{ name: "{top}" type: "{kind}" {bottom} top: "{top}" {params} }}\n'


def net_text(shape, body: str) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ {dims} }} }} }}\n{body}'


@dataclass(frozen=True)
class Case:
    target: str
    rule: str
    broken: str  # layers after the Input (reading "data")
    fixed: str
    shape: tuple = IMAGE

    def net(self, body: str) -> caffe_pb2.NetParameter:
        return text_format.Parse(net_text(self.shape, body), caffe_pb2.NetParameter())


GLOBAL_MEAN = layer("Pooling", "pooling_param { pool: AVE global_pooling: true }", top="mean")
SLICE_TWO = 'layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b" slice_param { axis: 1 } }\n'
BATCH_VIEW = layer("Reshape", "reshape_param { shape { dim: -1 dim: 6 } }", top="rows")
ABS_BY_RELUS = (layer("ReLU", top="pos") + layer("Power", "power_param { scale: -1 }", top="neg")
                + layer("ReLU", bottoms=("neg",), top="negpos") + layer("Eltwise", "", ("pos", "negpos")))
CASES = [
    # OpenCV 4.x and MNN 3.6.1 (portable checks both)
    Case("opencv", "opencv.types", layer("Reduction", "reduction_param { axis: 2 operation: MEAN }"),
         layer("Pooling", "pooling_param { pool: AVE global_pooling: true }")),
    Case("opencv", "opencv.deconv_dilation", layer("Deconvolution", "convolution_param { num_output: 4 kernel_size: 3 "
         "dilation: 2 }"), layer("Deconvolution", "convolution_param { num_output: 4 kernel_size: 5 }")),
    Case("opencv", "opencv.lrn_k", layer("LRN", "lrn_param { local_size: 3 k: 2 }"), layer("LRN", "lrn_param { local_size: 3 }")),
    Case("mnn", "mnn.types", layer("Tile", "tile_param { axis: 2 tiles: 2 }"),
         layer("Concat", "concat_param { axis: 2 }", ("data", "data"))),
    Case("mnn", "mnn.scale", GLOBAL_MEAN + layer("Reshape", "reshape_param { shape { dim: 0 dim: 8 } }", ("mean",), "m2")
         + layer("Scale", "scale_param { axis: 0 }", ("data", "m2")),
         layer("Scale", "scale_param { bias_term: true }")),
    Case("mnn", "mnn.lrn_k", layer("LRN", "lrn_param { local_size: 3 k: 2 }"), layer("LRN", "lrn_param { local_size: 3 }")),
    Case("mnn", "mnn.log_base", layer("Sigmoid", top="p") + layer("Log", "", ("p",)),
         layer("Sigmoid", top="p") + layer("Log", "log_param { base: 2.718281828459045 }", ("p",))),
    Case("mnn", "mnn.eltwise_coeff", layer("Eltwise", "eltwise_param { coeff: 1 coeff: -0.5 }", ("data", "data")),
         layer("Power", "power_param { scale: 0.5 }", top="half")
         + layer("Eltwise", "eltwise_param { coeff: 1 coeff: -1 }", ("data", "half"))),
    Case("mnn", "mnn.inner_product", BATCH_VIEW + layer("InnerProduct", "inner_product_param { num_output: 3 }", ("rows",)),
         layer("InnerProduct", "inner_product_param { num_output: 3 }")),
    Case("mnn", "mnn.pooling_mask", 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "mask" '
         "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n" + layer("Eltwise", "", ("p", "mask")),
         layer("Pooling", "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")),
    Case("mnn", "mnn.softmax", layer("Softmax", "softmax_param { axis: 1 }"),
         layer("Permute", "permute_param { order: 0 order: 2 order: 1 }", top="last")
         + layer("Softmax", "softmax_param { axis: 2 }", ("last",), "p")
         + layer("Permute", "permute_param { order: 0 order: 2 order: 1 }", ("p",)), shape=(1, 2, 16)),
    # HiSilicon NNIE
    Case("nnie", "nnie.batch", layer("Concat", "concat_param { axis: 0 }", ("data", "data")),
         layer("Concat", "concat_param { axis: 1 }", ("data", "data"))),
    Case("nnie", "nnie.rank", layer("Flatten", "flatten_param { axis: 2 }"),
         layer("Reshape", "reshape_param { shape { dim: 0 dim: 8 dim: 36 dim: 1 } }")),
    Case("nnie", "nnie.reshape", layer("Reshape", "reshape_param { shape { dim: 1 dim: 8 dim: 36 dim: 1 } }"),
         layer("Reshape", "reshape_param { shape { dim: 0 dim: 8 dim: 36 dim: 1 } }")),
    Case("nnie", "nnie.permute", layer("Permute", "permute_param { order: 0 order: 1 order: 3 order: 2 }"),
         layer("Permute", "permute_param { order: 0 order: 2 order: 3 order: 1 }")),
    Case("nnie", "nnie.power", layer("Sigmoid", top="p") + layer("Power", "power_param { power: 1.5 }", ("p",)),
         layer("Sigmoid", top="p") + layer("Power", "power_param { power: 2 }", ("p",))),
    Case("nnie", "nnie.group", layer("Convolution", "convolution_param { num_output: 4096 group: 4096 kernel_size: 1 }"),
         layer("Convolution", "convolution_param { num_output: 2048 group: 2048 kernel_size: 1 }"), (1, 4096, 2, 2)),
    Case("nnie", "nnie.group_deconv", layer("Deconvolution", "convolution_param { num_output: 4096 group: 4096 "
         "kernel_size: 2 stride: 2 }"), layer("Deconvolution", "convolution_param { num_output: 2048 group: 1024 "
         "kernel_size: 2 stride: 2 }"), (1, 4096, 2, 2)),
    Case("nnie", "nnie.window", layer("Pooling", "pooling_param { pool: MAX kernel_h: 300 kernel_w: 1 }"),
         layer("Pooling", "pooling_param { pool: MAX global_pooling: true }"), (1, 2, 300, 1)),
    Case("nnie", "nnie.extent", layer("Reshape", "reshape_param { shape { dim: 0 dim: 1 dim: 5000 dim: 1 } }"),
         layer("Reshape", "reshape_param { shape { dim: 0 dim: 2 dim: 2500 dim: 1 } }"), (1, 10, 500, 1)),
    # Rockchip RKNN
    Case("rknn", "rknn.types", layer("AbsVal"), ABS_BY_RELUS),
    Case("rknn", "rknn.product", layer("Eltwise", "eltwise_param { operation: PROD }", ("data", "data", "data")),
         layer("Eltwise", "eltwise_param { operation: PROD }", ("data", "data"), "square")
         + layer("Eltwise", "eltwise_param { operation: PROD }", ("square", "data"))),
    Case("rknn", "rknn.pooling_mask", 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "mask" '
         "pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n" + layer("Eltwise", "", ("p", "mask")),
         layer("Pooling", "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")),
    # ncnn through caffe2ncnn
    Case("ncnn", "ncnn.types", layer("Tile", "tile_param { axis: 2 tiles: 2 }"),
         layer("Concat", "concat_param { axis: 2 }", ("data", "data"))),
    Case("ncnn", "ncnn.batch", layer("Concat", "concat_param { axis: 0 }", ("data", "data")),
         layer("Concat", "concat_param { axis: 1 }", ("data", "data"))),
    Case("ncnn", "ncnn.reshape", layer("Reshape", "reshape_param { shape { dim: 0 dim: 2 dim: 4 dim: 6 dim: 6 } }"),
         layer("Reshape", "reshape_param { shape { dim: 0 dim: 2 dim: 4 dim: 36 } }")),
    Case("ncnn", "ncnn.permute", layer("Permute", "permute_param { order: 1 order: 0 order: 2 order: 3 }"),
         layer("Permute", "permute_param { order: 0 order: 2 order: 1 order: 3 }"), (8, 8, 6, 6)),
    Case("ncnn", "ncnn.inner_product", layer("InnerProduct", "inner_product_param { num_output: 3 axis: 2 }"),
         layer("InnerProduct", "inner_product_param { num_output: 3 }")),
    Case("ncnn", "ncnn.flatten", layer("Flatten", "flatten_param { axis: 2 }"), layer("Flatten")),
    Case("ncnn", "ncnn.scale", layer("Scale", "scale_param { axis: 2 num_axes: 2 }"), layer("Scale")),
    Case("ncnn", "ncnn.ave_pad", layer("Pooling", "pooling_param { pool: AVE kernel_size: 3 pad: 1 }"),
         layer("Convolution", "convolution_param { num_output: 8 group: 8 kernel_size: 1 pad: 1 bias_term: false }",
               top="padded") + layer("Pooling", "pooling_param { pool: AVE kernel_size: 3 }", ("padded",))),
    Case("ncnn", "ncnn.crop", layer("Convolution", "convolution_param { num_output: 1 kernel_size: 3 }", top="ref")
         + layer("Crop", "crop_param { axis: 2 offset: 0 }", ("data", "ref")),
         layer("Convolution", "convolution_param { num_output: 8 group: 8 kernel_size: 3 }", top="ref")
         + layer("Crop", "crop_param { axis: 2 offset: 0 }", ("data", "ref"))),
    Case("ncnn", "ncnn.vector", GLOBAL_MEAN + layer("Deconvolution", "convolution_param { num_output: 8 group: 8 "
         "kernel_size: 6 }", ("mean",)),
         GLOBAL_MEAN + layer("Reshape", "reshape_param { shape { dim: 0 dim: 8 dim: 1 dim: 1 } }", ("mean",), "m4")
         + layer("Deconvolution", "convolution_param { num_output: 8 group: 8 kernel_size: 6 }", ("m4",))),
]


def rules_broken(case: Case, body: str, tmp_path) -> set[str]:
    path = tmp_path / "net.prototxt"
    path.write_text(net_text(case.shape, body))
    data = np.random.default_rng(0).uniform(0.5, 1.5, case.shape).astype(np.float32)
    shapes = {name: blob.shape for name, blob in run_pycaffe(str(path), None, {"data": data}).items()}
    net = case.net(body)
    return {violation.rule for violation in lint(net.layer, shapes, TARGETS[case.target])}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.rule)
def test_broken_net_breaks_its_rule(case, tmp_path):
    assert rules_broken(case, case.broken, tmp_path) == {case.rule}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.rule)
def test_fixed_net_is_clean(case, tmp_path):
    assert rules_broken(case, case.fixed, tmp_path) == set()


def test_every_rule_has_a_case():
    rules = {rule.id for target in TARGETS.values() for rule in target.rules}
    assert sorted(rules - {case.rule for case in CASES}) == []


def test_portable_holds_the_rules_of_opencv_and_mnn():
    ids = {rule.id for rule in TARGETS["portable"].rules}
    assert ids == {rule.id for name in ("opencv", "mnn") for rule in TARGETS[name].rules}


def test_every_rule_names_its_source():
    assert [rule.id for target in TARGETS.values() for rule in target.rules if len(rule.source) < 10] == []
