"""`pt2caffe check` end to end in real Caffe: a correct export passes, a broken one fails at the
layer that is broken, the backends agree, Caffe crashes come back as clear errors."""
import argparse
import json
import os
import shutil
import stat
import sys
import textwrap

import numpy as np
import pytest
import torch

import pt2caffe
from check_cases import (altered_caffemodel, broken_variants, check, edited_prototxt, export, files,  # noqa: F401
                         line_of, verdicts, wrong_stride)  # (export: a fixture)
from pt2caffe.cli import build_parser, main
from pt2caffe.frontends.torch.loading import load_module
from pt2caffe.runtimes import backends, docker
from pt2caffe.runtimes.launch import run_pycaffe
from zoo import randomize

# --- the verdicts ---------------------------------------------------------------------------------

def test_correct_export_passes(export, capsys, tmp_path):
    code, out, err, outcome = check([files(export)["json"]], capsys, tmp_path)
    assert code == 0, out + err
    assert outcome["ok"] and outcome["first_divergence"] is None
    compared = {row["layer"] for row in outcome["blobs"]}
    assert {"conv1", "conv2", "pool/floor_mode", "conv3", "head"} <= compared
    assert all(row["verdict"] == "ok" and row["cosine"] > 0.999999 for row in outcome["blobs"])
    assert f"OK: all {len(outcome['blobs'])} blobs within tolerance" in out
    assert "random uniform in [-1, 1)" in out


def test_model_and_weights_without_json(export, capsys, tmp_path):
    f = files(export)
    code, out, err, outcome = check([f["model"], f["weights"], "--prototxt", f["prototxt"],
                                     "--caffemodel", f["caffemodel"]], capsys, tmp_path)
    assert code == 0, out + err
    reference = json.loads(f["json"].read_text())
    assert [row["blob"] for row in outcome["blobs"]] == [row["blob"] for row in reference["blobs"]]
    assert not list(tmp_path.glob("*.prototxt")) and not list((export / "out").glob("*.check.*"))


def test_altered_blob_is_the_first_divergence(export, capsys, tmp_path):
    code, out, err, outcome = check(broken_variants(export, tmp_path)["altered"], capsys, tmp_path)
    assert code == 1, err
    first = outcome["first_divergence"]
    assert (first["layer"], first["type"], first["module"]) == ("conv2", "Convolution", "conv2")
    assert first["source"].endswith(f"model.py:{line_of('x = self.pool(torch.relu(self.conv2(x)))')}")
    assert first["suspects"] == ["conv2 (Convolution)"]
    before = outcome["blobs"][:first["index"]]
    assert before and all(row["verdict"] == "ok" for row in before)
    assert "first divergence: blob 'conv2' of layer 'conv2' (Convolution), torch module 'conv2' at" in out
    assert "<- first divergence" in out


def test_wrong_pooling_stride_names_the_pooling_layer(export, capsys, tmp_path):
    """A floor-mode pooling is a Pooling cropped to PyTorch's size: the crop's blob diverges first,
    and the Pooling that computed it is named."""
    code, out, err, outcome = check(broken_variants(export, tmp_path)["stride"], capsys, tmp_path)
    assert code == 1, err
    first = outcome["first_divergence"]
    assert (first["layer"], first["type"], first["module"]) == ("pool/floor_mode", "Crop", "pool")
    assert "pool (Pooling)" in first["suspects"]
    assert "computed from verified blobs by: pool (Pooling)" in out


def test_wrong_stride_of_a_cropped_pooling_names_it_among_the_suspects(export, capsys, tmp_path):
    """The stem pool is a Pooling plus crops: the first compared blob is a crop, the Pooling a suspect."""
    f = files(export)
    prototxt = edited_prototxt(f["prototxt"], tmp_path / "s.prototxt", wrong_stride("stem_pool"))
    code, out, _, outcome = check([f["json"], "--prototxt", prototxt], capsys, tmp_path)
    assert code == 1
    first = outcome["first_divergence"]
    assert first["module"] == "stem_pool" and "stem_pool (Pooling)" in first["suspects"]
    assert "computed from verified blobs by: stem_pool (Pooling)" in out


