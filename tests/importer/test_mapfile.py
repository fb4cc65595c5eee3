"""OUT.map.txt: written one line per key, read back (comments and blob indices ignored), bad lines named."""
import pytest

from pt2caffe.errors import Pt2CaffeError
from pt2caffe.importer.mapfile import map_text, read_map


def test_written_map_reads_back(tmp_path):
    text = map_text([("conv1.weight", "conv1[0]", ""), ("bn1.running_mean", "bn_conv1[0]", "÷ scale factor 999.98"),
                     ("bn1.num_batches_tracked", "(none)", "not a weight: kept from the model")])
    path = tmp_path / "m.map.txt"
    path.write_text(text)
    assert read_map(str(path)) == {"conv1.weight": "conv1", "bn1.running_mean": "bn_conv1"}
    assert text.count("\n") == 3 + 3  # header lines + one per key


def test_a_malformed_line_is_named_with_its_line_number(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("# comment\nconv1.weight conv1\n")
    with pytest.raises(Pt2CaffeError, match=r"bad.txt:2: expected 'KEY <- CAFFE_LAYER'"):
        read_map(str(path))
