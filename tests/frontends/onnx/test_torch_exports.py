"""Zoo models (tests/zoo) written by torch.onnx.export — both exporters (TorchScript: dynamo=False; torch.export:
dynamo=True) at opsets 7 to 21 — exported by the ONNX front end and checked against onnxruntime (not torch:
an opset-9 bilinear Upsample computes ONNX's asymmetric interpolation, which differs from PyTorch's) in
pycaffe on every blob and output, OpenCV and MNN on every output. One exporter/opset per model keeps the
suite short; together they cover every exporter and opset listed."""
import pytest

from onnx_cases import check_pycaffe, check_runtimes, export_onnx, onnxruntime_outputs
from onnx_corpus import torch_export

CASES = [  # (zoo model, exporter, opset): what the export brings to the front end
    ("resnet18", "ts", 7),  # opset 7: BatchNormalization kept, initializers listed among the graph inputs (IR 3)
    ("squeezenet", "ts", 9),
    ("unet", "ts", 9),  # Upsample-9 linear: asymmetric coordinates, not PyTorch's half-pixel
    ("mobilenetv3_large", "ts", 11),  # HardSigmoid + Mul for hardswish before opset 14
    ("deeplabv3", "ts", 11),  # Resize linear (half_pixel), dilated convolutions
    ("centernet", "ts", 11),  # three outputs
    ("shufflenetv2", "ts", 13),  # channel shuffle: Reshape/Transpose; chunk as Slices computed from Shape
    ("crnn", "ts", 13),  # bidirectional LSTM
    ("yolov5_stem", "ts", 13),  # strided Slice (the "focus" space-to-depth), index assignment as ScatterND
    ("efficientnet_b0", "ts", 14),
    ("vit_tiny", "ts", 17),  # LayerNormalization, GELU written with Erf, attention MatMuls, Where on shapes
    ("yolo", "ts", 17),
    ("nonlocal_block", "ts", 21),
    ("inception_v3", "dynamo", 18),
    ("pspnet", "dynamo", 18),  # adaptive pooling to sizes that do not divide the input (no TorchScript export)
    ("multi_io", "dynamo", 18),  # several inputs and outputs
    ("gru_classifier", "dynamo", 21),
    ("dla34", "dynamo", 21),
]


@pytest.mark.parametrize("name,exporter,opset", CASES, ids=[f"{n}-{e}{o}" for n, e, o in CASES])
def test_export_matches_onnxruntime(name, exporter, opset, tmp_path):
    path = torch_export(name, exporter, opset, str(tmp_path))
    export = export_onnx(path, tmp_path, probe_sizes=False)
    expected = onnxruntime_outputs(export)
    check_pycaffe(export, expected)
    check_runtimes(export, expected)
