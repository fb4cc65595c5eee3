"""The converters, one module per ONNX op family (importing this package registers them all)."""
from . import (activation, constants, conv, elementwise, matmul, normalization, pooling, recurrent,  # noqa: F401
               reduction, resize, scatter, shape)
