"""Caffe's LSTM layer in a user's net ↔ an nn.LSTM in the PyTorch definition.

Caffe's LSTM (lstm_layer.cpp, lstm_unit_layer.cpp; BVLC and the SSD branch alike) takes x (T, N, F) and
``cont`` (T, N: 0 where a sequence starts, so h and c restart from 0) and holds three blobs: W_xc (4H, F)
and b_c (4H) of its input transform, W_hc (4H, H) of the hidden one; the gate rows are i, f, o, g.
nn.LSTM (PyTorch documentation) holds per layer weight_ih_l{k} (4H, F), weight_hh_l{k} (4H, H),
bias_ih_l{k} and bias_hh_l{k} (4H), gate rows i, f, g, o, and adds both biases. So: weights with their
gate rows reordered, b_c → bias_ih (reordered) and bias_hh = 0 (the sum is the same, the forward too).

pt2caffe lowers each nn.LSTM layer to many layers (unrolled steps); on the PyTorch side the units holding
one layer's (one direction's) weights become one cell unit, paired with one Caffe LSTM layer. The
PyTorch-side blobs are then read from the wanted state_dict tensors through the lowering's gathers,
whatever layout the lowering gives them.
"""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
from torch import nn

from ..errors import Pt2CaffeError
from .caffe_net import CaffeNet, plain_name
from .units import Unit

CELL_KEY = re.compile(r"^(?:(?P<module>.+)\.)?(?P<role>weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)"
                      r"(?P<reverse>_reverse)?$")
GATES = "Caffe's gate rows i, f, o, g → PyTorch's i, f, g, o"


def _keys(unit: Unit) -> set[str]:
    return {key for layer in unit.layers for weight in layer.sources if weight.source
            for key in weight.source.split(", ")}


def _cell_of(unit: Unit, model: nn.Module) -> tuple | None:
    """(module path, layer, reverse) of the nn.LSTM layer whose parameters are all the unit holds."""
    found = set()
    for key in _keys(unit):
        match = CELL_KEY.match(key)
        if match is None:
            return None
        found.add((match["module"] or "", int(match["layer"]), bool(match["reverse"])))
    if len(found) != 1:
        return None
    cell = found.pop()
    return cell if isinstance(model.get_submodule(cell[0]), nn.LSTM) else None


def lstm_cells(units: list[Unit], model: nn.Module, conversion) -> list[Unit]:
    """``units`` with the units of each nn.LSTM layer and direction merged into one cell unit (key
    ("lstm", H, F), first layer the input transform), in the place of its first unit."""
    cells = {unit: _cell_of(unit, model) for unit in units}
    groups = defaultdict(list)
    for unit in units:
        if cells[unit] is not None:
            groups[cells[unit]].append(unit)
    merged, done = [], set()
    for unit in units:
        cell = cells[unit]
        if cell is None:
            merged.append(unit)
        elif cell not in done:
            done.add(cell)
            merged.append(_cell_unit(cell, groups[cell], model, conversion))
    return merged


def _cell_unit(cell: tuple, members: list[Unit], model: nn.Module, conversion) -> Unit:
    module, layer, reverse = cell
    lstm = model.get_submodule(module)
    suffix = f"_l{layer}{'_reverse' if reverse else ''}"
    weight_ih = getattr(lstm, f"weight_ih{suffix}")
    first = sorted(members, key=lambda unit: not any(key.split(".")[-1].startswith("weight_ih") for key in _keys(unit)))
    layers = [member for unit in first for member in unit.layers]
    hidden, features = weight_ih.shape[0] // 4, weight_ih.shape[1]
    return Unit(layers, ("lstm", hidden, features), out=_output_blob(lstm, module, layer, reverse, conversion), cell=True)


def _output_blob(lstm: nn.LSTM, module: str, layer: int, reverse: bool, conversion) -> str:
    """The blob of the nn.LSTM's output (T, N, H), when this cell alone makes it (last layer, one
    direction, time-major: Caffe's layout), else "" (compared through what reads it)."""
    if reverse or lstm.bidirectional or lstm.batch_first or layer != lstm.num_layers - 1:
        return ""
    for op in conversion.graph.ops:
        if op.kind == "lstm" and op.module_path == module:
            blob = conversion.blobs.get(op.outputs[0].index)
            return blob.name if blob is not None else ""
    return ""


def _wanted(user, key: str, bias_used: bool) -> tuple[np.ndarray, int]:
    """The state_dict tensor ``key`` from the Caffe LSTM ``user`` and the index of the blob it comes from."""
    if len(user.bottoms) != 2 or len(user.blobs) != 3:
        raise Pt2CaffeError(f"Caffe LSTM {user.name} has a static input or exposed hidden state ({len(user.bottoms)} "
                            "bottoms): nn.LSTM has no counterpart")
    w_xc, b_c, w_hc = user.blobs
    hidden = w_xc.shape[0] // 4
    order = np.r_[0:2 * hidden, 3 * hidden:4 * hidden, 2 * hidden:3 * hidden]
    if not bias_used and b_c.any():
        raise Pt2CaffeError(f"Caffe LSTM {user.name} has a bias b_c where the nn.LSTM has none: give it bias=True")
    role = CELL_KEY.match(key)["role"]
    if role == "bias_hh":
        return np.zeros(b_c.size, np.float32), 1
    index = {"weight_ih": 0, "bias_ih": 1, "weight_hh": 2}[role]
    return user.blobs[index].reshape(4 * hidden, -1)[order].reshape(-1), index


def lstm_blobs(mine: Unit, theirs: Unit, plan: dict) -> dict:
    """The PyTorch-side blobs of a cell unit from the Caffe LSTM it is paired with: each element read from
    the wanted state_dict tensors (see the module docstring) through ``plan`` (inversion.gathers)."""
    user = theirs.layers[0]
    keys = {gather.key for layer in mine.layers for bi in range(len(layer.blobs))
            for gather in plan.get((layer.name, bi), ())}
    bias_used = any(CELL_KEY.match(key)["role"].startswith("bias") for key in keys)
    out = {}
    for layer in mine.layers:
        for bi, blob in enumerate(layer.blobs):
            gathered = plan.get((layer.name, bi))
            if not gathered:
                continue
            value = np.zeros(blob.size, np.float64)
            for gather in gathered:
                source, index = _wanted(user, gather.key, bias_used)
                if gather.how:
                    raise Pt2CaffeError(f"the lowering of {layer.name} ({gather.how}) is not one import undoes for "
                                        f"Caffe LSTM {user.name}")
                value += source if gather.index is None else np.where(gather.index >= 0, source[gather.index], 0)
            first = _wanted(user, gathered[0].key, bias_used)[1]
            how = GATES + ("; b_c is Caffe's one bias (bias_ih + bias_hh)" if first == 1 else "")
            out[(layer.name, bi)] = (value.astype(np.float32).reshape(blob.shape), f"{user.name}[{first}]", how)
    return out


def marker_feeds(net: CaffeNet, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Caffe's ``cont`` inputs for the proof: 0 at the first step, 1 after (every batch item one sequence
    from a zero state, as nn.LSTM without h_0, c_0). Shape (T, N) of the recurrent layer's x when it is
    fed, else as declared."""
    made = {}
    for name, declared in net.markers.items():
        reader = next(layer for layer in net.layers if layer.bottoms[1:2] == [name])
        data = feeds.get(plain_name(reader.bottoms[0]))
        cont = np.ones(data.shape[:2] if data is not None else declared, np.float32)
        cont[0] = 0
        made[plain_name(name)] = cont
    return made
