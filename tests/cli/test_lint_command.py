"""``pt2caffe lint NET.prototxt --target T``: each violation on its own line with the rule and its source,
exit 1 when any; a clean net exits 0; what ``run --target`` refuses is one line naming op, source line, rule
and target."""
import textwrap
from pathlib import Path

import pytest

from pt2caffe.cli import main

PERMUTED = textwrap.dedent('''
    layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 8 dim: 6 dim: 6 } } }
    layer { name: "turn" type: "Permute" bottom: "data" top: "turn" permute_param { order: 0 order: 1 order: 3 order: 2 } }
    layer { name: "rows" type: "Reshape" bottom: "turn" top: "rows" reshape_param { shape { dim: -1 dim: 6 dim: 1 dim: 1 } } }
''')


def test_lint_names_every_violation_with_its_rule_and_source(tmp_path, capsys):
    path = tmp_path / "net.prototxt"
    path.write_text(PERMUTED)
    assert main(["lint", str(path), "--target", "nnie"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("layer turn (Permute)") and "(0,2,3,1)" in line and "yolov5_onnx2caffe#8" in line
               for line in lines)
    assert any(line.startswith("layer rows (Reshape)") and "batch" in line and "HiSVP" in line for line in lines)
    assert lines[-1].endswith("3 violation(s) of target nnie (HiSilicon NNIE (nnie_mapper))")


def test_lint_of_a_clean_net_exits_zero(tmp_path, capsys):
    path = tmp_path / "net.prototxt"
    path.write_text(PERMUTED)
    assert main(["lint", str(path), "--target", "rknn"]) == 0
    assert "0 violation(s) of target rknn" in capsys.readouterr().out


def test_lint_needs_a_known_target(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(PERMUTED)
    with pytest.raises(SystemExit) as stop:
        main(["lint", str(path), "--target", "tensorrt"])
    assert stop.value.code == 2


def test_lint_of_a_net_caffe_refuses_names_the_layer(tmp_path, capsys):
    """Caffe's shapes come from net/shapes: an Eltwise of two blobs of different shapes is Caffe's abort,
    reported in one line naming the layer (no Caffe is started)."""
    path = tmp_path / "net.prototxt"
    path.write_text(PERMUTED.replace("dim: 6 dim: 6", "dim: 6 dim: 5") + textwrap.dedent('''
        layer { name: "sum" type: "Eltwise" bottom: "data" bottom: "turn" top: "sum" }
    '''))
    assert main(["lint", str(path), "--target", "rknn"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "layer 'sum' (Eltwise)" in err[0], err


@pytest.mark.parametrize("target", ["nnie", "rknn", "ncnn", "portable"])
def test_lint_of_an_ssd_net_with_run_time_sized_tops(target, capsys):
    """DetectionOutput's top has a count known only at run time (None in net/shapes): every rule still judges
    the net, and nnie names PriorBox's 3-axis tops."""
    net = Path(__file__).parents[1] / "data" / "caffe_nets" / "ssd300_vgg16.prototxt"
    code = main(["lint", str(net), "--target", target])
    out = capsys.readouterr().out
    assert code in (0, 1) and "violation(s) of target" in out.splitlines()[-1]
    if target == "nnie":
        assert code == 1 and any("(PriorBox)" in line and "2 or 4 axes" in line for line in out.splitlines())


def test_lint_of_a_caffemodel_given_as_the_prototxt_is_one_line(tmp_path, capsys):
    binary = tmp_path / "net.caffemodel"
    binary.write_bytes(b"\n\x05\xfa\xfb\xfc\x00\x12")
    assert main(["lint", str(binary), "--target", "nnie"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a prototxt (not UTF-8 text" in err[0], err
