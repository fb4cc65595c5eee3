"""Pair the units of the net pt2caffe writes for the PyTorch model with the units of the user's net.

The walk follows the PyTorch net's order. A PyTorch unit's candidates are the user's unpaired units
with the same key (what they compute) whose input has the same provenance once the units already
paired are translated (or, when none has, the same inputs combined differently: the proof then says
how). Several candidates are narrowed by how each one's output is used further on (which units read
it, at which Concat position; up to ``DEPTH`` units downstream: Inception-v3's 7×7 branches differ
only 7 units on), then by an identical layer name (always there in a round trip). A forced pair from
``--map`` is taken as it is. Anything still ambiguous is refused in one line.
"""
from __future__ import annotations

from collections import defaultdict

from ..errors import Pt2CaffeError
from .units import Unit, atoms

DEPTH = 16


def translate(expr, pairs: dict):
    """A PyTorch-side provenance in user-net terms, or None when it involves an unpaired unit."""
    head = expr[0]
    if head == "u":
        other = pairs.get(expr[1])
        return None if other is None else ("u", other)
    if head == "cat":
        parts = [translate(part, pairs) for part in expr[1]]
        return None if None in parts else ("cat", tuple(parts))
    if head == "part":
        inner = translate(expr[2], pairs)
        return None if inner is None else ("part", expr[1], inner)
    if head in ("elt", "op", "mix"):
        parts = [translate(part, pairs) for part in expr[-1]]
        return None if None in parts else expr[:-1] + (frozenset(parts),)
    return expr


def uses(units: list[Unit], outputs: list) -> dict:
    """Unit → [(role, reading unit or None for a net output)]."""
    found = defaultdict(list)

    def walk(expr, role, reader):
        head = expr[0]
        if head == "u":
            found[expr[1]].append((role, reader))
        elif head == "cat":
            for i, part in enumerate(expr[1]):
                walk(part, role + (("cat", i, len(expr[1])),), reader)
        elif head == "part":
            walk(expr[2], role + (("part", expr[1]),), reader)
        elif head in ("elt", "op", "mix"):
            for part in expr[-1]:
                walk(part, role + (expr[:-1],), reader)

    for unit in units:
        if unit.source is not None and not unit.constant:
            walk(unit.source, (), unit)
    for expr in outputs:
        walk(expr, ("output",), None)
    return found


class Downstream:
    """Colours of units by their key and the colours of their readers, ``depth`` units deep.

    Colours are small integers from a table shared by both nets (Weisfeiler-Lehman style), so equal
    colours mean equal neighbourhoods in either net and nothing grows with the depth."""

    def __init__(self, units: list[Unit], outputs: list, table: dict):
        self.uses = uses(units, outputs)
        self.memo = {}
        self.table = table

    def colour(self, unit: Unit | None, depth: int) -> int:
        if unit is None:
            return self.table.setdefault(("output",), len(self.table))
        key = (id(unit), depth)
        if key not in self.memo:
            readers = tuple(sorted((repr(role), self.colour(reader, depth - 1))
                                   for role, reader in self.uses.get(unit, []))) if depth else ()
            self.memo[key] = self.table.setdefault((unit.key, depth, readers), len(self.table))
        return self.memo[key]


def describe_unit(unit: Unit) -> str:
    """``layer (Type 64×3×3×3) in module (file:line)``."""
    layer = unit.layers[0]
    shape = "×".join(map(str, layer.blobs[0].shape)) if layer.blobs else ""
    return f"{layer.name} ({layer.type} {shape}{', ' + layer.origin if layer.origin else ''})"


def _candidates(unit: Unit, pairs: dict, free: list[Unit]) -> tuple[list[Unit], bool]:
    """The user's units computing what ``unit`` computes on the same inputs, else (``loose``) on the
    same layers combined differently (channels reordered, another pooling …: the proof then says how)."""
    wanted = translate(unit.source, pairs)
    if wanted is None:
        return [], False
    same = [other for other in free if other.key == unit.key]
    exact = [other for other in same if other.source == wanted]
    return (exact, False) if exact else ([other for other in same if atoms(other.source) == atoms(wanted)], True)


def _narrow(unit: Unit, candidates: list[Unit], mine: Downstream, theirs: Downstream) -> list[Unit]:
    """Keep the candidates used further on as ``unit`` is, looking deeper while several remain."""
    for depth in range(1, DEPTH + 1):
        if len(candidates) < 2:
            break
        colour = mine.colour(unit, depth)
        candidates = [other for other in candidates if theirs.colour(other, depth) == colour] or candidates
    return candidates


def _by_name(unit: Unit, candidates: list[Unit], hint, notes: list[str]) -> Unit:
    """The one candidate named like ``unit``, or Pt2CaffeError naming the candidates and the map line."""
    same_name = [other for other in candidates if other.name == unit.name]
    names = ", ".join(other.name for other in candidates)
    if len(same_name) != 1:
        raise Pt2CaffeError(f"ambiguous pairing: PyTorch {describe_unit(unit)} could be Caffe layer {names} (same "
                            f"computation, inputs and uses); add the line '{hint(unit) if hint else unit.name} <- "
                            f"{candidates[0].name}' to a map file and pass --map FILE")
    notes.append(f"{unit.name}: paired with {same_name[0].name} by name among {names}")
    return same_name[0]


def pair_units(torch_units: list[Unit], user_units: list[Unit], torch_outputs: list, user_outputs: list,
               forced: dict | None = None, hint=None) -> tuple[dict, list[str], list[Unit]]:
    """(pairs torch unit → user unit, notes, PyTorch units left without a counterpart).

    ``forced``: torch unit → user unit from ``--map``. ``hint(torch_unit) -> str``: the key to suggest
    in the map line of an ambiguity. Raises Pt2CaffeError on an ambiguity nothing resolves.
    """
    forced = forced or {}
    pairs, notes, lonely = dict(forced), [], []
    taken = {id(other) for other in forced.values()}
    table = {}
    mine, theirs = Downstream(torch_units, torch_outputs, table), Downstream(user_units, user_outputs, table)
    for unit in torch_units:
        if unit.constant or unit in forced:
            continue
        candidates, loose = _candidates(unit, pairs, [other for other in user_units if id(other) not in taken])
        candidates = _narrow(unit, candidates, mine, theirs)
        if not candidates:
            lonely.append(unit)
            continue
        chosen = candidates[0] if len(candidates) == 1 else _by_name(unit, candidates, hint, notes)
        if loose:
            notes.append(f"{unit.name} and {chosen.name} read the same layers combined differently")
        pairs[unit] = chosen
        taken.add(id(chosen))
    return {unit: pairs[unit] for unit in torch_units if unit in pairs}, notes, lonely