@pytest.mark.parametrize("case", ["correct", "altered", "stride"])
def test_opencv_and_pycaffe_agree(export, capsys, tmp_path, case):
    args = broken_variants(export, tmp_path)[case]
    results = {backend: check(args + ["--backend", backend], capsys, tmp_path) for backend in ("pycaffe", "opencv")}
    (code, _, _, pycaffe), (cv_code, _, _, opencv) = results["pycaffe"], results["opencv"]
    assert code == cv_code == (0 if case == "correct" else 1)
    assert verdicts(pycaffe) == verdicts(opencv)
    assert opencv["backend"] == "opencv"


@pytest.mark.parametrize("case", ["correct", "altered", "stride"])
def test_mnn_agrees_with_pycaffe_on_the_blobs_it_keeps(export, capsys, tmp_path, case):
    """MNN fuses e.g. a Convolution's ReLU into it: those blobs are 'not kept', the others judged alike."""
    args = broken_variants(export, tmp_path)[case]
    code, _, _, pycaffe = check(args + ["--backend", "pycaffe"], capsys, tmp_path)
    mnn_code, out, _, mnn = check(args + ["--backend", "mnn"], capsys, tmp_path)
    assert mnn["backend"] == "mnn" and code == mnn_code == (0 if case == "correct" else 1), out
    kept = dict((blob, verdict) for blob, verdict in verdicts(mnn) if verdict != "not kept")
    assert kept == {blob: verdict for blob, verdict in verdicts(pycaffe) if blob in kept}
    assert "head" in kept and len(kept) >= len(verdicts(mnn)) // 2


CHUNK_PY = textwrap.dedent('''
    import torch
    import torch.nn as nn

    INPUT_SHAPE = (2, 4, 6, 6)


    class Halves(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3, padding=1)

        def forward(self, x):
            first, second = self.conv(x).chunk(2, 1)  # a two-top Slice, both tops read
            return torch.sigmoid(second) * 2 - first


    def build_model():
        return Halves()
''')


@pytest.mark.parametrize("backend", ["opencv", "mnn"])
def test_second_top_of_a_slice_is_compared_truly(tmp_path, capsys, backend):
    """OpenCV and MNN address a Slice's second top (chunk/1) by the layer and output index: no false FAIL."""
    (tmp_path / "model.py").write_text(CHUNK_PY)
    model = randomize(load_module(str(tmp_path / "model.py")).build_model(), seed=2)
    torch.save(model.state_dict(), tmp_path / "weights.pth")
    assert main(["run", str(tmp_path / "model.py"), str(tmp_path / "weights.pth"), "-o", str(tmp_path / "out")]) == 0
    code, out, err, outcome = check([tmp_path / "out" / "Halves.json", "--backend", backend], capsys, tmp_path)
    assert code == 0, out + err
    rows = {row["blob"]: row["verdict"] for row in outcome["blobs"]}
    assert rows["chunk/1"] == "ok" or (backend == "mnn" and rows["chunk/1"] == "not kept"), rows


def test_default_backend_is_pycaffe_else_opencv(monkeypatch, tmp_path):
    assert backends.default_backend() == "pycaffe"
    monkeypatch.setenv("PT2CAFFE_CAFFE_HOME", str(tmp_path))  # no build there
    assert backends.default_backend() == "opencv"


def test_blobs_missing_from_the_given_prototxt_are_reported(export, capsys, tmp_path):
    f = files(export)

    def rename_conv3_top(layers):
        for layer in layers.values():
            layer.top[:] = ["renamed" if top == "conv3" else top for top in layer.top]
            layer.bottom[:] = ["renamed" if bottom == "conv3" else bottom for bottom in layer.bottom]

    prototxt = edited_prototxt(f["prototxt"], tmp_path / "r.prototxt", rename_conv3_top)
    code, out, _, outcome = check([f["model"], f["weights"], "--prototxt", prototxt, "--caffemodel",
                                   f["caffemodel"]], capsys, tmp_path)
    assert code == 1
    assert [row["blob"] for row in outcome["blobs"] if row["verdict"] == "missing"] == ["conv3"]
    assert outcome["first_divergence"] is None
    assert "1 blobs of the export missing from the prototxt: conv3" in out


