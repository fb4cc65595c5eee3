"""pycaffe judged against the model's own float32 noise where that noise is large (pt2caffe.check.noise):
a correct export of a nearly cancelling difference passes, marked with its floor, in pycaffe as in OpenCV;
a wrong weight still fails."""
import textwrap

import pytest
import torch

from check_cases import altered_caffemodel, check
from pt2caffe.cli import main
from pt2caffe.frontends.torch.loading import load_module

MODEL_PY = textwrap.dedent('''
    import torch.nn as nn

    INPUT_SHAPE = (1, 64, 8, 8)


    class Cancelling(nn.Module):
        """a(x) − b(x) with b's weights 1e-4 from a's: the difference is ~1e-4 of either sum, so their
        float32 rounding is ~1e-3 of it in any float32 implementation."""

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(64, 8, 3, padding=1, bias=False)
            self.b = nn.Conv2d(64, 8, 3, padding=1, bias=False)

        def forward(self, x):
            return self.a(x) - self.b(x)


    def build_model():
        return Cancelling()
''')


@pytest.fixture(scope="module")
def cancelling(tmp_path_factory):
    root = tmp_path_factory.mktemp("noise")
    (root / "model.py").write_text(MODEL_PY)
    model = load_module(str(root / "model.py")).build_model()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.a.weight.copy_(torch.randn(model.a.weight.shape, generator=generator) * 10)
        model.b.weight.copy_(model.a.weight * (1 + 1e-4 * torch.randn(model.a.weight.shape, generator=generator)))
    torch.save(model.state_dict(), root / "weights.pth")
    assert main(["run", str(root / "model.py"), str(root / "weights.pth"), "-o", str(root / "out")]) == 0
    return root


@pytest.mark.parametrize("backend, factor, why", [("pycaffe", 10, "sums in another order"),
                                                  ("opencv", 1000, "the runtime's Winograd convolutions")])
def test_noisy_model_passes_within_its_float32_noise(cancelling, backend, factor, why, capsys, tmp_path):
    code, out, err, outcome = check([cancelling / "out" / "Cancelling.json", "--backend", backend], capsys, tmp_path)
    assert code == 0, out + err
    difference = next(row for row in outcome["blobs"] if row["layer"] == "sub")
    assert difference["rel"] > 1e-4 and difference["floor"] > difference["rel"]  # the floor was needed
    assert f"1 of them within {factor}× the model's own float32 noise ({why})" in out


def test_wrong_weight_fails_despite_the_floor(cancelling, capsys, tmp_path):
    wrong = altered_caffemodel(cancelling / "out" / "Cancelling.caffemodel", "b", tmp_path / "wrong.caffemodel")
    code, out, err, outcome = check([cancelling / "out" / "Cancelling.json", "--caffemodel", wrong], capsys, tmp_path)
    assert code == 1, out + err
    assert outcome["first_divergence"]["layer"] == "b"
