"""Provenance stays small where a net nests each step's value in the next one several times (unrolled
recurrent steps with their weights stored once): past LARGEST nodes an expression keeps only its atoms."""
import numpy as np

from pt2caffe.importer.caffe_net import CaffeLayer
from pt2caffe.importer.units import LARGEST, find_units, provenance
from pt2caffe.net import caffe_pb2


def _layer(name, kind, bottoms, tops, blobs=()):
    return CaffeLayer(name, kind, bottoms, tops, caffe_pb2.LayerParameter(name=name, type=kind), list(blobs))


def _tree_nodes(expr, memo):
    """Nodes of ``expr`` written out as a tree (each shared part counted once per use, computed once)."""
    if id(expr) not in memo:
        head = expr[0]
        parts = (expr[1] if head == "cat" else [expr[2]] if head == "part" else
                 expr[-1] if head in ("elt", "op", "mix") else [])
        memo[id(expr)] = (expr, 1 + sum(_tree_nodes(part, memo) for part in parts))
    return memo[id(expr)][1]


def test_a_value_nested_twice_per_step_does_not_double_the_work():
    layers = [_layer("fc", "InnerProduct", ["x"], ["h0"], [np.ones((4, 4), np.float32)])]
    for t in range(1, 61):  # h_t = h_{t-1}[:2] · h_{t-1}[2:]: as a tree, 2^60 nodes
        layers += [_layer(f"cut{t}", "Slice", [f"h{t - 1}"], [f"a{t}", f"b{t}"]),
                   _layer(f"mul{t}", "Eltwise", [f"a{t}", f"b{t}"], [f"h{t}"])]
    units = find_units(layers)
    expr = provenance(layers, ["x"], units)
    assert expr["h3"][0] == "elt"  # small ones are kept as they are
    assert ("mix", frozenset([("u", units[0])])) in [expr[f"h{t}"] for t in range(61)]
    memo = {}
    assert max(_tree_nodes(expr[f"h{t}"], memo) for t in range(61)) <= 4 * LARGEST
