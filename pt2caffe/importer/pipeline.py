"""Caffe weights into a PyTorch model: lower the model, pair its units with the user's, undo Caffe's
conventions, invert the lowering. The result is a state_dict and the map of where each key came from."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Pt2CaffeError
from ..net.proto import layer_proto
from .caffe_net import CaffeLayer, CaffeNet, read_net
from .conventions import fold_bias, unit_blobs
from .inversion import gathers, scatter
from .matching import describe_unit, pair_units
from .recurrent import lstm_blobs, lstm_cells
from .units import Unit, find_units, provenance


@dataclass
class TorchSide:
    """The net pt2caffe writes for the model, as CaffeLayers, and what the proof needs of it."""

    net: CaffeNet
    conversion: object
    units: list[Unit] = field(default_factory=list)
    expr: dict = field(default_factory=dict)


@dataclass
class Imported:
    state: dict
    rows: list[tuple[str, str, str]]  # map lines: key, user layer[blob], how
    pairs: dict  # PyTorch-side unit → user unit
    torch: TorchSide
    user: CaffeNet
    user_units: list[Unit]
    user_expr: dict
    notes: list[str]
    folded: set = field(default_factory=set)  # PyTorch-side units whose Caffe bias went into the next BatchNorm


def torch_side(conversion, cells=None) -> TorchSide:
    """The conversion's layers as CaffeLayers (arrays copied: the lowering's arrays share memory with the
    model's parameters), its units and provenance. ``cells(units)``: the units with recurrent cells merged
    (when the user's net has Caffe LSTM layers)."""
    layers = []
    for layer in conversion.net.layers:
        if layer.type == "Input":
            continue
        origin = f"{layer.module or 'the model'} ({layer.source})" if layer.source else ""
        layers.append(CaffeLayer(layer.name, layer.type, list(layer.bottoms), list(layer.tops), layer_proto(layer),
                                 [weight.array.copy() for weight in layer.weights], list(layer.weights), origin))
    net = CaffeNet(layers, [blob.name for blob in conversion.net.inputs], [blob.shape for blob in conversion.net.inputs])
    side = TorchSide(net, conversion)
    side.units = find_units(layers, constant=lambda group: all(w.source is None for layer in group for w in layer.sources))
    if cells is not None:
        side.units = cells(side.units)
    side.expr = provenance(layers, net.inputs, side.units)
    return side


def _fingerprint(layers: list[CaffeLayer]) -> tuple:
    """A unit's type and exact blob bytes: the user's copy of one of pt2caffe's constant layers (a zero
    convolution for a floor-mode Crop, ones for a broadcast) is recognised by being identical."""
    return tuple((layer.type, tuple((blob.shape, blob.tobytes()) for blob in layer.blobs)) for layer in layers)


def net_outputs(net: CaffeNet) -> list[str]:
    """Blobs no layer reads (Caffe's net outputs)."""
    read = {bottom for layer in net.layers for bottom in layer.bottoms}
    return [top for layer in net.layers for top in layer.tops if top not in read]


def _forced(entries: dict, side: TorchSide, user_units: list[Unit], path: str) -> dict:
    """--map lines as unit pairs."""
    by_key = {key: unit for unit in side.units for layer in unit.layers for w in layer.sources if w.source
              for key in w.source.split(", ")}
    by_layer = {layer.name: unit for unit in user_units for layer in unit.layers}
    forced = {}
    for key, layer in entries.items():
        if key not in by_key:
            raise Pt2CaffeError(f"--map {path}: {key} is not a parameter the model's forward uses")
        if layer not in by_layer:
            raise Pt2CaffeError(f"--map {path}: the Caffe net has no layer {layer} with weights")
        forced[by_key[key]] = by_layer[layer]
    return forced


def _map_hint(unit: Unit) -> str:
    sources = [w.source for layer in unit.layers for w in layer.sources if w.source]
    return sources[0].split(", ")[0] if sources else unit.name


def _bias_reader(unit: Unit, units: list[Unit]) -> Unit | None:
    readers = [other for other in units if other.source == ("u", unit)]
    return readers[0] if len(readers) == 1 and readers[0].kind == "batch norm" else None


def _pair(side: TorchSide, user: CaffeNet, user_units: list[Unit], user_expr: dict, entries: dict,
          map_path: str, prototxt: str) -> tuple[dict, list[str]]:
    """Every PyTorch-side unit holding parameters paired (Pt2CaffeError naming the first ones without)."""
    forced = _forced(entries, side, user_units, map_path)
    pairs, notes, lonely = pair_units(side.units, user_units, [side.expr[b.name] for b in side.conversion.output_blobs],
                                      [user_expr[b] for b in net_outputs(user)], forced, _map_hint)
    sourced = [unit for unit in lonely if any(w.source for layer in unit.layers for w in layer.sources)]
    if sourced:
        names = "; ".join(describe_unit(unit) for unit in sourced[:3])
        raise Pt2CaffeError(f"{len(sourced)} PyTorch layer(s) have no counterpart in {prototxt}: {names}"
                            f"{' …' if len(sourced) > 3 else ''} (same computation and inputs not found)")
    return pairs, notes


def _blobs(pairs: dict, units: list[Unit], plan: dict) -> tuple[dict, set]:
    """The PyTorch-side blobs from the user's (conventions undone), and the units whose bias was folded."""
    blobs, biases, folded = {}, [], set()
    for unit, other in pairs.items():
        values, bias = (lstm_blobs(unit, other, plan), None) if unit.cell else unit_blobs(unit, other)
        blobs.update(values)
        if bias is not None:
            biases.append((unit, other, bias))
    for unit, other, bias in biases:
        reader = _bias_reader(unit, units)
        if reader is None or reader not in pairs:
            raise Pt2CaffeError(f"Caffe {other.name} has a bias where PyTorch's {describe_unit(unit)} has none and "
                                "no BatchNorm follows to take it: give the PyTorch layer bias=True")
        fold_bias(blobs, bias, reader, other.name)
        folded.add(unit)
    return blobs, folded


def import_weights(model, lower, prototxt: str, caffemodel: str, entries: dict | None = None,
                   map_path: str = "") -> Imported:
    """The model's state_dict from the user's Caffe net. ``lower(model)`` → the Conversion pt2caffe makes
    of the model at the import's input shapes; ``entries`` the --map lines (key → Caffe layer)."""
    user = read_net(prototxt, caffemodel)
    conversion = lower(model)
    cells = any(layer.type == "LSTM" for layer in user.layers)
    side = torch_side(conversion, (lambda units: lstm_cells(units, model, conversion)) if cells else None)
    constants = {_fingerprint(unit.layers) for unit in side.units if unit.constant}
    user_units = find_units(user.layers, constant=lambda group: _fingerprint(group) in constants)
    user_expr = provenance(user.layers, user.inputs, user_units)
    pairs, notes = _pair(side, user, user_units, user_expr, entries or {}, map_path, prototxt)
    plan = gathers(model, lambda m: lower(m).net, side.conversion.net.layers)
    blobs, folded = _blobs(pairs, side.units, plan)
    state, unused, summed = scatter({where: value[0] for where, value in blobs.items()}, plan, model.state_dict())
    rows = _rows(plan, blobs, model.state_dict(), unused, summed)
    if summed:
        notes.append(f"{', '.join(summed)}: held in Caffe only as a sum with another bias (b_ih + b_hh); the sum is "
                     "in the other key, these are 0 there (same forward; the map says which elements)")
    return Imported(state, rows, pairs, side, user, user_units, user_expr, notes, folded)


def _rows(plan, blobs, state, unused, summed) -> list[tuple[str, str, str]]:
    """The map's lines: (key, user layer[blob] or (none), how), in the state_dict's order."""
    said = {}
    for where, gathered in plan.items():
        if where in blobs:
            _, origin, how = blobs[where]
            for gather in gathered:
                said.setdefault(gather.key, (origin, "; ".join(filter(None, [how, summed.get(gather.key, "")]))))
    rows = []
    for key, tensor in state.items():
        if key in said:
            rows.append((key, *said[key]))
        elif not tensor.is_floating_point():
            rows.append((key, "(none)", "not a weight: kept from the model"))
        elif key in unused:
            rows.append((key, "(none)", "the forward does not use it: kept from the model"))
    return rows
