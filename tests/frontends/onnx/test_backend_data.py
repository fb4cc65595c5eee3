"""The onnx package's backend test data (onnx/backend/test/data): every in-scope case (float32, at most 4-D,
inference only) of light/, pytorch-converted/, pytorch-operator/ and simple/ exports and matches the
outputs stored with it in pycaffe (every blob also against the front end), or is refused in one line for
the reason REFUSED gives (README: "What the ONNX front end is tested on"). light's weights are constant fills, so each
light model also runs as a random-initializer twin, against onnxruntime. Size probes are off: they
re-trace at other sizes and prove nothing about the numbers here."""
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from onnx_cases import check_pycaffe, export_onnx, onnxruntime_outputs
from onnx_corpus import SUITES, case_names, load_case, out_of_scope, random_twin
from pt2caffe.errors import Pt2CaffeError

# In-scope cases refused, each with the reason (a part of its one-line message). The README lists them.
REFUSED = {
    "pytorch-operator/test_operator_pow": "only a power by a constant is supported",
}
README = Path(__file__).resolve().parents[3] / "README.md"


def _cases():
    in_scope, outside = [], []
    for suite in SUITES:
        for name in case_names(suite):
            case = load_case(suite, name)
            reason = out_of_scope(case, onnx.load(case.path, load_external_data=False))
            (outside if reason else in_scope).append(pytest.param(suite, name, id=f"{suite}/{name}"))
    return in_scope, outside


IN_SCOPE, OUT_OF_SCOPE = _cases()


def _tensors(arrays):
    return [torch.from_numpy(array.copy()) for array in arrays]


def _expected(case):
    """The stored outputs by ONNX output name."""
    names = [output.name for output in onnx.load(case.path, load_external_data=False).graph.output]
    return dict(zip(names, case.outputs))


@pytest.mark.parametrize("suite,name", IN_SCOPE)
def test_case_matches_its_expected_outputs(suite, name, tmp_path):
    case = load_case(suite, name)
    if f"{suite}/{name}" in REFUSED:
        with pytest.raises(Pt2CaffeError) as refusal:
            export_onnx(case.path, tmp_path, inputs=_tensors(case.inputs), probe_sizes=False)
        assert "\n" not in str(refusal.value) and REFUSED[f"{suite}/{name}"] in str(refusal.value)
        return
    export = export_onnx(case.path, tmp_path, inputs=_tensors(case.inputs), probe_sizes=False)
    check_pycaffe(export, _expected(case))


@pytest.mark.parametrize("name", case_names("light"))
def test_light_model_with_random_weights(name, tmp_path):
    """The light model with seeded random weights where it has constant fills, on a random input,
    against onnxruntime."""
    path = str(tmp_path / f"{name}_twin.onnx")
    onnx.save(random_twin(onnx.load(load_case("light", name).path)), path)
    export = export_onnx(path, tmp_path, probe_sizes=False)
    check_pycaffe(export, onnxruntime_outputs(export))


@pytest.mark.parametrize("suite,name", OUT_OF_SCOPE)
def test_out_of_scope_case_matches_or_is_refused_in_one_line(suite, name, tmp_path):
    """Outside the scope a case still exports or is refused in one line; with float32 data (the 5-D and
    6-D cases), an export must match. Numeric non-float32 data is traced as it is; strings (no tensor)
    are replaced by random floats of the declared shape."""
    case = load_case(suite, name)
    numeric = all(array.dtype.kind in "fiub" for array in case.inputs)
    try:
        export = export_onnx(case.path, tmp_path, inputs=_tensors(case.inputs) if numeric else None,
                             probe_sizes=False)
    except Pt2CaffeError as refusal:
        assert "\n" not in str(refusal)
        return
    if all(array.dtype == np.float32 for array in case.inputs + case.outputs):
        check_pycaffe(export, _expected(case))


def test_refusals_are_few_and_listed_in_the_readme():
    """At most 10 % of the in-scope cases outside light, each in the README's table."""
    in_scope = {"/".join(param.values) for param in IN_SCOPE}
    assert set(REFUSED) <= in_scope
    assert len(REFUSED) <= 0.1 * sum(not case.startswith("light/") for case in in_scope)
    table = README.read_text(encoding="utf-8").split("<!-- onnx-refused:begin -->")[1].split("<!-- onnx-refused:end -->")[0]
    assert sorted(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE)) == sorted(REFUSED)
