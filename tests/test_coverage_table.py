"""The README's coverage table is the registry's: regenerate it with `python -m pt2caffe.coverage`."""
from pathlib import Path

from pt2caffe.coverage import with_table
from pt2caffe.ops.registry import HANDLERS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_table_is_current():
    text = README.read_text(encoding="utf-8")
    assert text == with_table(text), "run: python -m pt2caffe.coverage README.md"


def test_every_handler_is_listed():
    text = README.read_text(encoding="utf-8")
    for kind in HANDLERS:
        assert f"`{kind}`" in text
