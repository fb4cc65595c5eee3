"""Files written all or nothing (pt2caffe.net.files): the export's three files, check's --json and the
drawings."""
import os

import pytest

from concurrency import PACED_RENAMES, paced_writers
from pt2caffe.net.files import write_files


def test_json_and_pictures_are_written_all_or_nothing(tmp_path):
    """check's --json and the drawings go through write_files: a failure leaves the old files as they were."""
    (tmp_path / "a.svg").write_text("old")
    with pytest.raises(TypeError):
        write_files({str(tmp_path / "a.svg"): "new", str(tmp_path / "a.png"): object()})
    assert os.listdir(tmp_path) == ["a.svg"] and (tmp_path / "a.svg").read_text() == "old"
    write_files({str(tmp_path / "a.svg"): "new", str(tmp_path / "a.png"): b"\x89PNG"})
    assert (tmp_path / "a.svg").read_text() == "new" and (tmp_path / "a.png").read_bytes() == b"\x89PNG"


# --- concurrent writers to one name ---------------------------------------------------------------------

WRITE_THREE = PACED_RENAMES + '''
import contextlib
from pt2caffe.net import files
out, tag, locking = sys.argv[1], sys.argv[2], sys.argv[3]
if locking == "unlocked":
    files._folders_locked = lambda paths: contextlib.nullcontext()
with files.atomic_files([os.path.join(out, "Net." + ext) for ext in ("prototxt", "caffemodel", "json")]) as handles:
    for handle in handles:
        handle.write(tag.encode())
'''


@pytest.mark.parametrize("locking", ["locked", "unlocked"])
def test_concurrent_writers_to_one_name_leave_one_writers_files(tmp_path, locking):
    """The folder lock makes A's and B's publishing one after the other: three files of one writer, every
    time. Without it (the control: proof that the race is real) B's files land between A's renames."""
    out = tmp_path / "out"
    out.mkdir()
    for _ in range(2):
        paced_writers(tmp_path, WRITE_THREE, [out, "A", locking], [out, "B", locking])
        tags = [(out / f"Net.{ext}").read_text() for ext in ("prototxt", "caffemodel", "json")]
        assert tags == (["B", "B", "B"] if locking == "locked" else ["B", "A", "A"])  # locked: B waited for A
        assert sorted(os.listdir(out)) == ["Net.caffemodel", "Net.json", "Net.prototxt"]
