"""The command line: `pt2caffe run` end to end, and one clear line for every bad input."""
import json
import os
import importlib.util
import subprocess
import sys
import textwrap

import pytest
import torch

from pt2caffe.cli import main

MODEL_PY = textwrap.dedent('''
    import torch
    import torch.nn as nn

    INPUT_SHAPE = (1, 3, 16, 16)


    class TinyNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.pool = nn.MaxPool2d(3, 2, 1)
            self.fc = nn.Linear(4 * 8 * 8, 5)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn(self.conv(x))))
            return self.fc(x.flatten(1)), x


    def build_model():
        return TinyNet()


    def other_entry():
        return TinyNet()
''')


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.fixture
def project(tmp_path):
    """A model file and matching weights in a fresh directory."""
    (tmp_path / "model.py").write_text(MODEL_PY)
    namespace = {}
    exec(compile(MODEL_PY, str(tmp_path / "model.py"), "exec"), namespace)
    torch.save(namespace["build_model"]().state_dict(), tmp_path / "weights.pth")
    return tmp_path


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def outputs_in(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith((".prototxt", ".caffemodel", ".json"))
                  or name.startswith(".tmp-"))


def test_run_writes_three_files_and_a_summary(project, capsys):
    code, out, err = run_cli(["run", project / "model.py", project / "weights.pth"], capsys)
    assert code == 0, err
    assert outputs_in(project) == ["TinyNet.caffemodel", "TinyNet.json", "TinyNet.prototxt"]
    assert "torch output out[0]: [1, 5]" in out and "torch output out[1]: [1, 4, 8, 8]" in out
    report = json.loads((project / "TinyNet.json").read_text())
    assert [o["shape"] for o in report["outputs"]] == [[1, 5], [1, 4, 8, 8]]
    assert report["source"]["input_shapes"] == [[1, 3, 16, 16]]
    assert {w["torch"] for w in report["weights"] if w["torch"]} == {
        "conv.weight", "conv.bias", "bn.running_mean", "bn.running_var", "bn.weight", "bn.bias",
        "fc.weight", "fc.bias"}
    conv = next(layer for layer in report["layers"] if layer["name"] == "conv")
    assert conv["module"] == "conv" and conv["source"].endswith(f"model.py:{line_of(MODEL_PY, 'x = self.pool(')}")


def test_python_module_entry_point(project):
    result = subprocess.run([sys.executable, "-m", "pt2caffe", "run", str(project / "model.py"),
                             str(project / "weights.pth"), "-o", str(project / "out"), "--name", "tiny",
                             "--input-shape", "2,3,16,16", "--entry", "other_entry"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(project / "out")) == ["tiny.caffemodel", "tiny.json", "tiny.prototxt"]
    assert "dim: 2\n" in (project / "out" / "tiny.prototxt").read_text()


@pytest.mark.parametrize("wrap", ["state_dict", "model", "net", "module_prefix"])
def test_checkpoint_layouts(project, capsys, wrap):
    state = torch.load(project / "weights.pth", weights_only=True)
    if wrap == "module_prefix":
        checkpoint = {"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}
    else:
        checkpoint = {wrap: state, "epoch": 3}
    torch.save(checkpoint, project / "ckpt.pth")
    code, _, err = run_cli(["run", project / "model.py", project / "ckpt.pth"], capsys)
    assert code == 0, err


def test_pickled_model_needs_opt_in(project, capsys):
    torch.save({"model": torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))}, project / "whole.pth")
    code, _, err = run_cli(["run", project / "model.py", project / "whole.pth"], capsys)
    assert code == 1 and "--unsafe-pickle" in err and len(err.strip().splitlines()) == 1
    assert outputs_in(project) == []


def test_pickled_model_from_an_unimportable_module_names_the_module(project, capsys):
    """torch.save(model) pickles the class by module name: loaded elsewhere, the module is missing, not the file
    corrupt."""
    (project / "netdef.py").write_text("import torch\n\nclass Tiny(torch.nn.Module):\n"
                                       "    def __init__(self):\n        super().__init__()\n"
                                       "        self.conv = torch.nn.Conv2d(3, 4, 3)\n")
    saver = ("import sys, torch; sys.path.insert(0, sys.argv[1]); import netdef; "
             "torch.save(netdef.Tiny(), sys.argv[2])")
    subprocess.run([sys.executable, "-c", saver, str(project), str(project / "whole.pth")], check=True)
    (project / "netdef.py").unlink()
    line = expect_one_line_error(["run", project / "model.py", project / "whole.pth", "--unsafe-pickle"], capsys,
                                 "needs module 'netdef'", "PYTHONPATH")
    assert "corrupt" not in line


