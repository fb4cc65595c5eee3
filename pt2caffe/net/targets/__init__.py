"""Deployment targets as data: each module holds one target's rules with their sources."""
from . import ncnn, nnie, rknn, runtimes
from .lint import Violation, lint
from .target import Target

TARGETS = {target.name: target for target in (runtimes.PORTABLE, runtimes.PYCAFFE, runtimes.OPENCV, runtimes.MNN,
                                              nnie.TARGET, rknn.TARGET, ncnn.TARGET)}
DEFAULT = runtimes.PORTABLE
__all__ = ["DEFAULT", "TARGETS", "Target", "Violation", "lint"]
