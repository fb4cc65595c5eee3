"""Size guards obey the target: a guard Reshape the target refuses (NNIE: a literal batch) is left out, and
the report's notes say which axis is unguarded and why."""
from pt2caffe.net.builder import NetBuilder
from pt2caffe.net.dialect import STOCK_SSD
from pt2caffe.net.guards import add_guards
from pt2caffe.net.sizes import InputSizes
from pt2caffe.net.targets import TARGETS


def guarded(target):
    net = NetBuilder("net", STOCK_SSD, target)
    net.input("data", (2, 3, 4, 4))
    add_guards(net, [InputSizes("data", (2, 3, 4, 4), [0, 1], [])])
    return net


def test_portable_guards_every_fixed_axis():
    net = guarded(None)
    assert [layer.name for layer in net.layers] == ["data", "data/size_guard_axis0", "data/size_guard_axis1"]
    assert net.notes == []


def test_nnie_leaves_out_the_batch_guard_and_says_so():
    net = guarded(TARGETS["nnie"])
    assert [layer.name for layer in net.layers] == ["data", "data/size_guard_axis1"]
    assert len(net.notes) == 1 and net.notes[0].startswith("input data: no guard for axis 0 (only 2 is valid)")
    assert "Reshape to 4 axes, the first dim: 0" in net.notes[0]