def expect_one_line_error(args, capsys, *fragments):
    code, out, err = run_cli(args, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pt2caffe: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_missing_model_file(project, capsys):
    expect_one_line_error(["run", project / "nope.py", project / "weights.pth"], capsys,
                          "model file not found", "nope.py")


def test_missing_weights_file(project, capsys):
    expect_one_line_error(["run", project / "model.py", project / "nope.pth"], capsys, "weights file not found")
    assert outputs_in(project) == []


def test_wrong_entry_point(project, capsys):
    expect_one_line_error(["run", project / "model.py", project / "weights.pth", "--entry", "make_it"], capsys,
                          "has no function make_it()", "--entry")


def test_mismatched_weights_list_keys(project, capsys):
    state = torch.load(project / "weights.pth", weights_only=True)
    state["extra.weight"] = torch.zeros(1)
    del state["fc.bias"]
    torch.save(state, project / "bad.pth")
    expect_one_line_error(["run", project / "model.py", project / "bad.pth"], capsys,
                          "missing fc.bias", "unexpected extra.weight")
    assert outputs_in(project) == []
    code, _, err = run_cli(["run", project / "model.py", project / "bad.pth", "--non-strict"], capsys)
    assert code == 0
    assert "pt2caffe: note: --non-strict: 1 of" in err and "keep the values the model's constructor gave them" in err \
        and "fc.bias" in err  # never silent about weights left at their initial values


def test_wrong_weight_shape(project, capsys):
    state = torch.load(project / "weights.pth", weights_only=True)
    state["fc.weight"] = torch.zeros(5, 3)
    torch.save(state, project / "bad.pth")
    expect_one_line_error(["run", project / "model.py", project / "bad.pth"], capsys, "fc.weight [5, 3]")


def test_unknown_op_names_module_and_line(project, capsys):
    source = MODEL_PY.replace("x = self.pool(", "x = torch.cumsum(x, 1)\n        x = self.pool(")
    (project / "model.py").write_text(source)
    line = expect_one_line_error(["run", project / "model.py", project / "weights.pth"], capsys,
                                 "unsupported op cumsum")
    assert f"model.py:{line_of(source, 'cumsum')}" in line
    assert outputs_in(project) == []


SEQUENTIAL_PY = """import torch.nn as nn


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.Hardshrink()]


def build_model():
    layers = block(3, 4) + block(4, 4)
    return nn.Sequential(*layers, nn.Flatten())


INPUT_SHAPE = (1, 3, 8, 8)
"""


@pytest.mark.parametrize("how", ["main", "python -m"])
def test_unknown_op_in_a_sequential_names_where_the_module_is_added(project, capsys, how):
    """No user forward runs (torch's own Sequential): the line that puts the module in the model, not runpy's."""
    (project / "seq.py").write_text(SEQUENTIAL_PY)
    model = importlib.util.module_from_spec(importlib.util.spec_from_file_location("seq", project / "seq.py"))
    model.__spec__.loader.exec_module(model)
    torch.save(model.build_model().state_dict(), project / "seq.pth")
    args = ["run", project / "seq.py", project / "seq.pth"]
    if how == "main":
        line = expect_one_line_error(args, capsys, "unsupported op hardshrink in 1 (")
    else:
        result = subprocess.run([sys.executable, "-m", "pt2caffe", *map(str, args)], capture_output=True, text=True)
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        line = result.stderr
    assert f"seq.py:{line_of(SEQUENTIAL_PY, 'nn.Sequential(')}, where the module is added to the model" in line
    assert "runpy" not in line


def test_model_file_that_fails_to_import(project, capsys):
    (project / "model.py").write_text(MODEL_PY + "\nraise ValueError('broken config')\n")
    expect_one_line_error(["run", project / "model.py", project / "weights.pth"], capsys,
                          "failed to import", "ValueError: broken config", "model.py:")


def test_forward_that_raises(project, capsys):
    (project / "model.py").write_text(MODEL_PY.replace("return self.fc(", "assert x.shape[2] == 99, 'needs 99'\n"
                                                                         "        return self.fc("))
    expect_one_line_error(["run", project / "model.py", project / "weights.pth"], capsys,
                          "AssertionError", "needs 99", "model.py:")


def test_error_message_with_newlines_stays_one_line(project, capsys):
    (project / "model.py").write_text(MODEL_PY.replace("x = self.pool(", "raise ValueError('line one\\nline two')\n"
                                                                         "        x = self.pool("))
    expect_one_line_error(["run", project / "model.py", project / "weights.pth"], capsys,
                          "ValueError", "line one line two")


@pytest.mark.parametrize("declaration, fragment", [
    ("INPUT_SHAPE = 224", "bad INPUT_SHAPE in {model}: expected positive integers like (1, 3, 224, 224), got 224"),
    ("INPUT_SHAPE = (1, 3, 0, 16)", "bad INPUT_SHAPE in {model}"),
    ("INPUT_SHAPE = '1,3,16,16'", "bad INPUT_SHAPE in {model}"),
    ("INPUT_SHAPES = [(1, 3, 16, 16), (1, -2)]", "bad INPUT_SHAPES[1] in {model}"),
    ("INPUT_SHAPES = 3", "bad INPUT_SHAPES in {model}: expected a list of shapes"),
])
def test_bad_input_shape_in_model_file(project, capsys, declaration, fragment):
    (project / "model.py").write_text(MODEL_PY.replace("INPUT_SHAPE = (1, 3, 16, 16)", declaration))
    expect_one_line_error(["run", project / "model.py", project / "weights.pth"], capsys,
                          fragment.format(model=project / "model.py"))
    assert outputs_in(project) == []


def test_input_shapes_from_model_file(project, capsys):
    (project / "model.py").write_text(MODEL_PY.replace("INPUT_SHAPE = (1, 3, 16, 16)",
                                                       "INPUT_SHAPES = [torch.Size([2, 3, 16, 16])]"))
    code, _, err = run_cli(["run", project / "model.py", project / "weights.pth"], capsys)
    assert code == 0, err
    assert json.loads((project / "TinyNet.json").read_text())["source"]["input_shapes"] == [[2, 3, 16, 16]]


@pytest.mark.parametrize("command", ["run", "check"])
def test_bad_graph_format_fails_before_anything_is_written(project, capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(project / "model.py"), str(project / "weights.pth"), "--graph", "--graph-format", "svg,jpg"])
    assert exit_info.value.code == 2
    assert "argument --graph-format: unknown graph format jpg (choose from svg, png)" in capsys.readouterr().err
    assert outputs_in(project) == [] and not any(name.endswith((".svg", ".png", ".dot"))
                                                 for name in os.listdir(project))