def test_table_is_short_by_default_and_complete_with_all(export, capsys, tmp_path):
    args = broken_variants(export, tmp_path)["altered"]
    _, short, _, outcome = check(args, capsys, tmp_path)
    _, everything, _, _ = check(args + ["--all"], capsys, tmp_path)
    rows = lambda text: [line for line in text.splitlines() if line[:1].isdigit()]  # noqa: E731
    assert len(rows(short)) == 5
    assert len(rows(everything)) == len(outcome["blobs"])


# --- crashes and bad files --------------------------------------------------------------------------

def test_unknown_layer_is_named_and_the_layers_before_it_are_compared(export, capsys, tmp_path):
    f = files(export)

    def unknown_type(layers):
        layers["conv3"].type = "NoSuchLayer"

    prototxt = edited_prototxt(f["prototxt"], tmp_path / "u.prototxt", unknown_type)
    code, out, _, outcome = check([f["json"], "--prototxt", prototxt], capsys, tmp_path)
    assert code == 1
    assert outcome["crash"] == "Caffe cannot set up layer 'conv3' (NoSuchLayer): Unknown layer type: NoSuchLayer"
    assert outcome["crash"] in out
    by_layer = {row["layer"]: row["verdict"] for row in outcome["blobs"]}
    assert by_layer["conv2"] == by_layer["pool/floor_mode"] == "ok" and by_layer["conv3"] == "not run"


def test_a_corrupt_caffemodel_is_one_clear_error(export, capsys, tmp_path):
    broken = tmp_path / "broken.caffemodel"
    broken.write_bytes(files(export)["caffemodel"].read_bytes()[:1000])  # cut inside a weight blob
    code, out, err, outcome = check([files(export)["json"], "--caffemodel", broken], capsys, tmp_path)
    assert code == 1 and outcome is None
    assert err.startswith("pt2caffe: error: Caffe failed to load") and "Failed to parse NetParameter" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("problem", ["no_source", "stale_report", "missing_caffemodel", "shape_mismatch",
                                     "one_source"])
def test_bad_requests_are_one_line(export, capsys, tmp_path, problem):
    f = files(export)
    args = [f["json"]]
    if problem in ("no_source", "stale_report"):
        report = json.loads(f["json"].read_text())
        if problem == "no_source":
            report["source"] = {}
        else:
            report["blobs"][2]["shape"] = [1, 2, 3, 4]  # as if the model had changed since the export
        args = [tmp_path / "Small.json", "--prototxt", f["prototxt"], "--caffemodel", f["caffemodel"]]
        args[0].write_text(json.dumps(report))
    elif problem == "missing_caffemodel":
        args += ["--caffemodel", tmp_path / "nope.caffemodel"]
    elif problem == "shape_mismatch":
        args += ["--input-shape", "1,3,64,64"]
    else:
        args = [f["model"]]
    code, _, err, _ = check(args, capsys, tmp_path)
    expected = {"no_source": "does not say which model", "stale_report": "no longer traces like the export in",
                "missing_caffemodel": "caffemodel file not found", "shape_mismatch": "differs from the export's 1,3,32,32",
                "one_source": "takes NAME.json"}[problem]
    assert code == 1 and expected in err and len(err.strip().splitlines()) == 1


