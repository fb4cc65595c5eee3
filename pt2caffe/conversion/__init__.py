"""The export pipeline: a model to its net (:mod:`.pipeline`), the report (:mod:`.report`) and the files
(:mod:`.writing`).

    conversion = convert(model, example_inputs)     # trace, lower, settle outputs, probe sizes
    report = write(conversion, "out/Name")          # Name.prototxt, Name.caffemodel, Name.json
    report = export(model, example_inputs, "out/Name")  # both
"""
from .pipeline import Conversion, convert, lower_graph
from .writing import export, write

__all__ = ["Conversion", "convert", "export", "lower_graph", "write"]
