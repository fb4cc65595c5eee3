"""Reliability: every failure of every command is one line and a non-zero exit, nothing is written where
the user did not ask, no caffemodel that Caffe cannot read, no leftovers, and files of different exports
are told apart (issue 12)."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pt2caffe.net import caffemodel, files
from pt2caffe.net.builder import NetBuilder, Weight
from pt2caffe.net.dialect import STOCK_SSD
from pt2caffe.errors import one_line, short
from pt2caffe.net.proto import net_proto, prototxt_export_id as proto_export_id
from concurrency import PACED_RENAMES, paced_writers
from test_cli import MODEL_PY, expect_one_line_error, outputs_in, run_cli


@pytest.fixture
def project(tmp_path):
    """A model file and matching weights in a fresh directory (the CLI tests' TinyNet)."""
    (tmp_path / "model.py").write_text(MODEL_PY)
    namespace = {}
    exec(compile(MODEL_PY, str(tmp_path / "model.py"), "exec"), namespace)
    torch.manual_seed(0)
    torch.save(namespace["build_model"]().state_dict(), tmp_path / "weights.pth")
    return tmp_path


def run_args(project, *extra):
    return ["run", project / "model.py", project / "weights.pth", *extra]


def snapshot(directory):
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


# --- 1. failures outside a handler ------------------------------------------------------------------

def test_full_disk_during_the_caffemodel_write_is_one_line_and_keeps_the_old_files(project, capsys, monkeypatch):
    out = project / "out"
    assert run_cli(run_args(project, "-o", out), capsys)[0] == 0
    before = snapshot(out)

    def full_disk(pieces, handle):
        handle.write(pieces[0])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(caffemodel, "write_caffemodel", full_disk)
    monkeypatch.setattr("pt2caffe.conversion.writing.write_caffemodel", full_disk)
    expect_one_line_error(run_args(project, "-o", out), capsys, "cannot write", "No space left on device",
                          "nothing was changed")
    assert snapshot(out) == before  # the old export intact, no temporary file left


def test_an_unexpected_exception_is_one_line_with_the_traceback_under_verbose(project, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr("pt2caffe.cli.run.write", broken)
    line = expect_one_line_error(run_args(project), capsys, "internal error: KeyError", "--verbose")
    assert "Traceback" not in line
    for where in ("before the command", "after it"):
        args = ["--verbose", *run_args(project)] if where == "before the command" else [*run_args(project), "--verbose"]
        code, _, err = run_cli(args, capsys)
        assert code == 1 and "Traceback" in err, where


@pytest.mark.parametrize("outdir, fragment", [("afile", "-o {} is not a folder"),
                                              ("afile/sub", "is inside {}, which is not a folder")])
def test_an_outdir_that_is_a_file_is_refused_before_tracing(project, capsys, monkeypatch, outdir, fragment):
    (project / "afile").write_text("not a folder")
    monkeypatch.setattr("pt2caffe.cli.run.load", lambda *a, **k: pytest.fail("loaded the model before checking -o"))
    expect_one_line_error(run_args(project, "-o", project / outdir), capsys, fragment.format(project / "afile"))
    assert (project / "afile").read_text() == "not a folder"


def test_an_input_too_big_to_allocate_is_one_line(project, capsys):
    expect_one_line_error(run_args(project, "--input-shape", "1,3,300000,300000"), capsys,
                          "cannot allocate an input of shape 1x3x300000x300000", "GiB")
    assert outputs_in(project) == []


@pytest.mark.parametrize("content", ["null", "[1, 2]", "3", '"text"'])
def test_check_on_json_that_is_not_an_object(tmp_path, capsys, content):
    (tmp_path / "x.json").write_text(content)
    expect_one_line_error(["check", tmp_path / "x.json"], capsys, "is not a pt2caffe report", "not an object")


def test_check_on_a_json_whose_source_is_not_an_object(tmp_path, capsys):
    (tmp_path / "x.json").write_text(json.dumps({"source": [1], "blobs": []}))
    expect_one_line_error(["check", tmp_path / "x.json"], capsys, "does not say which model")


def test_a_huge_user_value_is_not_embedded_in_the_message(project, capsys):
    (project / "model.py").write_text(MODEL_PY.replace("INPUT_SHAPE = (1, 3, 16, 16)",
                                                       "INPUT_SHAPE = list(range(1, 10 ** 6)) + [0]"))
    line = expect_one_line_error(run_args(project), capsys, "bad INPUT_SHAPE")
    assert len(line) < 400


def test_short_and_one_line_bound_what_they_build():
    assert len(short(list(range(10 ** 6)))) < 100 and len(short("x" * 10 ** 6)) < 100
    assert one_line("a\n b\x1b[1m bold\x1b[0m " + "y" * 5000, limit=50).endswith(" …")
    assert "\x1b" not in one_line("\x1b[31mred\x1b[0m") and one_line("\x1b[31mred\x1b[0m") == "red"


# --- 2. writing only where asked -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "/elsewhere/x", "a/b", "..", ".", ".hidden", "a\\b", ""])
def test_name_is_a_plain_file_name(project, capsys, name):
    out = project / "out"
    expect_one_line_error(run_args(project, "-o", out, "--name", name), capsys, "--name", "plain file name")
    assert not out.exists() and outputs_in(project) == [] and not os.path.exists("/elsewhere")


def test_a_plain_name_names_the_files_and_the_net(project, capsys):
    assert run_cli(run_args(project, "-o", project / "out", "--name", "tiny-v2.1"), capsys)[0] == 0
    assert outputs_in(project / "out") == ["tiny-v2.1.caffemodel", "tiny-v2.1.json", "tiny-v2.1.prototxt"]
    assert 'name: "tiny-v2.1"' in (project / "out" / "tiny-v2.1.prototxt").read_text()


# --- 3. protobuf's 2 GiB limit ---------------------------------------------------------------------

def net_with_weights(*shapes):
    """A net whose weights are zero-strided views: their size counts, no memory is allocated."""
    net = NetBuilder("big", STOCK_SSD)
    data = net.input("data", (1, shapes[0][1]))
    for index, shape in enumerate(shapes):
        net.layer(f"fc{index}", "InnerProduct", [data], [(1, shape[0])], {"inner_product_param": {"num_output": shape[0]}},
                  [Weight(np.broadcast_to(np.float32(0), shape))])
    return net


def test_caffemodel_size_is_computed_without_touching_the_weights():
    net = net_with_weights((20000, 30000))  # Linear(30000, 20000): 2.4 GB of float32
    size = caffemodel.pieces_size(caffemodel.caffemodel_pieces(net, net_proto(net), "0123456789abcdef"))
    assert 20000 * 30000 * 4 < size < 20000 * 30000 * 4 + 200
    with pytest.raises(caffemodel.Pt2CaffeError) as refused:
        caffemodel.check_caffemodel_size(size, "big.caffemodel")
    message = str(refused.value)
    assert f"{size:,} bytes" in message and "2,147,483,647 bytes (2 GiB)" in message and "nothing was written" in message


def test_computed_size_is_the_written_size(project, capsys):
    assert run_cli(run_args(project, "-o", project / "out"), capsys)[0] == 0
    report = json.loads((project / "out" / "TinyNet.json").read_text())
    written = (project / "out" / "TinyNet.caffemodel").stat().st_size
    assert caffemodel.read_export_id(str(project / "out" / "TinyNet.caffemodel")) == report["export_id"]
    net = net_with_weights((5, 256), (7, 3))
    pieces = caffemodel.caffemodel_pieces(net, net_proto(net), "id")
    with open(project / "small.caffemodel", "wb") as handle:
        caffemodel.write_caffemodel(pieces, handle)
    assert (project / "small.caffemodel").stat().st_size == caffemodel.pieces_size(pieces)
    assert written > 0


def test_an_export_over_the_limit_is_refused_before_writing(project, capsys, monkeypatch):
    monkeypatch.setattr(caffemodel, "PROTOBUF_LIMIT", 1000)
    expect_one_line_error(run_args(project, "-o", project / "out"), capsys, "TinyNet.caffemodel would be",
                          "over protobuf's message limit of 1,000 bytes", "nothing was written")
    assert not (project / "out").exists()


# --- 4. the model file cannot end the process -------------------------------------------------------

@pytest.mark.parametrize("where, code, fragment", [
    ("import", "import sys\nsys.exit(0)\n", "while importing"),
    ("build", "def build_model():\n    import sys\n    sys.exit(0)\n", "in build_model()"),
    ("forward", None, "the model called sys.exit()"),
])
def test_sys_exit_in_the_model_file_is_a_failure_naming_it(project, capsys, where, code, fragment):
    if where == "forward":
        source = MODEL_PY.replace("x = self.pool(", "import sys; sys.exit(0)\n        x = self.pool(")
    elif where == "import":
        source = MODEL_PY + code
    else:
        source = MODEL_PY.replace("def build_model():\n    return TinyNet()\n", code)
    (project / "model.py").write_text(source)
    line = expect_one_line_error(run_args(project), capsys, fragment)
    assert "model.py" in line
    assert outputs_in(project) == []


def test_sys_exit_in_a_child_process_exits_non_zero(project):
    (project / "model.py").write_text(MODEL_PY + "import sys\nsys.exit(0)\n")
    result = subprocess.run([sys.executable, "-m", "pt2caffe", *map(str, run_args(project))],
                            capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("pt2caffe: error: ") and "model.py called sys.exit(0) while importing" in result.stderr


def test_a_model_file_parsing_sys_argv_sees_only_its_own_name(project, capsys):
    parsing = ("import argparse, sys\nARGV = list(sys.argv)\nparser = argparse.ArgumentParser()\n"
               "parser.add_argument('--lr', type=float, default=0.1)\nOPTIONS = parser.parse_args()\n")
    (project / "model.py").write_text(MODEL_PY + parsing)
    code, _, err = run_cli(run_args(project, "-o", project / "out"), capsys)
    assert code == 0, err
    from pt2caffe.frontends.torch.loading import load_module
    assert load_module(str(project / "model.py")).ARGV == [str(project / "model.py")]


def test_a_model_file_whose_argparse_fails_names_the_model_file(project, capsys):
    required = "import argparse\nargparse.ArgumentParser().add_argument('--data', required=True)\n" \
               "argparse.ArgumentParser(prog='train.py').parse_args(['--bogus'])\n"
    (project / "model.py").write_text(MODEL_PY + required)
    code, _, err = run_cli(run_args(project), capsys)
    lines = err.strip().splitlines()
    assert code == 1 and lines[-1].startswith("pt2caffe: error: ") and "model.py called sys.exit(2) while importing" in lines[-1]


# --- 5. leftovers and mixed results -----------------------------------------------------------------

def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_a_killed_export_are_removed(project, capsys):
    out = project / "out"
    out.mkdir()
    host = files._host_tag()
    stale = out / f".tmp-pt2caffe-{host}-{dead_pid()}-k1ll3d-TinyNet.caffemodel"
    running = out / f".tmp-pt2caffe-{host}-{os.getpid()}-l1ve-Other.caffemodel"  # a concurrent export: alive
    elsewhere = out / f".tmp-pt2caffe-{'0' * 8 if host != '0' * 8 else '1' * 8}-{dead_pid()}-x-TinyNet.json"
    foreign = out / ".tmp-someone-else.caffemodel"
    for path in (stale, running, elsewhere, foreign):
        path.write_bytes(b"partial")
    assert run_cli(run_args(project, "-o", out), capsys)[0] == 0
    assert not stale.exists()
    assert running.exists() and elsewhere.exists() and foreign.exists()
    assert sorted(p for p in os.listdir(out) if not p.startswith(".")) == \
        ["TinyNet.caffemodel", "TinyNet.json", "TinyNet.prototxt"]


KILLED_WHILE_WRITING = """
import os, signal, sys
import pt2caffe.conversion.writing as writing
import pt2caffe.net.files as files
from pt2caffe.cli import main
def killed(pieces, handle):
    handle.write(pieces[0]); handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)
writing.write_caffemodel = killed
if sys.argv[1] == "named":  # a filesystem without O_TMPFILE
    files._open_unnamed = lambda directory: None
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("temporaries", ["unnamed", "named"])
def test_a_killed_export_leaves_no_file_in_place_and_the_next_export_cleans_up(project, capsys, temporaries):
    """SIGKILL in the middle of the caffemodel write (the child stops itself there): with O_TMPFILE
    (this machine's filesystems have it) nothing at all is left; with named temporaries, hidden ones are,
    and the next export removes them."""
    out = project / "out"
    result = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, temporaries,
                             *map(str, run_args(project, "-o", out))], capture_output=True, text=True)
    assert result.returncode == -9, result.stderr
    left = sorted(os.listdir(out))
    if temporaries == "unnamed":
        assert left == []
    else:
        assert len(left) == 3 and all(name.startswith(".tmp-pt2caffe-") for name in left)
    assert run_cli(run_args(project, "-o", out), capsys)[0] == 0
    assert sorted(os.listdir(out)) == ["TinyNet.caffemodel", "TinyNet.json", "TinyNet.prototxt"]


def test_concurrent_exports_to_one_name_leave_one_exports_files(project):
    """Two `pt2caffe run` of different weights to one OUTDIR/NAME at once, their publishing overlapping for
    certain (tests/concurrency.py): the three files on disk are always one export's, the second one's."""
    torch.manual_seed(1)
    namespace = {}
    exec(compile(MODEL_PY, "model.py", "exec"), namespace)
    torch.save(namespace["build_model"]().state_dict(), project / "other.pth")
    out = project / "out"
    script = PACED_RENAMES + "from pt2caffe.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    paced_writers(project, script, run_args(project, "-o", out), ["run", project / "model.py", project / "other.pth",
                                                                  "-o", out])
    report = json.loads((out / "TinyNet.json").read_text())
    assert report["source"]["weights"].endswith("other.pth")
    assert files_of_one_export(out, "TinyNet") == report["export_id"]
    assert sorted(os.listdir(out)) == ["TinyNet.caffemodel", "TinyNet.json", "TinyNet.prototxt"]


def files_of_one_export(out, name: str) -> str:
    """The export id the three files share (asserted)."""
    ids = {caffemodel.read_export_id(str(out / f"{name}.caffemodel")), proto_export_id(str(out / f"{name}.prototxt")),
           json.loads((out / f"{name}.json").read_text())["export_id"]}
    assert len(ids) == 1, ids
    return ids.pop()


def test_files_of_different_exports_are_detected_by_check(project, capsys):
    first, second = project / "a", project / "b"
    for out in (first, second):
        assert run_cli(run_args(project, "-o", out), capsys)[0] == 0
    ids = {json.loads((out / "TinyNet.json").read_text())["export_id"] for out in (first, second)}
    assert len(ids) == 2
    first_id = json.loads((first / "TinyNet.json").read_text())["export_id"]
    assert f"\n# pt2caffe export {first_id}\n" in (first / "TinyNet.prototxt").read_text()
    for ext in ("caffemodel", "prototxt"):
        mixed = project / f"mixed_{ext}"
        mixed.mkdir()
        for name in ("TinyNet.json", "TinyNet.prototxt", "TinyNet.caffemodel"):
            (mixed / name).write_bytes(((second if name.endswith(ext) else first) / name).read_bytes())
        expect_one_line_error(["check", mixed / "TinyNet.json"], capsys, f"TinyNet.{ext} is not from the same export",
                              "export again")


# --- 6. messages that point the right way -------------------------------------------------------------

@pytest.mark.parametrize("content, fragment", [
    (b"", "is empty"),
    (b"epoch: 3\nlr: 0.1\n", "is neither a zip archive nor a pickle"),
    ("truncated", "not a valid PyTorch checkpoint (truncated or corrupt?)"),
])
def test_a_file_that_is_not_a_checkpoint_says_so(project, capsys, content, fragment):
    if content == "truncated":
        content = (project / "weights.pth").read_bytes()[:300]
    (project / "bad.pth").write_bytes(content)
    line = expect_one_line_error(["run", project / "model.py", project / "bad.pth"], capsys, fragment,
                                 "not a valid PyTorch checkpoint")
    assert "--unsafe-pickle" not in line and "weights_only=False" not in line and "\x1b" not in line


def test_the_pickled_model_hint_has_no_terminal_codes(project, capsys):
    torch.save({"model": torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))}, project / "whole.pth")
    line = expect_one_line_error(["run", project / "model.py", project / "whole.pth"], capsys, "--unsafe-pickle",
                                 "with weights_only")
    assert "\x1b" not in line and "Sequential" in line


def test_nan_weights_are_noted_at_export_and_named_by_check(project, capsys):
    state = torch.load(project / "weights.pth", weights_only=True)
    state["conv.weight"][0, 0, 0, 0] = float("nan")
    state["fc.bias"][1] = float("inf")
    torch.save(state, project / "nan.pth")
    code, _, err = run_cli(["run", project / "model.py", project / "nan.pth", "-o", project / "out"], capsys)
    assert code == 0, err
    assert "pt2caffe: note: weights with NaN or infinite values: conv.weight, fc.bias" in err
    code, out, err = run_cli(["check", project / "out" / "TinyNet.json"], capsys)
    assert code == 1
    assert "FAIL: bad weights: conv.weight, fc.bias hold NaN or infinite values" in out
    assert err.strip().splitlines()[-1].startswith("pt2caffe: check failed: FAIL: bad weights: conv.weight")


# --- 7. check's verdict on stderr ----------------------------------------------------------------------

def test_a_failing_check_puts_its_verdict_on_stderr_too(project, capsys):
    from pt2caffe.net import caffe_pb2

    out = project / "out"
    assert run_cli(run_args(project, "-o", out), capsys)[0] == 0
    net = caffe_pb2.NetParameter()
    net.ParseFromString((out / "TinyNet.caffemodel").read_bytes())
    next(layer for layer in net.layer if layer.name == "conv").blobs[0].data[0] += 1.0
    (project / "altered.caffemodel").write_bytes(net.SerializeToString())
    code, stdout, err = run_cli(["check", out / "TinyNet.json", "--caffemodel", project / "altered.caffemodel"], capsys)
    assert code == 1
    assert "first divergence" in stdout and "FAIL:" in stdout  # the table and verdict stay on stdout
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pt2caffe: check failed: FAIL: ")