def test_loading_options_come_from_the_command_line_not_the_report(export, capsys, tmp_path):
    """A report saying unsafe_pickle (or non_strict) does not switch weights_only off: only the flag does."""
    f = files(export)
    state = dict(torch.load(f["weights"], weights_only=True), extra=torch.zeros(1))  # a key the model lacks
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)},  # weights_only=True refuses a Namespace
               tmp_path / "checkpoint.pth")
    report = json.loads(f["json"].read_text())
    report["source"].update(weights=str(tmp_path / "checkpoint.pth"), unsafe_pickle=True, non_strict=True)
    (tmp_path / "Small.json").write_text(json.dumps(report))
    args = [tmp_path / "Small.json", "--prototxt", f["prototxt"], "--caffemodel", f["caffemodel"]]
    code, _, err, outcome = check(args, capsys, tmp_path)
    assert code == 1 and outcome is None and len(err.strip().splitlines()) == 1
    assert "cannot load weights" in err and "needs --unsafe-pickle" in err
    code, _, err, _ = check(args + ["--unsafe-pickle"], capsys, tmp_path)
    assert code == 1 and "unexpected extra" in err and "--non-strict" in err
    code, out, err, _ = check(args + ["--unsafe-pickle", "--non-strict"], capsys, tmp_path)
    assert code == 0, out + err


@pytest.mark.parametrize("moved", ["the output folder", "the whole project"])
def test_check_works_after_moving(export, capsys, tmp_path, moved):
    """The report names the model and weights relative to itself (and absolutely as a fallback): moving the
    output folder alone (the model stays) or the project (the model moves along) keeps `check` working."""
    report = json.loads((export / "out" / "Small.json").read_text())
    assert report["source"]["model"] == os.path.join("..", "model.py")
    assert report["source"]["absolute"]["model"] == str(export / "model.py")
    if moved == "the output folder":
        shutil.copytree(export / "out", tmp_path / "elsewhere" / "out")
        json_path = tmp_path / "elsewhere" / "out" / "Small.json"
    else:
        project = tmp_path / "project"
        project.mkdir()
        for name in ("model.py", "weights.pth", "out"):
            (shutil.copytree if name == "out" else shutil.copy)(export / name, project / name)
        report["source"]["absolute"] = {key: str(tmp_path / "gone" / key) for key in ("model", "weights")}
        (project / "out" / "Small.json").write_text(json.dumps(report))  # the old place no longer exists
        json_path = project / "out" / "Small.json"
    code, out, err, _ = check([json_path], capsys, tmp_path)
    assert code == 0 and "OK: all" in out, out + err
    if moved == "the whole project":
        (json_path.parent.parent / "model.py").unlink()
        code, _, err, _ = check([json_path], capsys, tmp_path)
        assert code == 1 and f"model file not found: {os.path.join('..', 'model.py')} from {json_path}'s folder " \
                              f"nor at {tmp_path / 'gone' / 'model'}" in err


# --- inputs -------------------------------------------------------------------------------------------

def test_npy_input_is_used_as_is(export, capsys, tmp_path):
    array = np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype(np.float32) * 4
    np.save(tmp_path / "x.npy", array)
    code, out, _, outcome = check([files(export)["json"], "--input", tmp_path / "x.npy"], capsys, tmp_path)
    assert code == 0 and outcome["input"] == f"{tmp_path / 'x.npy'} (.npy as is)"
    np.save(tmp_path / "other_size.npy", array[:, :, :16])  # the net is size-free (global pooling head)
    code, _, _, outcome = check([files(export)["json"], "--input", tmp_path / "other_size.npy"], capsys, tmp_path)
    assert code == 0 and outcome["ok"]
    np.save(tmp_path / "bad.npy", np.concatenate([array, array[:, :1]], axis=1))
    code, _, err, _ = check([files(export)["json"], "--input", tmp_path / "bad.npy"], capsys, tmp_path)
    assert code == 1 and "is valid only for data 1×3×32×32: batch, H, W free; C = 3 fixed" in err
    assert "the input is 1×4×32×32" in err


