"""The README's runtime table is generated from the measured layer forms (pt2caffe.runtimes.forms): regenerate
it with `python -m pt2caffe.readme.runtime_table README.md`."""
from pathlib import Path

from pt2caffe.readme.runtime_table import with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_runtime_table_is_current():
    text = README.read_text(encoding="utf-8")
    assert text == with_table(text), "run: python -m pt2caffe.readme.runtime_table README.md"