def test_no_input_shape(project, capsys):
    (project / "model.py").write_text(MODEL_PY.replace("INPUT_SHAPE = (1, 3, 16, 16)", ""))
    expect_one_line_error(["run", project / "model.py", project / "weights.pth"], capsys,
                          "no input shape", "--input-shape")


@pytest.mark.parametrize("text", ["1,3,a", "1,3,x", "1,3,96,x", "1,,3,16", "1,3,0,16"])
def test_bad_input_shape_is_a_usage_error(project, capsys, text):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(project / "model.py"), str(project / "weights.pth"), "--input-shape", text])
    assert exit_info.value.code == 2
    assert f"argument --input-shape: bad --input-shape '{text}': expected positive integers" in capsys.readouterr().err
    assert outputs_in(project) == []


def test_unwritable_output(project, capsys):
    blocker = project / "blocked"
    blocker.write_text("a file where a directory should be")
    expect_one_line_error(["run", project / "model.py", project / "weights.pth", "-o", blocker / "out"], capsys,
                          f"is inside {blocker}, which is not a folder")
    assert outputs_in(project) == []


def test_weights_that_are_not_a_checkpoint(project, capsys):
    (project / "junk.pth").write_bytes(b"not a zip file at all")
    expect_one_line_error(["run", project / "model.py", project / "junk.pth"], capsys, "cannot load weights")


def test_help_for_every_command(capsys):
    for command in ("run", "check", "add-priorbox", "doctor"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert command in capsys.readouterr().out
