"""pt2caffe: export PyTorch models to Caffe and prove the export equal in real Caffe."""
__version__ = "0.1.0"

from .convert import export  # noqa: E402

__all__ = ["export", "__version__"]
