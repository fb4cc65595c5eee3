"""The Docker image for real: scripts/docker_build.sh builds it from this checkout (from Docker's
layer cache after the first time), and `pt2caffe check --backend docker` runs exports in it with
the same verdicts and the same numbers as pycaffe on this machine.

The first build takes minutes (Debian packages, PyTorch and a second stock SSD Caffe build inside
the image); the script installs and starts Docker where it is missing (CI)."""
import subprocess
from pathlib import Path

import numpy as np
import pytest

from check_cases import broken_variants, check, export, files, verdicts  # noqa: F401 (export: a fixture)
from pt2caffe.net.proto import read_prototxt
from pt2caffe.runtimes import backends

ROOT = Path(__file__).resolve().parents[2]
TAG = "pt2caffe:test"


@pytest.fixture(scope="module")
def image() -> str:
    """The ID of the image built from this checkout."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "docker_build.sh"), "--tag", TAG],
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-6000:]
    assert result.stdout.startswith("sha256:"), result.stdout
    return result.stdout.strip()


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
