"""The ONNX front end: an ONNX file becomes the same op graph the torch front end records.

How: :class:`~pt2caffe.frontends.onnx.interpreter.OnnxModule` is an ``nn.Module`` whose forward runs
the graph's nodes in order, each with a small converter (``ops/<family>.py``, registered with
``@converts("Conv", ...)``) that computes the node with torch functions chosen so that pt2caffe's
existing lowerings apply. The torch front end's tracer records that run (``trace.py``), so shape
subgraphs (Shape → Gather → Concat → Reshape, Cast, ConstantOfShape, Range) fold to constants at the
traced input shape, and every handler, size probe, output rule, SSD head and ``check`` applies
unchanged. Initializers are named buffers under their ONNX names, so the report's weight map names
them; every recorded op carries its ONNX node (name, op_type) as its module path and source.

Semantics follow the ONNX operator specification (onnx/docs/Operators.md and Changelog.md) per
opset, 7 to 21; where the specification leaves arithmetic open (Resize's output sizes and
coordinates), onnxruntime's choices are followed, since ``check`` compares with it.
"""
