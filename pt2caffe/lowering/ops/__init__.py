"""Op handlers, one module per op family; importing this package registers them all."""
from . import activation, conv, elementwise, linear, matmul, normalization, pooling, reduction, shape  # noqa: F401
from . import indexing, padding, pooling3d, resize, sampling, selection, unpooling  # noqa: F401
from . import attention, layout_chain  # noqa: F401
from . import ssd  # noqa: F401
from . import recurrent  # noqa: F401
