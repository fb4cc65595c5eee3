"""pt2caffe: export PyTorch models to Caffe and prove the export equal in real Caffe."""
from .conversion import export
from .version import __version__

__all__ = ["export", "__version__"]
