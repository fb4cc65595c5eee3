"""Rockchip RKNN through rknn-toolkit2 2.5.0's ``load_caffe`` (PC simulator, fp16).

Sources: airockchip/rknn-toolkit2 doc/RKNNToolKit2_OP_Support (v2.1.0, "Caffe OPs supported by RKNN
Toolkit2"); rockchip-linux/rknn-toolkit2#138 (DetectionOutput); and measurements with the simulator
(issue 24's notes): types outside the list that load but compute something else are refused here.
"""
from __future__ import annotations

from .. import caffe_pb2
from .rules import field_rule, layer_types, pooling_mask
from .target import Target

DOC = "airockchip/rknn-toolkit2 doc/RKNNToolKit2_OP_Support (Caffe OPs)"
LISTED = frozenset("""Input BatchNorm BN BNLL Concat Convolution ConvolutionDepthwise Crop Deconvolution Dropout
Eltwise Flatten HardSigmoid InnerProduct LRN Lstm Normalize Permute Power Pooling PReLU Proposal Reduction ReLU
ReLU6 Reorg Reshape Resize Reverse ROIPooling Scale Sigmoid Slice Softmax Split TanH Tile Transpose
Upsample""".split())
REFUSED = {
    "AbsVal": "loads, computes the identity (measured)",
    "Exp": "loads, computes something else (measured)",
    "ELU": "loads, computes something else (measured)",
    "Bias": "loads, computes something else (measured)",
    "Silence": "the simulator returns the silenced blob as a net output instead (measured)",
    "DetectionOutput": "'OP in Layer detection_out Current not support' (rockchip-linux/rknn-toolkit2#138)",
}



def _product(layer, site):
    if layer.eltwise_param.operation == caffe_pb2.EltwiseParameter.PROD and len(layer.bottom) > 2:
        return f"a PROD of {len(layer.bottom)} bottoms"
    return None


TARGET = Target("rknn", "Rockchip RKNN (rknn-toolkit2 2.5.0 load_caffe)", (
    layer_types("rknn.types", allowed=LISTED, refused=REFUSED, source=DOC + " + simulator (measured)"),
    field_rule("rknn.product", "Eltwise", "Eltwise PROD of two bottoms", _product,
               source="simulator (measured): a three-bottom PROD becomes an ONNX Mul of three inputs, which its "
                      "graph optimiser rejects (INVALID_GRAPH)"),
    pooling_mask("rknn.pooling_mask", source="simulator (measured): the converted graph is invalid"),
), checked_by="rknn")
