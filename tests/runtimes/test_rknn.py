"""Rockchip's RKNN simulator for real: `pt2caffe check --backend rknn` runs an export through rknn-toolkit2 2.5.0's
``load_caffe`` and judges its float16 outputs by the same model's ONNX through RKNN (pt2caffe.check.rknn_route).

scripts/install_rknn.sh makes RKNN's own environment the first time (a virtualenv from PyPI plus the
project's torch wheel: about a minute and 1.4 GB; then it is reused; ``PT2CAFFE_RKNN_VENV`` puts it elsewhere).
The checks must be able to fail: an Exp layer, which RKNN loads and computes otherwise, fails the check in
the default export and passes with ``--target rknn`` (Exp from Sigmoids)."""
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from check_cases import check, export, files  # noqa: F401 (export: a fixture)
from pt2caffe.cli import main
from pt2caffe.frontends.torch.loading import load_module

ROOT = Path(__file__).resolve().parents[2]
EXP_MODEL = textwrap.dedent('''
    import torch
    import torch.nn as nn

    INPUT_SHAPE = (1, 3, 8, 8)


    class ConvExp(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return torch.exp(self.conv(x))


    def build_model():
        return ConvExp()
''')


@pytest.fixture(scope="module")
def rknn_python():
    """The RKNN environment's python (made by scripts/install_rknn.sh where it is missing)."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "install_rknn.sh")], capture_output=True, text=True,
                            timeout=1800)
    assert result.returncode == 0, result.stderr[-6000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def with_rknn(rknn_python, monkeypatch):
    monkeypatch.setenv("PT2CAFFE_RKNN_PYTHON", rknn_python)


def test_small_export_passes_in_rknn(with_rknn, export, capsys, tmp_path):
    code, out, err, outcome = check([files(export)["json"], "--backend", "rknn"], capsys, tmp_path)
    assert code == 0 and outcome["ok"] and outcome["backend"] == "rknn", out + err
    rows = {row["layer"]: row["verdict"] for row in outcome["blobs"]}
    assert rows["head"] == "ok" and set(rows.values()) == {"ok", "not kept"}, rows


@pytest.fixture(scope="module")
def exp_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("rknn_exp")
    (root / "model.py").write_text(EXP_MODEL)
    torch.manual_seed(0)
    torch.save(load_module(str(root / "model.py")).build_model().state_dict(), root / "weights.pth")
    return root


@pytest.mark.parametrize("target", [None, "rknn"])
def test_exp_fails_in_rknn_unless_exported_for_it(with_rknn, exp_model, target, capsys, tmp_path):
    out_dir = tmp_path / "out"
    args = ["run", str(exp_model / "model.py"), str(exp_model / "weights.pth"), "-o", str(out_dir)]
    assert main(args + (["--target", target] if target else [])) == 0
    code, out, err, outcome = check([out_dir / "ConvExp.json", "--backend", "rknn"], capsys, tmp_path)
    verdicts = {row["layer"]: row["verdict"] for row in outcome["blobs"]}
    if target is None:  # RKNN loads the Exp layer and does not compute it: the net's output is not exp(conv)
        assert code == 1 and verdicts["exp"] != "ok" and "fail" in verdicts.values(), out
    else:
        assert code == 0 and verdicts["exp"] == "ok", out + err


def test_without_rknn_check_says_how_to_install_it(export, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PT2CAFFE_RKNN_PYTHON", str(tmp_path / "no-python"))
    code, out, err, _ = check([files(export)["json"], "--backend", "rknn"], capsys, tmp_path)
    assert code != 0 and "scripts/install_rknn.sh" in err and len(err.strip().splitlines()) == 1, err
