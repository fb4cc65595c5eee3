"""Which Caffe layer forms run correctly where: the measured facts behind the README's runtime table
(pt2caffe.readme.runtime_table).

Each :class:`Form` is a one- or two-layer net with its measured verdict per runtime; stock SSD
pycaffe is the reference that defines each layer's result. tests/runtimes/test_forms.py runs every
form in pycaffe, OpenCV (``opencv-python-headless`` 4.14) and MNN 3.6.1 and asserts the verdicts:
"yes" means the runtime matches pycaffe within 1e-5 relative; anything else means it fails to
load or run the net, or misses the result by more than 1e-3.
"""
from __future__ import annotations

from dataclasses import dataclass, field

RUNTIMES = ("pycaffe", "opencv", "mnn")
YES = "yes"


@dataclass(frozen=True)
class Form:
    """A layer form: ``layers`` is prototxt text reading ``data`` (and ``data2``) and writing ``out``."""

    name: str
    layers: str
    inputs: dict  # blob name → shape
    verdicts: dict  # runtime → "yes" or what goes wrong
    pt2caffe: str  # whether and where pt2caffe writes this form
    weights: dict = field(default_factory=dict)  # layer name → shapes of its learned blobs


def _one(layer_type: str, params: str = "", bottoms: tuple = ("data",)) -> str:
    bottom = " ".join(f'bottom: "{name}"' for name in bottoms)
    return f'layer {{ name: "out" type: "{layer_type}" {bottom} top: "out" {params} }}'


