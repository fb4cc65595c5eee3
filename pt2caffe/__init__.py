"""pt2caffe: export PyTorch models (and ONNX files) to Caffe and prove the export equal in real Caffe.

    pt2caffe.export(model, example_inputs, "out/Name")            # a torch.nn.Module
    pt2caffe.export_onnx("model.onnx", "out/Name", [(1, 3, 224, 224)])  # an ONNX file

Both are imported on first use (PEP 562 module ``__getattr__``): importing the package or one of its light
modules (the command line's parser, the file writers) loads neither torch nor onnx.
"""
from .version import __version__

__all__ = ["export", "export_onnx", "__version__"]


def __getattr__(name: str):
    if name == "export":
        from .conversion import export
        return export
    if name == "export_onnx":
        from .conversion.onnx_export import export_onnx
        return export_onnx
    raise AttributeError(f"module 'pt2caffe' has no attribute {name!r}")
