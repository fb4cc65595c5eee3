"""The README's coverage table is the registry's: regenerate it with `python -m pt2caffe.readme.coverage`."""
from pathlib import Path

from pt2caffe.lowering.registry import HANDLERS
from pt2caffe.readme.coverage import with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_table_is_current():
    text = README.read_text(encoding="utf-8")
    assert text == with_table(text), "run: python -m pt2caffe.readme.coverage README.md"


def test_every_handler_is_listed():
    text = README.read_text(encoding="utf-8")
    for kind in HANDLERS:
        assert f"`{kind}`" in text
