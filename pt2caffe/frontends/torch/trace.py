"""``trace()``: run a torch model once under the recorder and return its op graph (pt2caffe.graph)."""
from __future__ import annotations

import sys
import traceback
from typing import Any, Callable

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from ...errors import Pt2CaffeError, one_line
from ...graph import Graph, Value
from .recorder import Recorder
from .sources import traceback_user_line


def _input_tensors(example_inputs) -> list[torch.Tensor]:
    if isinstance(example_inputs, torch.Tensor):
        return [example_inputs]
    return list(example_inputs)


def _flatten_outputs(obj, path: str, found: list[tuple[str, Any]]) -> None:
    if isinstance(obj, dict):
        for key, item in obj.items():
            _flatten_outputs(item, f"{path}[{key!r}]", found)
    elif isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            _flatten_outputs(item, f"{path}[{i}]", found)
    else:
        found.append((path, obj))


def _output_value(recorder: Recorder, path: str, obj) -> Value:
    """The traced value of one model output; a constant output (SSD priors) becomes a "constant" op."""
    if not isinstance(obj, torch.Tensor):
        raise Pt2CaffeError(f"model output {path} is a {type(obj).__name__}, not a tensor; "
                            "only tensors can be exported")
    if id(obj) in recorder.values_by_id or id(obj) in recorder.stale:
        return recorder.classify(obj)  # its Value (or the error for a tensor changed behind the trace)
    op = recorder.record("constant", (recorder.classify(obj),), {}, obj.clone(), "", None)
    op.source, op.name = f"<constant model output {path}>", "constant_output"
    return op.outputs[0]


def trace(model: nn.Module, example_inputs, *, capture: bool = False,
          is_atomic: Callable[[nn.Module], bool] = lambda module: False,
          substitute: dict[int, torch.Tensor] | None = None) -> Graph:
    """Run ``model`` once on ``example_inputs`` and return the recorded graph.

    ``capture`` keeps a copy of every traced tensor (for comparisons);
    ``is_atomic`` names modules recorded as one op (``module:ClassName``)
    instead of the ops inside them; ``substitute`` ({value index: tensor}) makes the model go on with
    those tensors in place of the values it computes (value indices are the same from run to run of
    one model on inputs of one shape).
    """
    model.eval()
    recorder = Recorder(model, capture, is_atomic, substitute)
    inputs = [tensor.detach().clone() for tensor in _input_tensors(example_inputs)]
    handles = [register_module_forward_pre_hook(recorder.pre_hook), register_module_forward_hook(recorder.post_hook)]
    try:
        input_values = [recorder.new_value(tensor, None) for tensor in inputs]
        recorder.stop_frame = sys._getframe()
        with torch.no_grad(), recorder:
            result = model(*inputs)
    except Pt2CaffeError:
        raise
    except SystemExit as stop:  # sys.exit() in forward must not end pt2caffe (with exit code 0, even)
        raise Pt2CaffeError(f"the model called sys.exit() at {traceback_user_line(stop)} while tracing",
                            traceback.format_exc()) from None
    except Exception as error:  # the user's forward failed: say where
        raise Pt2CaffeError(f"the model raised {type(error).__name__} at {traceback_user_line(error)} while "
                            f"tracing: {one_line(str(error), 500)}", traceback.format_exc()) from None
    finally:
        for handle in handles:
            handle.remove()
    found: list[tuple[str, Any]] = []
    _flatten_outputs(result, "out", found)
    outputs = [_output_value(recorder, path, obj) for path, obj in found]
    return Graph(input_values, recorder.ops, outputs, [p for p, _ in found], recorder.values, recorder.notes)