def test_image_input_is_rgb_resized_and_scaled(export, capsys, tmp_path):
    import cv2

    from pt2caffe.check.inputs import load_image

    bgr = np.zeros((48, 64, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    array, note = load_image(str(tmp_path / "red.png"), (2, 3, 32, 32))
    assert array.shape == (2, 3, 32, 32) and array.dtype == np.float32
    assert np.all(array[:, 0] == 1) and np.all(array[:, 1:] == 0)  # channel 0 is R
    assert "64x48 image as RGB, resized to 32x32 (bilinear), scaled to [0, 1]" in note
    code, out, _, outcome = check([files(export)["json"], "--input", tmp_path / "red.png"], capsys, tmp_path)
    assert code == 0 and outcome["input"] == note.replace("2x3x32x32", "1x3x32x32")


# --- Docker ---------------------------------------------------------------------------------------------

def test_docker_command_line_is_exact():
    command = docker.docker_command("pt2caffe:latest", "/models/net.prototxt", "/weights/net.caffemodel",
                                      "/tmp/io", "1000:1000")
    assert command == [
        "docker", "run", "--rm", "--pull", "never", "--network", "none", "--user", "1000:1000",
        "--mount", "type=bind,source=/tmp/io/in,target=/pt2caffe/in,readonly",
        "--mount", "type=bind,source=/models/net.prototxt,target=/pt2caffe/net/net.prototxt,readonly",
        "--mount", "type=bind,source=/weights/net.caffemodel,target=/pt2caffe/net/net.caffemodel,readonly",
        "--mount", "type=bind,source=/tmp/io/out,target=/pt2caffe/out",
        "--entrypoint", "pt2caffe", "pt2caffe:latest", "--verbose", "_caffe-worker",
        "/pt2caffe/in/request.json", "/pt2caffe/in/inputs.npz", "/pt2caffe/out/outputs.npz"]


def test_the_container_entry_point_is_the_pycaffe_code_path(export, tmp_path):
    """What the container runs, run here: the same blobs as the pycaffe backend, bit for bit."""
    f = files(export)
    inputs = {"data": np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    request = {"prototxt": str(f["prototxt"]), "caffemodel": str(f["caffemodel"]), "blobs": ["conv2", "head"]}
    docker.write_request(str(tmp_path), request, inputs)
    assert main(["_caffe-worker", str(tmp_path / "request.json"), str(tmp_path / "inputs.npz"),
                 str(tmp_path / "outputs.npz")]) == 0
    got = np.load(tmp_path / "outputs.npz")
    expected = run_pycaffe(str(f["prototxt"]), str(f["caffemodel"]), inputs, ["conv2", "head"])
    assert list(got["names"]) == ["conv2", "head"]
    np.testing.assert_array_equal(got["a0"], expected["conv2"])
    np.testing.assert_array_equal(got["a1"], expected["head"])
    assert "_caffe-worker" not in build_parser().format_help()


FAKE_DOCKER = textwrap.dedent('''
    #!{python}
    """Stands in for docker: records the command, then runs it here with the bind mounts applied
    as path substitutions (in the arguments and in the request), like the container would."""
    import json, os, shutil, subprocess, sys, tempfile
    args = sys.argv[1:]
    with open(os.environ["FAKE_DOCKER_LOG"], "w") as log:
        json.dump(args, log)
    if os.environ.get("FAKE_DOCKER_FAIL"):
        sys.stderr.write(os.environ["FAKE_DOCKER_FAIL"] + "\\n")
        sys.exit(125)
    mounts = {{}}
    for i, arg in enumerate(args):
        if arg == "--mount":
            fields = dict(part.split("=", 1) for part in args[i + 1].split(",") if "=" in part)
            mounts[fields["target"]] = fields["source"]
    command = args[args.index("--entrypoint") + 3:]
    scratch = tempfile.mkdtemp()
    shutil.copytree(mounts["/pt2caffe/in"], os.path.join(scratch, "in"))
    mounts["/pt2caffe/in"] = os.path.join(scratch, "in")
    def outside(text):
        for target, source in mounts.items():
            text = text.replace(target, source)
        return text
    request = os.path.join(scratch, "in", "request.json")
    with open(request) as f:
        content = outside(f.read())
    with open(request, "w") as f:
        f.write(content)
    sys.exit(subprocess.run([sys.executable, "-m", "pt2caffe"] + [outside(a) for a in command]).returncode)
''').lstrip()


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(FAKE_DOCKER.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(tmp_path / "docker-args.json"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(
        pt2caffe.__file__)), os.environ.get("PYTHONPATH")])))
    return tmp_path / "docker-args.json"


