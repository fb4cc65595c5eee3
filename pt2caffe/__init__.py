"""pt2caffe: export PyTorch models (and ONNX files) to Caffe and prove the export equal in real Caffe.

    pt2caffe.export(model, example_inputs, "out/Name")            # a torch.nn.Module
    pt2caffe.export_onnx("model.onnx", "out/Name", [(1, 3, 224, 224)])  # an ONNX file
"""
from .conversion import export
from .version import __version__

__all__ = ["export", "export_onnx", "__version__"]


def __getattr__(name: str):
    """``export_onnx`` is imported on first use (PEP 562): reading ONNX loads the onnx package, which
    PyTorch exports do not need."""
    if name == "export_onnx":
        from .conversion.onnx_export import export_onnx
        return export_onnx
    raise AttributeError(f"module 'pt2caffe' has no attribute {name!r}")
