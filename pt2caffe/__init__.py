"""pt2caffe: export PyTorch models to Caffe and prove the export equal in real Caffe.

``export`` is imported on first use (PEP 562 module ``__getattr__``): importing the package or one of its
light modules (the command line's parser, the file writers) does not import torch.
"""
from .version import __version__

__all__ = ["export", "__version__"]


def __getattr__(name: str):
    if name == "export":
        from .conversion import export
        return export
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
