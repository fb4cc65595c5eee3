"""The Docker image for real: scripts/docker_build.sh builds it from this checkout under the name
`check --backend docker` uses by default (from Docker's layer cache after the first time), and `pt2caffe
check` runs exports in it with the same verdicts and the same numbers as pycaffe on this machine, both as
the docker backend and as the README's `docker run` line.

The first build takes minutes (a Debian base, PyTorch; the image takes this machine's Caffe build when it
fits, else builds its own); the script installs and starts Docker where it is missing (CI), and a daemon
it started for these tests is stopped after them."""
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from check_cases import broken_variants, check, export, files, verdicts  # noqa: F401 (export: a fixture)
from pt2caffe.net.proto import read_prototxt
from pt2caffe.runtimes import backends
from pt2caffe.runtimes.docker import DEFAULT_IMAGE

ROOT = Path(__file__).resolve().parents[2]
DOCKERD_PID = Path.home() / ".cache" / "pt2caffe" / "dockerd.pid"  # written by docker_build.sh when it starts one


def _daemon_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def image():
    """The ID of the image built from this checkout, tagged DEFAULT_IMAGE. A Docker daemon that the build had
    to start is stopped again after the module's tests."""
    started_here = not _daemon_answers()
    result = subprocess.run(["bash", str(ROOT / "scripts" / "docker_build.sh")], capture_output=True, text=True,
                            timeout=3600)
    assert result.returncode == 0, result.stderr[-6000:]
    assert result.stdout.startswith("sha256:"), result.stdout
    assert not (ROOT / "docker-inputs").exists() or os.listdir(ROOT / "docker-inputs") == ["README.md"]
    yield result.stdout.strip()
    if started_here and DOCKERD_PID.is_file():
        _stop(int(DOCKERD_PID.read_text()))


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            DOCKERD_PID.unlink()
            return
        time.sleep(0.1)
    raise AssertionError(f"dockerd (pid {pid}) did not stop within 30 s of SIGTERM")


def test_image_holds_the_stock_ssd_caffe(image):
    result = subprocess.run(["docker", "run", "--rm", "--network", "none", image, "doctor"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "built from:      stock SSD Caffe, weiliu89/caffe ssd 4817bf8b4200b35ada8ed0dc378dceaf38c539e4" \
        in result.stdout
    assert "import caffe:    ok (/opt/pt2caffe-caffe/python/caffe)" in result.stdout


def test_docker_blobs_equal_native_pycaffe(export, image):
    """Every blob of the export, run in the image and here: the same Caffe commit on the same CPU."""
    f = files(export)
    net = read_prototxt(str(f["prototxt"]))
    rng = np.random.default_rng(7)
    inputs = {layer.top[0]: rng.uniform(-1, 1, tuple(layer.input_param.shape[0].dim)).astype(np.float32)
              for layer in net.layer if layer.type == "Input"}
    blobs = list(dict.fromkeys(top for layer in net.layer if layer.type != "Input" for top in layer.top))
    args = (str(f["prototxt"]), str(f["caffemodel"]), inputs, blobs)
    inside = backends.run_net("docker", *args, docker_image=image)
    native = backends.run_net("pycaffe", *args)
    assert sorted(inside) == sorted(native) == sorted(blobs)
    assert float(np.abs(native[blobs[-1]]).max()) > 0  # the net's output: not a comparison of zeros
    for blob in blobs:  # some helper blobs are all zeros (shape carriers): those must be equal exactly
        assert inside[blob].shape == native[blob].shape, blob
        scale = float(np.abs(native[blob]).max())
        assert float(np.abs(inside[blob] - native[blob]).max()) <= 1e-6 * scale, blob


@pytest.mark.parametrize("case", ["correct", "altered"])
def test_check_in_docker_agrees_with_pycaffe(export, image, capsys, tmp_path, case):
    args = broken_variants(export, tmp_path)[case]
    code, _, err, docker = check(args + ["--backend", "docker", "--docker-image", image], capsys, tmp_path)
    _, _, _, pycaffe = check(args + ["--backend", "pycaffe"], capsys, tmp_path)
    assert code == (0 if case == "correct" else 1), err
    assert verdicts(docker) == verdicts(pycaffe)
    first = [(outcome["first_divergence"] or {}).get("blob") for outcome in (docker, pycaffe)]
    assert first[0] == first[1] and (first[0] is None) == (case == "correct")


def test_check_backend_docker_finds_the_image_the_tests_built(export, image, capsys, tmp_path):
    """Right after the test run, `check --backend docker` with no --docker-image runs (the default name)."""
    code, out, err, _ = check([files(export)["json"], "--backend", "docker"], capsys, tmp_path)
    assert code == 0 and "OK: all" in out, out + err


def test_the_readme_docker_run_line(export, image):
    """README: `docker run --rm -v "$PWD:/w" -w /w pt2caffe check out/…/NAME.json` from the project folder —
    the report's paths are relative, so the model and weights are found under /w."""
    result = subprocess.run(f'docker run --rm -v "$PWD:/w" -w /w {DEFAULT_IMAGE} check out/Small.json', shell=True,
                            cwd=export, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "OK: all" in result.stdout, result.stdout + result.stderr
