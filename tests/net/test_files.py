"""Files written all or nothing (pt2caffe.net.files): the export's three files, check's --json and the
drawings."""
import os

import pytest

from pt2caffe.net.files import write_files


def test_json_and_pictures_are_written_all_or_nothing(tmp_path):
    """check's --json and the drawings go through write_files: a failure leaves the old files as they were."""
    (tmp_path / "a.svg").write_text("old")
    with pytest.raises(TypeError):
        write_files({str(tmp_path / "a.svg"): "new", str(tmp_path / "a.png"): object()})
    assert os.listdir(tmp_path) == ["a.svg"] and (tmp_path / "a.svg").read_text() == "old"
    write_files({str(tmp_path / "a.svg"): "new", str(tmp_path / "a.png"): b"\x89PNG"})
    assert (tmp_path / "a.svg").read_text() == "new" and (tmp_path / "a.png").read_bytes() == b"\x89PNG"