@pytest.mark.parametrize("case", ["correct", "altered"])
def test_docker_backend_agrees_with_pycaffe(export, capsys, tmp_path, fake_docker, case):
    args = broken_variants(export, tmp_path)[case]
    code, _, err, docker = check(args + ["--backend", "docker", "--docker-image", "mine:1"], capsys, tmp_path)
    _, _, _, pycaffe = check(args + ["--backend", "pycaffe"], capsys, tmp_path)
    assert code == (0 if case == "correct" else 1), err
    assert verdicts(docker) == verdicts(pycaffe)
    command = json.loads(fake_docker.read_text())
    assert command[:6] == ["run", "--rm", "--pull", "never", "--network", "none"] and "mine:1" in command
    caffemodel = args[2] if case == "altered" else files(export)["caffemodel"]
    assert f"type=bind,source={caffemodel},target=/pt2caffe/net/{caffemodel.name},readonly" in command


@pytest.mark.parametrize("image,stderr,message", [
    ("pt2caffe:latest", "docker: Error response from daemon: No such image: pt2caffe:latest.",  # --pull never
     "docker image pt2caffe:latest is not on this machine: build it with `bash scripts/docker_build.sh`"),
    ("mine:1", "Unable to find image 'mine:1' locally\ndocker: Error response from daemon: pull access denied.",
     "docker image mine:1 is not on this machine: build it with `bash scripts/docker_build.sh --tag mine:1`"),
    ("pt2caffe:latest", "docker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
     "daemon running?\n\nRun 'docker run --help' for more information",
     "docker failed to run the Caffe worker in pt2caffe:latest: Cannot connect to the Docker daemon at "
     "unix:///var/run/docker.sock. Is the docker daemon running?"),
])
def test_docker_failures_are_one_line(export, capsys, tmp_path, fake_docker, monkeypatch, image, stderr, message):
    monkeypatch.setenv("FAKE_DOCKER_FAIL", stderr)
    code, _, err, _ = check([files(export)["json"], "--backend", "docker", "--docker-image", image], capsys, tmp_path)
    assert code == 1
    assert err.strip() == f"pt2caffe: error: {message}"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err, _ = check([files(export)["json"], "--backend", "docker"], capsys, tmp_path)
    assert code == 1 and "docker not found" in err


# --- pictures and progress ---------------------------------------------------------------------------------

def test_graph_is_coloured_by_verdict(export, capsys, tmp_path):
    f = files(export)
    caffemodel = altered_caffemodel(f["caffemodel"], "conv2", tmp_path / "a.caffemodel")
    code, out, _, _ = check([f["model"], f["weights"], "--prototxt", f["prototxt"], "--caffemodel", caffemodel,
                             "--graph", "--graph-format", "svg,png"], capsys, tmp_path)
    assert code == 1
    prefix = str(f["prototxt"])[:-len(".prototxt")] + ".check"
    assert f"wrote {prefix}.svg" in out and f"wrote {prefix}.png" in out
    svg = open(prefix + ".svg").read()
    assert "#ef5350" in svg and "#c8e6c9" in svg and "#ffcdd2" in svg  # first, ok, out of tolerance
    assert open(prefix + ".png", "rb").read(4) == b"\x89PNG"


def test_run_graph_without_dot_writes_dot_text(export, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` here
    f = files(export)
    assert main(["run", str(f["model"]), str(f["weights"]), "-o", str(tmp_path), "--graph"]) == 0
    captured = capsys.readouterr()
    assert f"wrote {tmp_path / 'Small.dot'}" in captured.out
    assert captured.err.count("\n") == 1 and "graphviz 'dot' not found" in captured.err
    assert (tmp_path / "Small.dot").read_text().startswith("digraph Small {")


def test_check_is_quiet_when_not_a_terminal(export, capsys, tmp_path):
    _, out, err, _ = check([files(export)["json"]], capsys, tmp_path)
    assert "\r" not in out + err and err == ""