IMAGE = {"data": (2, 4, 5, 6)}
FORMS = [
    Form("Convolution 3×3, pad 1, groups 2", _one("Convolution", "convolution_param { num_output: 6 kernel_size: 3 "
         "pad: 1 group: 2 }"), IMAGE, dict.fromkeys(RUNTIMES, YES), "every convolution",
         {"out": [(6, 2, 3, 3), (6,)]}),
    Form("Deconvolution stride 2 (depthwise, fixed weights)", _one("Deconvolution", "convolution_param { "
         "num_output: 4 kernel_size: 2 stride: 2 group: 4 }"), IMAGE, dict.fromkeys(RUNTIMES, YES),
         "transposed convolutions, nearest upsampling, broadcasting", {"out": [(4, 1, 2, 2), (4,)]}),
    Form("Deconvolution with dilation 2", _one("Deconvolution", "convolution_param { num_output: 4 kernel_size: 3 "
         "dilation: 2 }"), IMAGE, {"pycaffe": YES, "opencv": "no: dilation ignored (smaller output)", "mnn": YES},
         "dilated transposed convolutions only", {"out": [(4, 4, 3, 3), (4,)]}),
    Form("InnerProduct, axis 1", _one("InnerProduct", "inner_product_param { num_output: 3 }"), IMAGE,
         dict.fromkeys(RUNTIMES, YES), "Linear on (N, K)", {"out": [(3, 120), (3,)]}),
    Form("InnerProduct, axis 3", _one("InnerProduct", "inner_product_param { num_output: 3 axis: 3 }"), IMAGE,
         dict.fromkeys(RUNTIMES, YES), "avoided (InnerProduct on a (rows, K) view)", {"out": [(3, 6), (3,)]}),
    Form("InnerProduct after a Reshape of the batch axis", 'layer { name: "r" type: "Reshape" bottom: "data" '
         'top: "r" reshape_param { shape { dim: -1 dim: 6 } } }\n' + _one("InnerProduct", "inner_product_param { "
         "num_output: 3 }", ("r",)), IMAGE, {"pycaffe": YES, "opencv": YES, "mnn": "no: empty output"},
         "avoided (a Flatten between them)", {"out": [(3, 6), (3,)]}),
    Form("InnerProduct after a Reshape of the batch axis and a Flatten", 'layer { name: "r" type: "Reshape" '
         'bottom: "data" top: "r" reshape_param { shape { dim: -1 dim: 6 } } }\nlayer { name: "f" type: "Flatten" '
         'bottom: "r" top: "f" }\n' + _one("InnerProduct", "inner_product_param { num_output: 3 }", ("f",)), IMAGE,
         dict.fromkeys(RUNTIMES, YES), "Linear and matrices on the last axis of any rank: one GEMM",
         {"out": [(3, 6), (3,)]}),
    Form("Scale, one bottom + weights (axis 1)", _one("Scale", "scale_param { bias_term: true }"), IMAGE,
         dict.fromkeys(RUNTIMES, YES), "BatchNorm affine, per-channel constants", {"out": [(4,), (4,)]}),
    Form("Scale, two bottoms", _one("Scale", "scale_param { axis: 0 }", ("data", "data2")),
         {"data": (2, 4, 5, 6), "data2": (2, 4, 5, 6)},
         {"pycaffe": YES, "opencv": YES, "mnn": "no: the converter crashes"}, "avoided (Eltwise PROD)"),
    Form("Bias, two bottoms", _one("Bias", "bias_param { axis: 0 }", ("data", "data2")),
         {"data": (2, 4, 5, 6), "data2": (2, 4, 5, 6)},
         {"pycaffe": YES, "opencv": "no: no Bias layer", "mnn": "no: NaN output"}, "avoided (Eltwise SUM)"),
    Form("Tile", _one("Tile", "tile_param { axis: 2 tiles: 2 }"), IMAGE,
         {"pycaffe": YES, "opencv": "no: 'repeats needs to be treated as parameter'",
          "mnn": "no: the converter fails"},
         "avoided (Deconvolution of ones)"),
    Form("Reduction SUM, axis 1", _one("Reduction", "reduction_param { operation: SUM axis: 1 }"), IMAGE,
         {"pycaffe": YES, "opencv": "no: no Reduction layer", "mnn": YES}, "avoided (Pooling, Convolution)"),
    Form("LRN, k = 2", _one("LRN", "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }"), IMAGE,
         {"pycaffe": YES, "opencv": "no: k ignored", "mnn": "no: k ignored"}, "avoided (k folded into alpha + Power)"),
    Form("LRN, k = 1", _one("LRN", "lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 }"), IMAGE,
         dict.fromkeys(RUNTIMES, YES), "LocalResponseNorm"),
    Form("Log, default base (−1: e)", _one("Log"), {"data": (2, 4, 5, 6)},
         {"pycaffe": YES, "opencv": YES, "mnn": "no: the converter drops the log (identity)"},
         "avoided (base e written out)"),
    Form("Log, base e written out", _one("Log", "log_param { base: 2.718281828459045 }"), {"data": (2, 4, 5, 6)},
         dict.fromkeys(RUNTIMES, YES), "log, log_softmax"),
    Form("Eltwise SUM, coefficients 1, −1", _one("Eltwise", "eltwise_param { operation: SUM coeff: 1 coeff: -1 }",
         ("data", "data2")), {"data": (2, 4, 5, 6), "data2": (2, 4, 5, 6)}, dict.fromkeys(RUNTIMES, YES),
         "add, sub, broadcasting"),
    Form("Eltwise SUM, coefficients 1, −0.5", _one("Eltwise", "eltwise_param { operation: SUM coeff: 1 "
         "coeff: -0.5 }", ("data", "data2")), {"data": (2, 4, 5, 6), "data2": (2, 4, 5, 6)},
         {"pycaffe": YES, "opencv": YES, "mnn": "no: the forward fails"}, "avoided (Power, then coefficients ±1)"),
    Form("Softmax, axis 1 of a 2-D blob", _one("Softmax"), {"data": (3, 7)}, dict.fromkeys(RUNTIMES, YES),
         "softmax over features"),
    Form("Softmax, axis 2 of a 3-D blob", _one("Softmax", "softmax_param { axis: 2 }"), {"data": (2, 3, 7)},
         dict.fromkeys(RUNTIMES, YES), "softmax over the last axis"),
    Form("Softmax, axis 1 of a (1, 2, 16) blob, logits 10 to 200", 'layer { name: "big" type: "Power" '
         'bottom: "data" top: "big" power_param { scale: 100 } }\n' + _one("Softmax", "", ("big",)),
         {"data": (1, 2, 16)}, {"pycaffe": YES, "opencv": YES,
                                "mnn": "no: 0.5 where pycaffe gives 0 or 1 (no max subtraction when the axis has < 8 "
                                       "entries and > 8 follow it)"},
         "avoided (Permute that axis last, Softmax, Permute back)"),
    Form("Softmax, last axis of a (1, 16, 2) blob, logits 10 to 200", 'layer { name: "big" type: "Power" '
         'bottom: "data" top: "big" power_param { scale: 100 } }\n' + _one("Softmax", "softmax_param { axis: 2 }",
                                                                            ("big",)),
         {"data": (1, 16, 2)}, dict.fromkeys(RUNTIMES, YES), "softmax over the last axis, selective-kernel weights"),
    Form("Crop, axis 2, offset 0 (identity)", 'layer { name: "s" type: "Slice" bottom: "data" top: "a" top: "b" '
         'slice_param { axis: 1 slice_point: 1 } }\n' + _one("Crop", "crop_param { axis: 2 offset: 0 }", ("b", "a")),
         IMAGE, dict.fromkeys(RUNTIMES, YES), "eats unused Slice parts"),
    Form("Pooling MAX 3×3 s2, ceil", _one("Pooling", "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }"),
         IMAGE, dict.fromkeys(RUNTIMES, YES), "max/avg pooling"),
    Form("Pooling MAX 2×2 s2 pad 1, ceil, on 5 rows (last window starts in the padding)",
         _one("Pooling", "pooling_param { pool: MAX kernel_size: 2 stride: 2 pad: 1 }"), IMAGE,
         {"pycaffe": YES, "opencv": YES, "mnn": "no: keeps the last window (4 rows where Caffe has 3)"},
         "cropped to PyTorch's count (the shape of a zero Convolution)"),
    Form("Pooling MAX with its argmax mask (second top)", 'layer { name: "p" type: "Pooling" bottom: "data" top: "p" '
         'top: "m" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n' + _one("Eltwise", "", ("p", "m")),
         IMAGE, {"pycaffe": YES, "opencv": YES, "mnn": "no: empty output"}, "MaxUnpool2d (the pooling indices)"),
]
