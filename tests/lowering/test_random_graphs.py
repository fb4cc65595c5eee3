"""Random op graphs over every handler family (random_graphs.py), exported and run in pycaffe: each one exact on
every blob (index blobs tie-aware) or refused in one line, never a wrong net that exports, a net Caffe aborts
on, or a crash. scripts/random_graphs.py runs many more seeds the same way."""
import collections

import pytest

from random_graph_runs import FAILURES, run_graphs
from random_graphs import MAKERS, generate
from pt2caffe.lowering.registry import HANDLERS

SEEDS = range(300)
CHUNKS = 4  # one pycaffe child per chunk


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_graphs_export_exactly_or_are_refused(tmp_path, chunk):
    outcomes = run_graphs([seed for seed in SEEDS if seed % CHUNKS == chunk], tmp_path)
    failures = [f"seed {o.seed} {o.verdict}: {o.detail}\n    {o.graph}" for o in outcomes if o.verdict in FAILURES]
    assert not failures, "\n".join(failures)
    verdicts = collections.Counter(o.verdict for o in outcomes)
    assert verdicts["exact"] >= 0.9 * len(outcomes), f"too many refusals: {verdicts}"


def test_the_graphs_use_every_handler_family():
    assert set(MAKERS) == {handler.family for handler in HANDLERS.values()}, "a handler family without a maker"
    families = collections.Counter(family for seed in SEEDS[:120] for family in generate(seed)[0].families)
    assert set(families) == set(MAKERS), f"families never drawn: {set(MAKERS) - set(families)}"
