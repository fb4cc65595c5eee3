"""Every net an op-family test exports must use only layer forms that OpenCV and MNN run too."""
import pytest

from portability import unportable_layers


@pytest.fixture(autouse=True)
def exported_nets_are_portable(request):
    """After each test that has a ``tmp_path``: no net written there holds a form listed in portability.py."""
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is None:
        return
    for prototxt in sorted(tmp_path.rglob("*.prototxt")):
        found = unportable_layers(str(prototxt))
        assert not found, f"{prototxt.name}: layer forms OpenCV or MNN cannot run: " + "; ".join(found)
