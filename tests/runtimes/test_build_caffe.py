"""scripts/build_caffe.sh: the cache is reused, and a source tree that is not the pinned commit never builds."""
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_caffe.sh"
COMMIT = "4817bf8b4200b35ada8ed0dc378dceaf38c539e4"
# Where build_caffe.sh finds the source (scripts/lib.sh): $PT2CAFFE_CAFFE_SOURCE, else ../shared/vendor/ beside the checkout.
VENDORED = Path(os.environ.get("PT2CAFFE_CAFFE_SOURCE") or ROOT.parent / "shared" / "vendor" / "caffe-ssd-4817bf8b.tar.gz")


def build(env_extra: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                          env=dict(os.environ, **env_extra), timeout=1800)


def test_second_run_reuses_the_cached_build():
    result = build({})
    assert result.returncode == 0, result.stderr
    assert "reusing cached Caffe (stock SSD 4817bf8b" in result.stderr
    home = Path(result.stdout.strip())
    assert (home / "SOURCE").read_text().split() == ["weiliu89/caffe", "ssd", COMMIT]


@pytest.fixture(scope="module")
def vendored_tree(tmp_path_factory) -> Path:
    assert VENDORED.is_file(), f"the vendored Caffe source is missing: {VENDORED}"
    root = tmp_path_factory.mktemp("src")
    with tarfile.open(VENDORED) as archive:
        archive.extractall(root, filter="tar")
    return root


def _tar(tree: Path, top: str, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as archive:
        archive.add(tree / f"caffe-{COMMIT}", arcname=top)
    return out


@pytest.mark.parametrize("change,message", [
    ("edit", "the Caffe source tree differs from commit 4817bf8b"),
    ("rename", f"does not hold exactly caffe-{COMMIT}/"),
])
def test_altered_source_is_refused_before_building(vendored_tree, tmp_path, change, message):
    top = f"caffe-{COMMIT}"
    layer = vendored_tree / top / "src" / "caffe" / "layers" / "relu_layer.cpp"
    original = layer.read_bytes()
    try:
        if change == "edit":
            layer.write_bytes(original + b"\n// changed\n")
        else:
            top = "caffe-master"
        tarball = _tar(vendored_tree, top, tmp_path / "caffe.tar.gz")
    finally:
        layer.write_bytes(original)
    home = tmp_path / "home"
    result = build({"PT2CAFFE_CAFFE_SOURCE": str(tarball), "PT2CAFFE_CAFFE_HOME": str(home)})
    assert result.returncode == 1
    assert message in result.stderr
    assert not home.exists() and not list(tmp_path.glob("home.partial.*"))


@pytest.fixture(scope="module")
def prebuilt(tmp_path_factory) -> Path:
    """The machine's finished Caffe home as a tarball, as scripts/docker_build.sh passes it to the image."""
    result = build({})
    assert result.returncode == 0, result.stderr
    tarball = tmp_path_factory.mktemp("prebuilt") / "caffe-prebuilt.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(result.stdout.strip(), arcname=".")
    return tarball


def test_a_prebuilt_home_of_the_same_key_is_taken_instead_of_building(prebuilt, tmp_path):
    home = tmp_path / "home"
    result = build({"PT2CAFFE_CAFFE_PREBUILT": str(prebuilt), "PT2CAFFE_CAFFE_HOME": str(home),
                    "HOME": str(tmp_path)})  # (the pointer to the current build goes to this HOME)
    assert result.returncode == 0, result.stderr
    assert "took the prebuilt Caffe (stock SSD 4817bf8b" in result.stderr and "building" not in result.stderr
    assert result.stdout.strip() == str(home) and (home / "python" / "caffe" / "_caffe.so").is_file()


def test_a_prebuilt_home_of_another_key_is_not_taken(prebuilt, tmp_path):
    """A home built for another recipe, Python or NumPy is refused: the script goes on to build (here from a
    source that is not Caffe, so that it stops right there)."""
    other = tmp_path / "other"
    with tarfile.open(prebuilt) as archive:
        archive.extractall(other, filter="tar")
    (other / ".pt2caffe-build").write_text("0123456789ab\n")
    with tarfile.open(tmp_path / "other.tar.gz", "w:gz") as archive:
        archive.add(other, arcname=".")
    (tmp_path / "x").mkdir()
    with tarfile.open(tmp_path / "not-caffe.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "x", arcname="x")
    home = tmp_path / "home"
    result = build({"PT2CAFFE_CAFFE_PREBUILT": str(tmp_path / "other.tar.gz"), "PT2CAFFE_CAFFE_HOME": str(home),
                    "PT2CAFFE_CAFFE_SOURCE": str(tmp_path / "not-caffe.tar.gz"), "HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "does not fit here (its key 0123456789ab," in result.stderr and "building from source" in result.stderr
    assert f"does not hold exactly caffe-{COMMIT}/" in result.stderr
    assert not home.exists() and not list(tmp_path.glob("home.partial.*"))
